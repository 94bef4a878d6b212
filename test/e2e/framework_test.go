package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
	"k8s.io/utils/ptr"
)

const driverName = "fusebpf.csi.io"

var (
	flagRelease     = flag.String("release", "fusebpf-csi", "Helm release of the driver")
	flagDriverNS    = flag.String("driver-namespace", "fusebpf-system", "namespace of the driver's release")
	flagChart       = flag.String("chart", "", "chart directory for helm upgrade (default: deploy/helm/fusebpf-csi of this repository)")
	flagHelm        = flag.String("helm", "helm", "helm binary")
	flagImage       = flag.String("test-image", "local/fusebpf-e2e-busybox:1", "image with a busybox shell for test pods")
	flagPullPolicy  = flag.String("test-image-pull-policy", "IfNotPresent", "pull policy of the test image")
	flagDatasetRoot = flag.String("dataset-root", "/srv/fusebpf-datasets", "node directory under which hostPath datasets are made; one of the chart's allowedBackingRoots")
	flagDataDir     = flag.String("data-dir", "/var/lib/fusebpf-csi", "the chart's dataDir")
	flagUninstall   = flag.Bool("uninstall", false, "finish with helm uninstall and check that only the CRDs remain (destructive)")
	flagWait        = flag.Duration("wait", 3*time.Minute, "how long to wait for a pod, volume or event")
)

// cluster is the suite's view of the cluster under test.
type cluster struct {
	cfg *rest.Config
	cs  kubernetes.Interface
	dyn dynamic.Interface
	ns  string // per-run namespace for test objects

	mu        sync.Mutex
	inspector map[string]string // node -> privileged host-inspector pod
}

var k *cluster

var (
	filterPolicyGVR = schema.GroupVersionResource{Group: "fusebpf.csi.io", Version: "v1alpha1", Resource: "filterpolicies"}
	fuseBPFNodeGVR  = schema.GroupVersionResource{Group: "fusebpf.csi.io", Version: "v1alpha1", Resource: "fusebpfnodes"}
	crdGVR          = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	rules := clientcmd.NewDefaultClientConfigLoadingRules() // honours $KUBECONFIG
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: no cluster: %v (set KUBECONFIG)\n", err)
		return 1
	}
	cfg.QPS, cfg.Burst = 50, 100
	k = &cluster{cfg: cfg, cs: kubernetes.NewForConfigOrDie(cfg), dyn: dynamic.NewForConfigOrDie(cfg), inspector: map[string]string{}}
	ctx := context.Background()
	ns, err := k.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		GenerateName: "fusebpf-e2e-",
		// Test pods are privileged (host inspection) or need no restriction.
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": "privileged"},
	}}, metav1.CreateOptions{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: create namespace: %v\n", err)
		return 1
	}
	k.ns = ns.Name
	fmt.Printf("e2e: namespace %s, driver release %s/%s\n", k.ns, *flagDriverNS, *flagRelease)
	code := m.Run()
	_ = k.cs.CoreV1().Namespaces().Delete(ctx, k.ns, metav1.DeleteOptions{})
	return code
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx
}

// uniq returns prefix-<8 hex digits>.
func uniq(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// waitFor polls cond every second until it returns true, fails the test on
// an error or after -wait.
func waitFor(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(*flagWait)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s after %v", what, *flagWait)
		}
		time.Sleep(time.Second)
	}
}

// storageClass creates a StorageClass of the driver with the given
// parameters and returns its name; it is deleted when the test ends.
func storageClass(t *testing.T, params map[string]string) string {
	t.Helper()
	sc := &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: uniq("e2e-" + params["policy"])},
		Provisioner:       driverName,
		Parameters:        params,
		ReclaimPolicy:     ptr.To(corev1.PersistentVolumeReclaimDelete),
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer),
	}
	if _, err := k.cs.StorageV1().StorageClasses().Create(ctxT(t), sc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create StorageClass: %v", err)
	}
	t.Cleanup(func() {
		_ = k.cs.StorageV1().StorageClasses().Delete(context.Background(), sc.Name, metav1.DeleteOptions{})
	})
	return sc.Name
}

// pvc creates a claim on sc; when the test ends it is deleted and, so that
// volumes do not outlive the suite, its PersistentVolume is waited for.
func pvc(t *testing.T, sc string) string {
	t.Helper()
	c := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: uniq("pvc")},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: &sc,
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceStorage: resource.MustParse("16Mi"),
			}},
		},
	}
	if _, err := k.cs.CoreV1().PersistentVolumeClaims(k.ns).Create(ctxT(t), c, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create PVC: %v", err)
	}
	t.Cleanup(func() { deletePVC(t, c.Name, false) })
	return c.Name
}

