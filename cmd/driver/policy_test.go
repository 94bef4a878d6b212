package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf/btf"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/fusebpf/kernel"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/kube"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/kube/apis/v1alpha1"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/kube/kubetest"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/policy"
)

func testdataPath(t *testing.T, name string) string {
	return filepath.Join(kubetest.RepoRoot(t), "bpf", "testdata", name)
}

// variantBTF writes the synthetic FUSE-BPF BTF without one fuse_ops
// member to a raw BTF file.
func variantBTF(t *testing.T, dropMember string) string {
	t.Helper()
	spec, err := btf.LoadSpec(testdataPath(t, "fuse_abi.o"))
	if err != nil {
		t.Fatal(err)
	}
	var ops *btf.Struct
	if err := spec.TypeByName("fuse_ops", &ops); err != nil {
		t.Fatal(err)
	}
	ops.Members = slices.DeleteFunc(ops.Members, func(m btf.Member) bool { return m.Name == dropMember })
	var types []btf.Type
	for typ, err := range spec.All() {
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, typ)
	}
	b, err := btf.NewBuilder(types, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := b.Marshal(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "variant.btf")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// hasRow reports whether a line of out starts with the given fields.
func hasRow(out string, fields ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= len(fields) && slices.Equal(f[:len(fields)], fields) {
			return true
		}
	}
	return false
}

// contains is strings.Contains, or hasRow for wants of the form
// "row:FIELD FIELD...".
func contains(out, want string) bool {
	if row, ok := strings.CutPrefix(want, "row:"); ok {
		return hasRow(out, strings.Fields(row)...)
	}
	return strings.Contains(out, want)
}

