package bpfvm

import (
	"encoding/binary"
	"errors"
	"testing"
)

func TestELFArithRodataCalls(t *testing.T) {
	spec := loadSpec(t, "vm_maps")
	if err := spec.Variables["factor"].Set(uint64(7)); err != nil {
		t.Fatal(err)
	}
	c7, err := NewCollection(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A second instance from the same spec with another parameter: each
	// volume gets its own, and the first must keep its value.
	if err := spec.Variables["factor"].Set(uint64(11)); err != nil {
		t.Fatal(err)
	}
	c11, err := NewCollection(spec, nil)
	if err != nil {
		t.Fatal(err)
	}

	_, a, r, err := runArgs(t, program(t, c7, "arith"), 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := [5]uint64{55, 'a' + 'b' + 'c' + 'd' + 'e' + 'f' + 'g', 70, 'h' + 'e' + 'l' + 'l' + 'o', 42}
	if [5]uint64(a.Out[:5]) != want {
		t.Errorf("arith out = %v, want %v", a.Out[:5], want)
	}
	if r.Executed() < 100 {
		t.Errorf("Executed() = %d, implausibly small for a 10-step loop and two calls", r.Executed())
	}
	_, a, _, err = runArgs(t, program(t, c11, "arith"), 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if a.Out[2] != 110 {
		t.Errorf("second instance: factor*in = %d, want 110", a.Out[2])
	}

	// .rodata is frozen: the embedder cannot change it behind the program.
	ro := c7.Maps[".rodata"]
	if ro == nil {
		t.Fatal("no .rodata map")
	}
	if err := ro.Update(u32key(0), make([]byte, ro.ValueSize()), 0); !errors.Is(err, ErrReadOnly) {
		t.Errorf("update of .rodata: %v, want ErrReadOnly", err)
	}
}

func TestELFAtomicCounters(t *testing.T) {
	c := loadCollection(t, "vm_maps", nil)
	p := program(t, c, "count")
	for i, in := range []uint64{5, 1, 5, 9} {
		_, a, _, err := runArgs(t, p, in, 0)
		if err != nil {
			t.Fatal(err)
		}
		if a.Out[0] != 42+uint64(i) {
			t.Errorf("run %d: fetch_add on .data returned %d, want %d", i, a.Out[0], 42+i)
		}
	}
	// in & 3: 5->1, 1->1, 5->1, 9->1: all four runs hit counter 1.
	v := make([]byte, 8)
	for idx, want := range []uint64{0, 4, 0, 0} {
		if err := c.Maps["counters"].Lookup(u32key(uint32(idx)), v); err != nil {
			t.Fatal(err)
		}
		if got := binary.LittleEndian.Uint64(v); got != want {
			t.Errorf("counters[%d] = %d, want %d", idx, got, want)
		}
	}
	bss := make([]byte, c.Maps[".bss"].ValueSize())
	if err := c.Maps[".bss"].Lookup(u32key(0), bss); err != nil {
		t.Fatal(err)
	}
	if got := binary.LittleEndian.Uint64(bss); got != 20 {
		t.Errorf("total (.bss) = %d, want 20", got)
	}
}

func TestELFHashSemantics(t *testing.T) {
	c := loadCollection(t, "vm_maps", nil)
	_, a, _, err := runArgs(t, program(t, c, "hash_ops"), 7, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := [5]uint64{0, errnoVal(eEXIST), errnoVal(eNOENT), errnoVal(eNOENT), 1}
	if [5]uint64(a.Out[:5]) != want {
		t.Errorf("hash_ops out = %#x, want %#x", a.Out[:5], want)
	}
	v := make([]byte, 16)
	if err := c.Maps["table"].Lookup(u32key(7), v); err != nil {
		t.Fatal(err)
	}
	if hits, last, flags := binary.LittleEndian.Uint64(v), binary.LittleEndian.Uint32(v[8:]), binary.LittleEndian.Uint32(v[12:]); hits != 11 || last != 7 || flags != 4 {
		t.Errorf("table[7] = {hits %d, last %d, flags %d}, want {11, 7, 4}", hits, last, flags)
	}
	// The program's view and the host's agree on key existence.
	if err := c.Maps["table"].Lookup(u32key(1007), v); !errors.Is(err, ErrKeyNotExist) {
		t.Errorf("table[1007]: %v, want ErrKeyNotExist", err)
	}
}

func TestELFLRUBounded(t *testing.T) {
	c := loadCollection(t, "vm_maps", nil)
	if _, _, _, err := runArgs(t, program(t, c, "lru_fill"), 10, 0); err != nil {
		t.Fatal(err)
	}
	n := 0
	for k, v := range c.Maps["recent"].All() {
		n++
		kk, vv := binary.LittleEndian.Uint64(k), binary.LittleEndian.Uint64(v)
		if vv != kk*kk {
			t.Errorf("recent[%d] = %d, want %d", kk, vv, kk*kk)
		}
	}
	if n != 4 {
		t.Errorf("LRU map holds %d entries, want its max_entries 4", n)
	}
	v := make([]byte, 8)
	if err := c.Maps["recent"].Lookup(u64key(9), v); err != nil {
		t.Errorf("most recent key evicted: %v", err)
	}
}

func TestELFPerCPU(t *testing.T) {
	c := loadCollection(t, "vm_maps", nil)
	p := program(t, c, "percpu")
	var ret uint64
	for _, in := range []uint64{3, 4} {
		var err error
		if ret, _, _, err = runArgs(t, p, in, 0); err != nil {
			t.Fatal(err)
		}
	}
	if ret != 7 {
		t.Errorf("per-CPU value after 3+4 = %d, want 7 (one CPU)", ret)
	}
}

func TestELFRunErrors(t *testing.T) {
	c := loadCollection(t, "vm_maps", nil)
	tests := []struct {
		prog   string
		in     uint64
		budget uint64
		want   error
	}{
		{"oob_read", 1000, 0, ErrOutOfBounds},
		{"oob_write", 1, 0, ErrOutOfBounds},
		{"write_rodata", 5, 0, ErrReadOnly},
		{"spin", 1, 10_000, ErrBudget},
		{"recurse", 7, 0, ErrCallDepth},
	}
	for _, tt := range tests {
		t.Run(tt.prog, func(t *testing.T) {
			_, _, r, err := runArgs(t, program(t, c, tt.prog), tt.in, tt.budget)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var re *RunError
			if !errors.As(err, &re) || re.PC < 0 || re.PC >= c.Programs[tt.prog].Len() {
				t.Fatalf("error %v does not name an instruction of the program", err)
			}
			if tt.budget != 0 && (r.Executed() < tt.budget || r.Executed() > tt.budget+uint64(c.Programs[tt.prog].Len())) {
				t.Errorf("stopped after %d instructions, budget %d", r.Executed(), tt.budget)
			}
		})
	}
	// Just inside the limits the same programs succeed.
	if _, a, _, err := runArgs(t, program(t, c, "recurse"), 6, 0); err != nil || a.Out[0] != 13 {
		t.Errorf("recurse(6) = %d, %v; want 13 (7 nested frames plus the entry)", a.Out[0], err)
	}
	if _, _, _, err := runArgs(t, program(t, c, "oob_read"), 7, 0); err != nil {
		t.Errorf("oob_read(7) is in bounds: %v", err)
	}
	if _, _, _, err := runArgs(t, program(t, c, "spin"), 0, 10_000); err != nil {
		t.Errorf("spin(0) terminates: %v", err)
	}
}