// deletePVC deletes a claim and, when wait is set, waits until its
// PersistentVolume is gone too.
func deletePVC(t *testing.T, name string, wait bool) {
	t.Helper()
	ctx := context.Background()
	c, err := k.cs.CoreV1().PersistentVolumeClaims(k.ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return
	}
	if err != nil {
		t.Errorf("get PVC %s: %v", name, err)
		return
	}
	if err := k.cs.CoreV1().PersistentVolumeClaims(k.ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("delete PVC %s: %v", name, err)
		return
	}
	if !wait || c.Spec.VolumeName == "" {
		return
	}
	waitFor(t, "PersistentVolume "+c.Spec.VolumeName+" to be deleted", func() (bool, error) {
		_, err := k.cs.CoreV1().PersistentVolumes().Get(ctx, c.Spec.VolumeName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
}

// mountSpec is one claim mounted into a test pod.
type mountSpec struct {
	claim    string
	path     string
	readOnly bool
}

// startPod starts a busybox pod that sleeps, with the claims mounted, and
// waits until it runs. It is deleted when the test ends.
func startPod(t *testing.T, mounts ...mountSpec) *corev1.Pod {
	t.Helper()
	p := newPod(uniq("pod"), "sleep 100000", mounts...)
	return createPodRunning(t, p)
}

func newPod(name, script string, mounts ...mountSpec) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: ptr.To[int64](1),
			Containers: []corev1.Container{{
				Name:            "c",
				Image:           *flagImage,
				ImagePullPolicy: corev1.PullPolicy(*flagPullPolicy),
				Command:         []string{"sh", "-c", script},
			}},
		},
	}
	for i, m := range mounts {
		v := fmt.Sprintf("v%d", i)
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: v, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: m.claim, ReadOnly: m.readOnly},
		}})
		p.Spec.Containers[0].VolumeMounts = append(p.Spec.Containers[0].VolumeMounts,
			corev1.VolumeMount{Name: v, MountPath: m.path, ReadOnly: m.readOnly})
	}
	return p
}

func createPodRunning(t *testing.T, p *corev1.Pod) *corev1.Pod {
	t.Helper()
	ctx := ctxT(t)
	if _, err := k.cs.CoreV1().Pods(k.ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod: %v", err)
	}
	t.Cleanup(func() { deletePod(t, p.Name) })
	var got *corev1.Pod
	waitFor(t, "pod "+p.Name+" to run", func() (bool, error) {
		var err error
		got, err = k.cs.CoreV1().Pods(k.ns).Get(ctx, p.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		switch got.Status.Phase {
		case corev1.PodRunning:
			return true, nil
		case corev1.PodFailed, corev1.PodSucceeded:
			return false, fmt.Errorf("pod ended: %s; events: %s", got.Status.Phase, eventSummary(ctx, "Pod", p.Name))
		}
		return false, nil
	})
	return got
}

// deletePod deletes a pod and waits until it is gone, so its volumes are
// unpublished before the caller looks at the node.
func deletePod(t *testing.T, name string) {
	t.Helper()
	ctx := context.Background()
	err := k.cs.CoreV1().Pods(k.ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	if apierrors.IsNotFound(err) {
		return
	}
	if err != nil {
		t.Errorf("delete pod %s: %v", name, err)
		return
	}
	waitFor(t, "pod "+name+" to be deleted", func() (bool, error) {
		_, err := k.cs.CoreV1().Pods(k.ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
}

// execIn runs a shell script in a pod's first container and returns its
// output and exit status; transport errors fail the test.
func execIn(t *testing.T, ns, pod, container, script string) (stdout, stderr string, code int) {
	t.Helper()
	req := k.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: container,
			Command:   []string{"sh", "-c", script},
			Stdout:    true,
			Stderr:    true,
		}, scheme.ParameterCodec)
	ex, err := remotecommand.NewSPDYExecutor(k.cfg, "POST", req.URL())
	if err != nil {
		t.Fatalf("exec %s: %v", pod, err)
	}
	var o, e bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), *flagWait)
	defer cancel()
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &o, Stderr: &e})
	var ce utilexec.CodeExitError
	switch {
	case err == nil:
	case errors.As(err, &ce):
		code = ce.Code
	default:
		t.Fatalf("exec in %s: %v (stderr %q)", pod, err, e.String())
	}
	return o.String(), e.String(), code
}

// sh runs script in a test pod and fails the test unless it exits 0.
func sh(t *testing.T, pod *corev1.Pod, script string) string {
	t.Helper()
	out, errOut, code := execIn(t, k.ns, pod.Name, "", script)
	if code != 0 {
		t.Fatalf("in pod %s: %q exited %d\nstdout: %s\nstderr: %s", pod.Name, script, code, out, errOut)
	}
	return out
}

// onNode runs a shell script on the node (in a privileged pod with the
// host's PID namespace and its root at /host) and returns stdout.
func onNode(t *testing.T, node, script string) string {
	t.Helper()
	pod := k.hostInspector(t, node)
	out, errOut, code := execIn(t, k.ns, pod, "", script)
	if code != 0 {
		t.Fatalf("on node %s: %q exited %d\nstdout: %s\nstderr: %s", node, script, code, out, errOut)
	}
	return out
}

