package kernel

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// testdata returns the path of a file in the repository's bpf/testdata.
func testdata(t testing.TB, name string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "bpf", "testdata", name)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("repository root (go.mod) not found")
		}
		dir = parent
	}
}

func loadCollectionSpec(t testing.TB, name string) *ebpf.CollectionSpec {
	t.Helper()
	spec, err := ebpf.LoadCollectionSpec(testdata(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// syntheticBTF is the BTF of a FUSE-BPF kernel: fuse_abi.o, built from
// bpf/include/fuse_bpf.h.
func syntheticBTF(t testing.TB) *btf.Spec {
	t.Helper()
	spec, err := btf.LoadSpec(testdata(t, "fuse_abi.o"))
	if err != nil {
		t.Fatal(err)
	}
	return spec
}
