package kernel

import (
	"bytes"
	"testing"

	"github.com/cilium/ebpf/btf"
)

// TestPrunerBoundsKernelGraph: the subset's pruning keeps a struct_ops
// type of the real vmlinux small although its prototypes point into the
// whole kernel (struct sock and everything it reaches).
func TestPrunerBoundsKernelGraph(t *testing.T) {
	spec := mustKernelSpec(t)
	ops, err := findStruct(spec, "tcp_congestion_ops")
	if err != nil {
		t.Skipf("kernel BTF has no tcp_congestion_ops: %v", err)
	}
	p := &pruner{keep: map[string]bool{"tcp_congestion_ops": true}, memo: map[pruneKey]btf.Type{}, fwds: map[string]*btf.Fwd{}}
	c, err := p.copy(ops, false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := btf.NewBuilder([]btf.Type{c}, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := b.Marshal(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("tcp_congestion_ops pruned to %d bytes of BTF", len(raw))
	if len(raw) > MaxSubsetSize {
		t.Fatalf("%d bytes", len(raw))
	}
	got, err := btf.LoadSpecFromReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := findStruct(got, "tcp_congestion_ops"); err != nil {
		t.Fatal(err)
	}
	sock, err := got.AnyTypeByName("sock")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := sock.(*btf.Fwd); !ok {
		t.Errorf("struct sock is %T, want a forward declaration", sock)
	}
	// The original graph is untouched.
	if orig, _ := findStruct(spec, "sock"); orig == nil || len(orig.Members) == 0 {
		t.Error("pruning modified the kernel spec")
	}
}
