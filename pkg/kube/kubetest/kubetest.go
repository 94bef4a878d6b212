// Package kubetest starts a real kube-apiserver backed by a real etcd for
// integration tests, and installs the chart's CustomResourceDefinitions
// into it. The binaries come from the build cache that
// hack/apiserver-bins.sh fills (the same one deploy/kind uses); a test
// that needs them skips, naming that script, when they are not built.
// Tests only.
package kubetest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

// BinsScript builds and caches the binaries this package runs.
const BinsScript = "hack/apiserver-bins.sh"

// Env overrides of the binaries' paths.
const (
	EnvAPIServer = "FUSEBPF_KUBE_APISERVER"
	EnvEtcd      = "FUSEBPF_ETCD"
)

// Server is a running etcd and kube-apiserver.
type Server struct {
	// Config reaches the API server as a member of system:masters.
	Config *rest.Config
	dir    string
}

// RepoRoot returns the repository root (the directory with go.mod).
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("repository root (go.mod) not found")
		}
		dir = parent
	}
}

// versionDefault reads NAME's default from deploy/kind/lib.sh, the one
// place that pins the versions the cache is keyed by.
func versionDefault(t testing.TB, name string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	b, err := os.ReadFile(filepath.Join(RepoRoot(t), "deploy", "kind", "lib.sh"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(name + `=\$\{` + name + `:-([^}]+)\}`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("deploy/kind/lib.sh does not set %s", name)
	}
	return string(m[1])
}

func cacheDir() string {
	if d := os.Getenv("FUSEBPF_CACHE"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "fusebpf-csi")
}

// Binaries returns the paths of kube-apiserver and etcd, or skips t
// saying how to build them.
func Binaries(t testing.TB) (apiserver, etcd string) {
	t.Helper()
	apiserver = os.Getenv(EnvAPIServer)
	if apiserver == "" {
		apiserver = filepath.Join(cacheDir(), "k8s-"+versionDefault(t, "K8S_VERSION"), "bin", "kube-apiserver")
	}
	etcd = os.Getenv(EnvEtcd)
	if etcd == "" {
		etcd = filepath.Join(cacheDir(), "etcd-"+versionDefault(t, "ETCD_VERSION"), "etcd")
		if !executable(etcd) {
			if p, err := exec.LookPath("etcd"); err == nil {
				etcd = p
			}
		}
	}
	var missing []string
	for _, p := range []string{apiserver, etcd} {
		if !executable(p) {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		t.Skipf("kube-apiserver/etcd not built (%s missing): run %s (or set %s and %s)",
			strings.Join(missing, ", "), BinsScript, EnvAPIServer, EnvEtcd)
	}
	return apiserver, etcd
}

func executable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start runs etcd and kube-apiserver for the duration of t and returns
// once the API server is ready. It skips t when the binaries are not
// built.
func Start(t testing.TB) *Server {
	t.Helper()
	apiserverBin, etcdBin := Binaries(t)
	dir := t.TempDir()
	s := &Server{dir: dir}

	clientPort, peerPort := freePort(t), freePort(t)
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	s.run(t, "etcd", etcdBin,
		"--name=test", "--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=test="+peerURL, "--log-level=error")

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "sa.key"), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	writeFile(t, filepath.Join(dir, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))
	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		t.Fatal(err)
	}
	token := hex.EncodeToString(tok)
	writeFile(t, filepath.Join(dir, "tokens.csv"), []byte(token+",admin,admin,system:masters\n"))

	port := freePort(t)
	s.run(t, "kube-apiserver", apiserverBin,
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", port),
		"--cert-dir="+filepath.Join(dir, "certs"),
		"--token-auth-file="+filepath.Join(dir, "tokens.csv"),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+filepath.Join(dir, "sa.pub"),
		"--service-account-signing-key-file="+filepath.Join(dir, "sa.key"),
		"--service-cluster-ip-range=10.96.0.0/16",
		"--disable-admission-plugins=ServiceAccount",
		"--enable-priority-and-fairness=false",
	)
	s.Config = &rest.Config{
		Host:            fmt.Sprintf("https://127.0.0.1:%d", port),
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{Insecure: true},
		QPS:             100,
		Burst:           200,
	}
	s.waitReady(t)
	return s
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// run starts a process that lives until t ends, with its output in a log
// file that is printed if t fails.
func (s *Server) run(t testing.TB, name, bin string, args ...string) {
	t.Helper()
	logPath := filepath.Join(s.dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logf.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("--- %s log (last 4 KiB)\n%s", name, tail(b, 4096))
			}
		}
	})
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// waitReady waits for /readyz. The bound is generous: it only turns a
// server that never comes up into a failure instead of a hang.
func (s *Server) waitReady(t testing.TB) {
	t.Helper()
	rt, err := rest.TransportFor(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: rt, Timeout: 5 * time.Second}
	var last string
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		resp, err := hc.Get(s.Config.Host + "/readyz")
		if err != nil {
			last = err.Error()
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return
		}
		last = resp.Status
	}
	t.Fatalf("kube-apiserver not ready: %s", last)
}

// InstallCRDs creates the CustomResourceDefinitions in the chart's crds
// directory and waits until the API server serves them.
func (s *Server) InstallCRDs(t testing.TB) []*apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	cs, err := apiextensions.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(RepoRoot(t), "deploy", "helm", "fusebpf-csi", "crds")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs in %s: %v", dir, err)
	}
	ctx := context.Background()
	var out []*apiextensionsv1.CustomResourceDefinition
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict(b, &crd); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		created, err := cs.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, &crd, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create CRD from %s: %v", filepath.Base(f), err)
		}
		out = append(out, created)
	}
	for _, crd := range out {
		var last error
		ok := false
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline) && !ok; time.Sleep(100 * time.Millisecond) {
			got, err := cs.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, crd.Name, metav1.GetOptions{})
			if err != nil {
				last = err
				continue
			}
			for _, c := range got.Status.Conditions {
				if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
					ok = true
				}
				if c.Type == apiextensionsv1.NamesAccepted && c.Status == apiextensionsv1.ConditionFalse {
					t.Fatalf("CRD %s: names not accepted: %s", crd.Name, c.Message)
				}
			}
		}
		if !ok {
			t.Fatalf("CRD %s not established: %v", crd.Name, last)
		}
	}
	// Discovery lags behind Established; wait until the resources answer.
	waitServed(t, s.Config, out)
	return out
}

func waitServed(t testing.TB, cfg *rest.Config, crds []*apiextensionsv1.CustomResourceDefinition) {
	t.Helper()
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: rt, Timeout: 5 * time.Second}
	for _, crd := range crds {
		url := fmt.Sprintf("%s/apis/%s/%s/%s", cfg.Host, crd.Spec.Group, crd.Spec.Versions[0].Name, crd.Spec.Names.Plural)
		var last string
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
			resp, err := hc.Get(url)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
				last = resp.Status
			} else {
				last = err.Error()
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not served: %s", url, last)
			}
		}
	}
}

// IgnoreNotFound returns nil for a NotFound error.
func IgnoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
