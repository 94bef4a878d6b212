// Package testabi builds kernel facts for tests: the synthetic FUSE-BPF
// BTF of bpf/testdata/fuse_abi.o (a stand-in for a patched kernel's
// vmlinux BTF), variants of it with one thing broken, and the FuseBPFNode
// status a node with that BTF would publish, computed by the kernel
// package's own probe. Tests only.
package testabi

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cilium/ebpf/btf"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/fusebpf/kernel"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/kube"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/kube/apis/v1alpha1"
)

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

// Testdata returns the path of a file in bpf/testdata.
func Testdata(t testing.TB, name string) string {
	return filepath.Join(RepoRoot(t), "bpf", "testdata", name)
}

// ReadTestdata returns the bytes of a file in bpf/testdata.
func ReadTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(Testdata(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Synthetic returns the BTF of a FUSE-BPF kernel, built from
// bpf/include/fuse_bpf.h.
func Synthetic(t testing.TB) *btf.Spec {
	t.Helper()
	spec, err := btf.LoadSpec(Testdata(t, "fuse_abi.o"))
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// Edit changes a BTF spec in place.
type Edit func(t testing.TB, spec *btf.Spec)

// Build returns the synthetic BTF with the edits applied, re-encoded the
// way a node's BTF reaches the probe.
func Build(t testing.TB, edits ...Edit) *btf.Spec {
	t.Helper()
	spec := Synthetic(t)
	for _, e := range edits {
		e(t, spec)
	}
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
	out, err := btf.LoadSpecFromReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func mustStruct(t testing.TB, spec *btf.Spec, name string) *btf.Struct {
	t.Helper()
	var s *btf.Struct
	if err := spec.TypeByName(name, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// DropMember removes a member of struct fuse_ops.
func DropMember(member string) Edit {
	return func(t testing.TB, spec *btf.Spec) {
		ops := mustStruct(t, spec, "fuse_ops")
		n := len(ops.Members)
		ops.Members = slices.DeleteFunc(ops.Members, func(m btf.Member) bool { return m.Name == member })
		if len(ops.Members) == n {
			t.Fatalf("fuse_ops has no member %s", member)
		}
	}
}

// DropLastParam removes the last parameter of a fuse_ops member's
// prototype.
func DropLastParam(member string) Edit {
	return func(t testing.TB, spec *btf.Spec) {
		ops := mustStruct(t, spec, "fuse_ops")
		i := slices.IndexFunc(ops.Members, func(m btf.Member) bool { return m.Name == member })
		if i < 0 {
			t.Fatalf("fuse_ops has no member %s", member)
		}
		proto := ops.Members[i].Type.(*btf.Pointer).Target.(*btf.FuncProto)
		// Prototypes are shared between members: replace, do not edit.
		ops.Members[i].Type = &btf.Pointer{Target: &btf.FuncProto{
			Return: proto.Return, Params: proto.Params[:len(proto.Params)-1],
		}}
	}
}

// RenameFunc renames a FUNC (a kfunc), e.g. to make it missing.
func RenameFunc(from, to string) Edit {
	return func(t testing.TB, spec *btf.Spec) {
		var fn *btf.Func
		if err := spec.TypeByName(from, &fn); err != nil {
			t.Fatal(err)
		}
		fn.Name = to
	}
}

// DropField removes a field of a struct.
func DropField(structName, field string) Edit {
	return func(t testing.TB, spec *btf.Spec) {
		s := mustStruct(t, spec, structName)
		n := len(s.Members)
		s.Members = slices.DeleteFunc(s.Members, func(m btf.Member) bool { return m.Name == field })
		if len(s.Members) == n {
			t.Fatalf("struct %s has no field %s", structName, field)
		}
	}
}

// Status returns the FuseBPFNode status of a node whose kernel has spec
// as BTF (nil: this machine's kernel), probed by kernel.ProbeKernel.
func Status(t testing.TB, spec *btf.Spec, release string) v1alpha1.FuseBPFNodeStatus {
	t.Helper()
	p, err := kernel.ProbeKernel(kernel.ProbeOptions{BTF: spec, Release: release})
	if err != nil {
		t.Fatal(err)
	}
	return kube.NodeStatusFromProbe(p, "test", time.Now())
}
