package bpfvm

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"
)

// repoRoot returns the repository root (the directory holding go.mod).
func repoRoot(t testing.TB) string {
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

// loadSpec reads a compiled fixture from bpf/testdata.
func loadSpec(t testing.TB, name string) *ebpf.CollectionSpec {
	t.Helper()
	spec, err := ebpf.LoadCollectionSpec(filepath.Join(repoRoot(t), "bpf", "testdata", name+".o"))
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

func loadCollection(t testing.TB, name string, opts *Options) *Collection {
	t.Helper()
	c, err := NewCollection(loadSpec(t, name), opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func program(t testing.TB, c *Collection, name string) *Program {
	t.Helper()
	p := c.Programs[name]
	if p == nil {
		t.Fatalf("no program %s", name)
	}
	return p
}

// vmArgs mirrors struct vm_args of the fixtures.
type vmArgs struct {
	In  uint64
	Out [8]uint64
}

const vmArgsSize = 72

func (a *vmArgs) bytes() []byte {
	b := make([]byte, vmArgsSize)
	binary.LittleEndian.PutUint64(b, a.In)
	for i, v := range a.Out {
		binary.LittleEndian.PutUint64(b[8+8*i:], v)
	}
	return b
}

func parseArgs(b []byte) vmArgs {
	var a vmArgs
	a.In = binary.LittleEndian.Uint64(b)
	for i := range a.Out {
		a.Out[i] = binary.LittleEndian.Uint64(b[8+8*i:])
	}
	return a
}

// runArgs runs p with a writable struct vm_args{in} and returns R0 and the
// struct after the run.
func runArgs(t testing.TB, p *Program, in uint64, budget uint64) (uint64, vmArgs, *Run, error) {
	t.Helper()
	r := p.NewRun()
	t.Cleanup(r.Release)
	if budget != 0 {
		r.SetBudget(budget)
	}
	buf := (&vmArgs{In: in}).bytes()
	addr, err := r.MapBytes(buf, ReadWrite)
	if err != nil {
		t.Fatal(err)
	}
	ret, err := r.Exec(addr)
	return ret, parseArgs(buf), r, err
}

func u32key(k uint32) []byte { return binary.LittleEndian.AppendUint32(nil, k) }
func u64key(k uint64) []byte { return binary.LittleEndian.AppendUint64(nil, k) }

func errnoVal(e int64) uint64 { return uint64(-e) }