func TestPolicyCheck(t *testing.T) {
	synthetic := testdataPath(t, "fuse_abi.o")
	for _, tc := range []struct {
		name string
		args []string
		code int
		out  []string
	}{
		{"synthetic FUSE-BPF BTF", []string{"--btf", synthetic, "hide"}, 0,
			[]string{"row:callback readdir_postfilter ok", "kfunc bpf_fuse_get_rw_dynptr", "compatible: fits the node's FUSE-BPF ABI: 10 callbacks, 3 kfuncs"}},
		{"custom object", []string{"--btf", synthetic, testdataPath(t, "policy_user_postfilter.o")}, 0,
			[]string{"row:CO-RE relocations ok 4 resolved, 0 failed"}},
		{"member missing", []string{"--btf", variantBTF(t, "readdir_postfilter"), "hide"}, 1,
			[]string{"row:callback readdir_postfilter FAIL", "the node's struct fuse_ops has no member readdir_postfilter", "incompatible with the kernel tier"}},
		{"json", []string{"-o", "json", "--btf", synthetic, "read-only"}, 0, []string{`"Compatible": true`, `"verdict": "kernel"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(append([]string{"policy", "check"}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tc.code, stdout, stderr)
			}
			for _, want := range tc.out {
				if !contains(stdout, want) {
					t.Errorf("output lacks %q:\n%s", want, stdout)
				}
			}
		})
	}
}

// TestPolicyCheckRunningKernel: this machine's kernel has no FUSE-BPF, so
// the default check against /sys/kernel/btf/vmlinux says incompatible.
func TestPolicyCheckRunningKernel(t *testing.T) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		t.Skipf("no kernel BTF: %v", err)
	}
	if _, err := spec.AnyTypeByName("fuse_ops"); err == nil {
		t.Skip("this kernel has struct fuse_ops")
	}
	code, stdout, stderr := runCLI("policy", "check", "hide")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{"against /sys/kernel/btf/vmlinux", "row:callback lookup_prefilter FAIL", "incompatible with the kernel tier", "no STRUCT fuse_ops"} {
		if !contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "incompatible") {
		t.Errorf("stderr %q", stderr)
	}
}

func TestPolicyBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"check", "no-such-policy"},
		{"check", "/nonexistent/policy.o"},
		{"check", "--btf", "/nonexistent.btf", "hide"},
		{"check", "--btf", testdataPath(t, "bad_license.c"), "hide"},
		{"check", "--btf", testdataPath(t, "fuse_abi.o"), "--node", "n1", "hide"},
		{"check", testdataPath(t, "bad_license.o")},
		{"check"},
		{"inspect", testdataPath(t, "bad_no_ops.o")},
		{"pack", "--name", "x", "--param", "nope=1", "hide"},
		{"pack", "--name", "Not_A_Name", "hide"},
		{"pack", "hide"},
		{"frob"},
		{},
	} {
		code, stdout, stderr := runCLI(append([]string{"policy"}, args...)...)
		if code != 2 || stderr == "" {
			t.Errorf("policy %q: exit %d, want 2\n%s%s", args, code, stdout, stderr)
		}
	}
}

func TestPolicyInspect(t *testing.T) {
	code, stdout, stderr := runCLI("policy", "inspect", "uid-gate")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, want := range []string{"row:policy: built-in uid-gate", "row:access_prefilter program ug_access", "row:allowRoot bool \"true\"", "row:allowedUids list of at most"} {
		if !contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	code, stdout, _ = runCLI("policy", "inspect", "-o", "json", testdataPath(t, "policy_example.o"))
	var v struct {
		Digest  string
		Members []string
		Kfuncs  []string
	}
	if err := json.Unmarshal([]byte(stdout), &v); code != 0 || err != nil {
		t.Fatalf("exit %d, %v:\n%s", code, err, stdout)
	}
	elf, _ := os.ReadFile(testdataPath(t, "policy_example.o"))
	p, _ := policy.Load(elf)
	if v.Digest != p.Digest || !slices.Equal(v.Members, []string{"lookup_prefilter"}) || len(v.Kfuncs) != 2 {
		t.Errorf("json %+v", v)
	}
}

func TestPolicyPack(t *testing.T) {
	file := testdataPath(t, "policy_param_verdict.o")
	code, stdout, stderr := runCLI("policy", "pack", "--name", "verdict", "--description", "test", file)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	var fp v1alpha1.FilterPolicy
	if err := yaml.UnmarshalStrict([]byte(stdout), &fp); err != nil {
		t.Fatalf("%v:\n%s", err, stdout)
	}
	elf, _ := os.ReadFile(file)
	if fp.Kind != "FilterPolicy" || fp.APIVersion != "fusebpf.csi.io/v1alpha1" || fp.Name != "verdict" ||
		!bytes.Equal(fp.Spec.Program, elf) || fp.Spec.Builtin != "" || fp.Spec.Description != "test" {
		t.Errorf("manifest: %+v", fp.ObjectMeta)
	}
	if strings.Contains(stdout, "status") || strings.Contains(stdout, "creationTimestamp") {
		t.Errorf("manifest carries server fields:\n%s", stdout)
	}

	code, stdout, stderr = runCLI("policy", "pack", "--name", "hidden", "--param", "hidePatterns=secret*,*.key", "hide")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	fp = v1alpha1.FilterPolicy{}
	if err := yaml.UnmarshalStrict([]byte(stdout), &fp); err != nil {
		t.Fatal(err)
	}
	if fp.Spec.Builtin != "hide" || fp.Spec.Program != nil || fp.Spec.Parameters["hidePatterns"] != "secret*,*.key" {
		t.Errorf("builtin manifest: %+v", fp.Spec)
	}
}

func TestProbe(t *testing.T) {
	code, stdout, stderr := runCLI("probe", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	var got kernel.Probe
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	want, err := kernel.ProbeKernel(kernel.ProbeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.KernelRelease != want.KernelRelease || !slices.Equal(got.Tiers, want.Tiers) || got.ABIFingerprint != want.ABIFingerprint {
		t.Errorf("probe -o json: %+v, want %+v", got, want)
	}
	code, stdout, _ = runCLI("probe")
	if code != 0 || !strings.Contains(stdout, "kernel:") || !strings.Contains(stdout, want.KernelRelease) {
		t.Errorf("probe: exit %d\n%s", code, stdout)
	}
	if code, _, _ := runCLI("probe", "-o", "yaml"); code != 2 {
		t.Errorf("probe -o yaml: exit %d, want 2", code)
	}
}

// TestPolicyCheckNode checks against FuseBPFNodes published to a real API
// server.
func TestPolicyCheckNode(t *testing.T) {
	s := kubetest.Start(t)
	s.InstallCRDs(t)
	ctx := context.Background()
	client, err := kube.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	core, err := kubernetes.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	for name, path := range map[string]string{"fusebpf": testdataPath(t, "fuse_abi.o"), "broken": variantBTF(t, "lookup_prefilter")} {
		spec, err := btf.LoadSpec(path)
		if err != nil {
			t.Fatal(err)
		}
		p, err := kernel.ProbeKernel(kernel.ProbeOptions{BTF: spec, Release: "6.18.0-fusebpf"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := core.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := kube.PublishNode(ctx, client, core, name, kube.NodeStatusFromProbe(p, "test", time.Now())); err != nil {
			t.Fatal(err)
		}
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["test"] = &clientcmdapi.Cluster{Server: s.Config.Host, InsecureSkipTLSVerify: true}
	cfg.AuthInfos["test"] = &clientcmdapi.AuthInfo{Token: s.Config.BearerToken}
	cfg.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "test"}
	cfg.CurrentContext = "test"
	if err := clientcmd.WriteToFile(*cfg, kubeconfig); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := runCLI("policy", "check", "--kubeconfig", kubeconfig, "--node", "fusebpf", "hide")
	if code != 0 || !strings.Contains(stdout, "against node fusebpf") {
		t.Errorf("intact node: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI("policy", "check", "--kubeconfig", kubeconfig, "--node", "broken", "hide")
	if code != 1 || !strings.Contains(stdout, "no member lookup_prefilter") {
		t.Errorf("broken node: exit %d\n%s%s", code, stdout, stderr)
	}
	if code, _, stderr := runCLI("policy", "check", "--kubeconfig", kubeconfig, "--node", "absent", "hide"); code == 0 || !strings.Contains(stderr, "not found") {
		t.Errorf("absent node: exit %d, %s", code, stderr)
	}
}