func (c *cluster) hostInspector(t *testing.T, node string) string {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if name, ok := c.inspector[node]; ok {
		return name
	}
	p := newPod(uniq("host-"+node), "sleep 100000")
	p.Spec.NodeName = node
	p.Spec.HostPID = true
	p.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
	p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
	p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{
		Name: "host", MountPath: "/host", MountPropagation: ptr.To(corev1.MountPropagationHostToContainer),
	}}
	p.Spec.Volumes = []corev1.Volume{{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}
	ctx := context.Background()
	if _, err := c.cs.CoreV1().Pods(c.ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create host inspector: %v", err)
	}
	waitFor(t, "host inspector on "+node, func() (bool, error) {
		got, err := c.cs.CoreV1().Pods(c.ns).Get(ctx, p.Name, metav1.GetOptions{})
		return err == nil && got.Status.Phase == corev1.PodRunning, err
	})
	c.inspector[node] = p.Name
	return p.Name
}

// boundPV waits until the claim is bound and returns its volume.
func boundPV(t *testing.T, claim string) *corev1.PersistentVolume {
	t.Helper()
	ctx := ctxT(t)
	var name string
	waitFor(t, "PVC "+claim+" to be bound", func() (bool, error) {
		c, err := k.cs.CoreV1().PersistentVolumeClaims(k.ns).Get(ctx, claim, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		name = c.Spec.VolumeName
		return c.Status.Phase == corev1.ClaimBound, nil
	})
	pv, err := k.cs.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pv.Spec.CSI == nil || pv.Spec.CSI.Driver != driverName {
		t.Fatalf("PV %s is not a %s volume: %+v", name, driverName, pv.Spec.PersistentVolumeSource)
	}
	return pv
}

// localBacking is the node directory behind a local volume: the last field
// of the volume handle "fbv1:<node>:local:<uid>" under <data-dir>/volumes.
func localBacking(t *testing.T, pv *corev1.PersistentVolume) string {
	t.Helper()
	parts := strings.Split(pv.Spec.CSI.VolumeHandle, ":")
	if len(parts) != 4 || parts[2] != "local" {
		t.Fatalf("volume handle %q is not a local volume", pv.Spec.CSI.VolumeHandle)
	}
	return filepath.Join(*flagDataDir, "volumes", parts[3])
}

// assertFiltered fails unless path in the pod is a filtered (FUSE) mount of
// this driver: no pod may get the raw backing directory.
func assertFiltered(t *testing.T, pod *corev1.Pod, path string) {
	t.Helper()
	out := sh(t, pod, "cat /proc/self/mountinfo")
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) < 10 || f[4] != path {
			continue
		}
		i := indexOf(f, "-")
		if i < 0 || i+2 >= len(f) {
			continue
		}
		if fstype, src := f[i+1], f[i+2]; fstype != "fuse.fusebpf" || !strings.HasPrefix(src, "fusebpf:") {
			t.Fatalf("%s in pod %s is %s from %s, not a filtered mount", path, pod.Name, fstype, src)
		}
		return
	}
	t.Fatalf("%s is not a mount point in pod %s:\n%s", path, pod.Name, out)
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// eventSummary lists the warning events of an object in the test namespace.
func eventSummary(ctx context.Context, kind, name string) string {
	evs, err := k.cs.CoreV1().Events(k.ns).List(ctx, metav1.ListOptions{
		FieldSelector: "involvedObject.kind=" + kind + ",involvedObject.name=" + name,
	})
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, e := range evs.Items {
		fmt.Fprintf(&b, "[%s %s] %s; ", e.Type, e.Reason, e.Message)
	}
	return b.String()
}

// driverPod returns the node plugin pod on node.
func driverPod(t *testing.T, node string) *corev1.Pod {
	t.Helper()
	pods, err := k.cs.CoreV1().Pods(*flagDriverNS).List(ctxT(t), metav1.ListOptions{
		LabelSelector: "app.kubernetes.io/instance=" + *flagRelease + ",app.kubernetes.io/component=node",
		FieldSelector: "spec.nodeName=" + node,
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range pods.Items {
		if pods.Items[i].DeletionTimestamp == nil {
			return &pods.Items[i]
		}
	}
	t.Fatalf("no node plugin pod of release %s on node %s", *flagRelease, node)
	return nil
}

// driverLogs returns the node plugin's log on node since a time.
func driverLogs(t *testing.T, node string, since time.Time) string {
	t.Helper()
	p := driverPod(t, node)
	b, err := k.cs.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{
		Container: "fusebpf-csi", SinceTime: &metav1.Time{Time: since.Add(-time.Second)},
	}).DoRaw(ctxT(t))
	if err != nil {
		t.Fatalf("logs of %s: %v", p.Name, err)
	}
	return string(b)
}

// repoRoot finds the repository from this file's location.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

func chartDir() string {
	if *flagChart != "" {
		return *flagChart
	}
	return filepath.Join(repoRoot(), "deploy", "helm", "fusebpf-csi")
}
