package bpfvm

import (
	"errors"
	"testing"

	"github.com/cilium/ebpf"
)

func TestMapSemantics(t *testing.T) {
	arr, err := NewMap(&ebpf.MapSpec{Name: "a", Type: ebpf.Array, KeySize: 4, ValueSize: 12, MaxEntries: 3})
	if err != nil {
		t.Fatal(err)
	}
	v := make([]byte, 12)
	if err := arr.Update(u32key(1), []byte("abcdefghijkl"), ebpf.UpdateAny); err != nil {
		t.Fatal(err)
	}
	if err := arr.Lookup(u32key(1), v); err != nil || string(v) != "abcdefghijkl" {
		t.Errorf("array lookup: %q %v", v, err)
	}
	for _, tt := range []struct {
		name string
		err  error
		want error
	}{
		{"array NOEXIST", arr.Update(u32key(0), v, ebpf.UpdateNoExist), ErrKeyExist},
		{"array EXIST", arr.Update(u32key(0), v, ebpf.UpdateExist), nil},
		{"array out of range", arr.Update(u32key(3), v, ebpf.UpdateAny), ErrMapFull},
		{"array lookup out of range", arr.Lookup(u32key(3), v), ErrKeyNotExist},
		{"array delete", arr.Delete(u32key(0)), ErrBadArgument},
		{"short value", arr.Update(u32key(0), v[:4], ebpf.UpdateAny), ErrBadArgument},
		{"unknown flag", arr.Update(u32key(0), v, ebpf.UpdateLock), ErrBadArgument},
	} {
		if !errors.Is(tt.err, tt.want) || (tt.want == nil) != (tt.err == nil) {
			t.Errorf("%s: %v, want %v", tt.name, tt.err, tt.want)
		}
	}

	h, err := NewMap(&ebpf.MapSpec{Name: "h", Type: ebpf.Hash, KeySize: 8, ValueSize: 8, MaxEntries: 2,
		Contents: []ebpf.MapKV{{Key: uint64(7), Value: uint64(70)}}})
	if err != nil {
		t.Fatal(err)
	}
	val := make([]byte, 8)
	if err := h.Lookup(u64key(7), val); err != nil || val[0] != 70 {
		t.Errorf("contents: %v %v", val, err)
	}
	for _, tt := range []struct {
		name string
		err  error
		want error
	}{
		{"hash EXIST on missing", h.Update(u64key(1), val, ebpf.UpdateExist), ErrKeyNotExist},
		{"hash NOEXIST on missing", h.Update(u64key(1), val, ebpf.UpdateNoExist), nil},
		{"hash NOEXIST on present", h.Update(u64key(1), val, ebpf.UpdateNoExist), ErrKeyExist},
		{"hash full", h.Update(u64key(2), val, ebpf.UpdateAny), ErrMapFull},
		{"hash delete", h.Delete(u64key(7)), nil},
		{"hash delete missing", h.Delete(u64key(7)), ErrKeyNotExist},
		{"hash reuses the slot", h.Update(u64key(2), val, ebpf.UpdateAny), nil},
	} {
		if !errors.Is(tt.err, tt.want) || (tt.want == nil) != (tt.err == nil) {
			t.Errorf("%s: %v, want %v", tt.name, tt.err, tt.want)
		}
	}

	lru, err := NewMap(&ebpf.MapSpec{Name: "l", Type: ebpf.LRUHash, KeySize: 8, ValueSize: 8, MaxEntries: 3})
	if err != nil {
		t.Fatal(err)
	}
	for k := uint64(0); k < 3; k++ {
		if err := lru.Update(u64key(k), u64key(k), ebpf.UpdateAny); err != nil {
			t.Fatal(err)
		}
	}
	// Full: inserting 9 evicts one key. Then key-by-key, a key that was
	// looked up since survives the next eviction and one that was not goes.
	if err := lru.Update(u64key(9), u64key(9), ebpf.UpdateAny); err != nil {
		t.Fatalf("LRU insert into a full map: %v", err)
	}
	var alive []uint64
	for k := uint64(0); k < 3; k++ {
		if lru.Lookup(u64key(k), val) == nil {
			alive = append(alive, k)
		}
	}
	if len(alive) != 2 {
		t.Fatalf("after one eviction %v of 0..2 remain, want 2", alive)
	}
	used, unused := alive[0], alive[1]
	if _, ok := lru.slotOf(u64key(used)); !ok { // a program's lookup
		t.Fatal("lookup failed")
	}
	if err := lru.Update(u64key(10), u64key(10), ebpf.UpdateAny); err != nil {
		t.Fatal(err)
	}
	if err := lru.Lookup(u64key(used), val); err != nil {
		t.Errorf("recently used key %d evicted: %v", used, err)
	}
	if err := lru.Lookup(u64key(unused), val); !errors.Is(err, ErrKeyNotExist) {
		t.Errorf("unused key %d survived: %v", unused, err)
	}

	for _, spec := range []*ebpf.MapSpec{
		{Name: "bad-array-key", Type: ebpf.Array, KeySize: 8, ValueSize: 8, MaxEntries: 1},
		{Name: "no-value", Type: ebpf.Hash, KeySize: 4, ValueSize: 0, MaxEntries: 1},
		{Name: "odd-ring", Type: ebpf.RingBuf, MaxEntries: 5000},
		{Name: "huge", Type: ebpf.Array, KeySize: 4, ValueSize: 1 << 20, MaxEntries: 1 << 12},
		{Name: "prog-array", Type: ebpf.ProgramArray, KeySize: 4, ValueSize: 4, MaxEntries: 1},
	} {
		if _, err := NewMap(spec); err == nil {
			t.Errorf("%s: accepted", spec.Name)
		}
	}
}
