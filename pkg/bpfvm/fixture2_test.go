package bpfvm

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/bits"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
)

func TestELFv4(t *testing.T) {
	c := loadCollection(t, "vm_v4", nil)
	in := uint64(0x80FF7FFE8001F6F7)
	_, a, _, err := runArgs(t, program(t, c, "signs"), in, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The same expressions evaluated by Go.
	x := int64(in)
	y := int32(x)
	want := [8]uint64{
		uint64(int64(int8(in))),
		uint64(int64(int16(in >> 16))),
		uint64(int64(int32(in >> 32))),
		uint64(x / -7),
		uint64(x % -7),
		uint64(uint32(y / 3)),
		uint64(int64(int16(uint64(x+1))) + int64(uint32(int32(int8(uint32(x-1)))))),
		bits.ReverseBytes64(in),
	}
	for i := range want {
		if a.Out[i] != want[i] {
			t.Errorf("signs out[%d] = %#x, want %#x", i, a.Out[i], want[i])
		}
	}
	if _, a, _, err = runArgs(t, program(t, c, "far_jump"), 0, 0); err != nil || a.Out[0] != 1 {
		t.Errorf("far_jump: r = %d, %v; want 1 (gotol skips the second assignment)", a.Out[0], err)
	}
}

type ringEvent struct {
	seq      uint64
	pid, uid uint32
	tag      string
}

func decodeEvent(b []byte) ringEvent {
	return ringEvent{
		seq: binary.LittleEndian.Uint64(b),
		pid: binary.LittleEndian.Uint32(b[8:]),
		uid: binary.LittleEndian.Uint32(b[12:]),
		tag: string(bytes.TrimRight(b[16:24], "\x00")),
	}
}

func TestELFRingBuffer(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	c := loadCollection(t, "vm_ringbuf", &Options{Trace: func(r *Run, msg string) {
		mu.Lock()
		lines = append(lines, r.Program().Name()+": "+msg)
		mu.Unlock()
	}})
	rb := c.Maps["events"].RingBuffer()
	if rb == nil {
		t.Fatal("events is not a ring buffer")
	}
	emit := program(t, c, "emit")
	caller := Caller{UID: 1000, GID: 100, PID: 42, TGID: 4242}
	run := func(p *Program, in uint64) (vmArgs, error) {
		r := p.NewRun()
		defer r.Release()
		r.SetCaller(caller)
		buf := (&vmArgs{In: in}).bytes()
		addr, err := r.MapBytes(buf, ReadWrite)
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.Exec(addr)
		return parseArgs(buf), err
	}
	for in := uint64(0); in < 4; in++ {
		a, err := run(emit, in)
		if err != nil {
			t.Fatal(err)
		}
		if a.Out[0] != 0 || a.Out[1] != 0 || a.Out[2] == 0 {
			t.Errorf("emit(%d): reserve failed %d, output %#x, avail %d", in, a.Out[0], a.Out[1], a.Out[2])
		}
	}
	want := []ringEvent{
		{0, 4242, 1000, "reserve"}, {0, 0, 1000, "output"}, {1, 0, 1000, "output"},
		{2, 4242, 1000, "reserve"}, {2, 0, 1000, "output"}, {3, 0, 1000, "output"},
	}
	var rec Record
	for i, w := range want {
		if !rb.TryRead(&rec) {
			t.Fatalf("record %d missing", i)
		}
		if got := decodeEvent(rec.RawSample); got != w || len(rec.RawSample) != 24 {
			t.Errorf("record %d = %+v (%d bytes), want %+v", i, got, len(rec.RawSample), w)
		}
	}
	if rb.TryRead(&rec) {
		t.Errorf("unexpected record %x", rec.RawSample)
	}
	if len(lines) != 4 || lines[1] != "emit: emit 1 uid 1000 tag output" {
		t.Errorf("trace lines = %q", lines)
	}

	// Fill the ring: reservation fails (NULL to the program) and is counted.
	full := false
	for i := 0; i < 200 && !full; i++ {
		a, err := run(emit, 2)
		if err != nil {
			t.Fatal(err)
		}
		full = a.Out[0] == 1
	}
	if !full || rb.Dropped() == 0 {
		t.Fatalf("ring never filled (dropped %d)", rb.Dropped())
	}
	n := 0
	for rb.TryRead(&rec) {
		n++
	}
	if n < 4096/(8+24)-4 || n > 4096/(8+24) {
		t.Errorf("drained %d records from a 4096-byte ring of 32-byte slots", n)
	}
	if a, err := run(emit, 0); err != nil || a.Out[0] != 0 {
		t.Errorf("reserve after draining: %v, failed=%d", err, a.Out[0])
	}
	for rb.TryRead(&rec) {
	}

	// A record the program keeps using after submit is gone from its view.
	if _, err := run(program(t, c, "use_after_submit"), 77); !errors.Is(err, ErrOutOfBounds) {
		t.Errorf("write after submit: %v, want ErrOutOfBounds", err)
	}
	if !rb.TryRead(&rec) || decodeEvent(rec.RawSample).seq == 77 {
		t.Errorf("submitted record missing or changed after submit: %x", rec.RawSample)
	}

	// A record never submitted is discarded when the run is released, so
	// it does not hold back later records.
	if _, err := run(program(t, c, "leak"), 5); err != nil {
		t.Fatal(err)
	}
	if _, err := run(emit, 8); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rb.Read(ctx, &rec); err != nil || decodeEvent(rec.RawSample).tag != "reserve" {
		t.Errorf("Read after a leaked record: %v %+v", err, decodeEvent(rec.RawSample))
	}
	if err := rb.Read(ctx, &rec); err != nil || decodeEvent(rec.RawSample).tag != "output" {
		t.Errorf("Read: %v %+v", err, decodeEvent(rec.RawSample))
	}
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if err := rb.Read(cctx, &rec); !errors.Is(err, context.Canceled) {
		t.Errorf("Read on an empty ring with a cancelled context: %v", err)
	}
}

func TestRingBufferBlockingRead(t *testing.T) {
	m, err := NewMap(&ebpf.MapSpec{Name: "rb", Type: ebpf.RingBuf, MaxEntries: 4096})
	if err != nil {
		t.Fatal(err)
	}
	rb := m.RingBuffer()
	got := make(chan string, 1)
	go func() {
		var rec Record
		if err := rb.Read(context.Background(), &rec); err != nil {
			got <- err.Error()
			return
		}
		got <- string(rec.RawSample)
	}()
	data, seq, ok := rb.reserve(5)
	if !ok {
		t.Fatal("reserve failed")
	}
	copy(data, "hello")
	rb.finish(seq, true)
	if s := <-got; s != "hello" {
		t.Errorf("blocking Read got %q", s)
	}
}

// Drain hands over every record in order, wakes the consumer far less
// often than once per record while records keep coming, and stops with
// the context.
func TestRingBufferDrain(t *testing.T) {
	m, err := NewMap(&ebpf.MapSpec{Name: "rb", Type: ebpf.RingBuf, MaxEntries: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	rb := m.RingBuffer()
	ctx, cancel := context.WithCancel(context.Background())
	// A pass over the ring hands records over back to back; passes are
	// at least a linger apart. Records arrive every 100 µs or more, so a
	// gap of over 50 µs between two calls starts a new pass.
	var (
		got    []int
		passes int
		prev   time.Time
	)
	done := make(chan error, 1)
	go func() {
		done <- rb.Drain(ctx, 20*time.Millisecond, func(rec *Record) {
			now := time.Now()
			if now.Sub(prev) > 50*time.Microsecond {
				passes++
			}
			prev = now
			got = append(got, int(binary.LittleEndian.Uint32(rec.RawSample)))
		})
	}()
	const n = 400
	for i := range n {
		data, seq, ok := rb.reserve(4)
		if !ok {
			t.Fatalf("reserve %d failed", i)
		}
		binary.LittleEndian.PutUint32(data, uint32(i))
		rb.finish(seq, true)
		time.Sleep(100 * time.Microsecond)
	}
	deadline := time.Now().Add(10 * time.Second)
	for rb.query(ringAvailData) != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Drain returned %v, want context.Canceled", err)
	}
	if len(got) != n {
		t.Fatalf("drained %d records, want %d", len(got), n)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("record %d is %d: out of order", i, v)
		}
	}
	if rb.Dropped() != 0 {
		t.Fatalf("%d records dropped", rb.Dropped())
	}
	if passes > n/10 {
		t.Fatalf("%d records took %d passes: the consumer woke for nearly every record", n, passes)
	}
	t.Logf("%d records in %d passes", n, passes)
}

// dynState is the embedder side of vm_test_get_dynptr.
type dynState struct {
	name     []byte
	nameAddr uint64
	out      []byte
}

const dynOutMax = 64

func vmTestGetDynptr(r *Run, which, ptr, size, _, _ uint64) (uint64, error) {
	st := r.Data().(*dynState)
	switch which {
	case 0:
		return 0, r.InitDynptr(ptr, st.nameAddr, uint32(len(st.name)), ReadOnly)
	case 1:
		if size > dynOutMax {
			return errnoVal(e2BIG), r.SetDynptrNull(ptr)
		}
		grown := make([]byte, size)
		copy(grown, st.out)
		st.out = grown
		addr, err := r.MapBytes(grown, ReadWrite)
		if err != nil {
			return 0, err
		}
		return 0, r.InitDynptr(ptr, addr, uint32(size), ReadWrite)
	}
	return errnoVal(eINVAL), r.SetDynptrNull(ptr)
}

func TestELFDynptr(t *testing.T) {
	c := loadCollection(t, "vm_dynptr", &Options{Kfuncs: map[string]HelperFunc{"vm_test_get_dynptr": vmTestGetDynptr}})
	run := func(name string, in uint64) (uint64, vmArgs, *dynState, error) {
		r := program(t, c, name).NewRun()
		defer r.Release()
		st := &dynState{name: []byte("secret-file"), out: make([]byte, 8)}
		var err error
		// Writable memory behind a read-only dynptr: the view must still be read-only.
		if st.nameAddr, err = r.MapBytes(st.name, ReadWrite); err != nil {
			t.Fatal(err)
		}
		r.SetData(st)
		buf := (&vmArgs{In: in}).bytes()
		addr, err := r.MapBytes(buf, ReadWrite)
		if err != nil {
			t.Fatal(err)
		}
		ret, err := r.Exec(addr)
		return ret, parseArgs(buf), st, err
	}

	_, a, st, err := run("dyn", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := [8]uint64{11, 0, errnoVal(eINVAL), 1, 0, 1, 16, errnoVal(e2BIG)}
	if a.Out != want {
		t.Errorf("dyn out = %#x\n want %#x", a.Out, want)
	}
	wantOut := make([]byte, 32)
	copy(wantOut, "secret-ok\x00")
	binary.LittleEndian.PutUint64(wantOut[16:], 0x1122334455667788)
	if !bytes.Equal(st.out, wantOut) {
		t.Errorf("grown output buffer = %q, want %q", st.out, wantOut)
	}
	if string(st.name) != "secret-file" {
		t.Errorf("read-only input changed to %q", st.name)
	}

	if _, _, st, err := run("write_ro_slice", 0); !errors.Is(err, ErrReadOnly) || string(st.name) != "secret-file" {
		t.Errorf("write through read-only slice: %v, name %q", err, st.name)
	}
	if ret, _, _, err := run("forge", 0); err != nil || ret != 0 {
		t.Errorf("forge(0) = %d, %v; want 0", int32(ret), err)
	}
	if ret, _, _, err := run("forge", 1); err != nil || int32(ret) != -eINVAL {
		t.Errorf("forge(1) = %d, %v; want -EINVAL", int32(ret), err)
	}
}

func TestDynptrAPI(t *testing.T) {
	p, err := NewRawProgram("exit", exitProgram(), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := p.NewRun()
	defer r.Release()
	ro, _ := r.MapBytes([]byte("abc"), ReadOnly)
	slot, _ := r.MapBytes(make([]byte, DynptrSize), ReadWrite)
	if err := r.InitDynptr(slot, ro, 3, ReadWrite); !errors.Is(err, ErrReadOnly) {
		t.Errorf("read-write dynptr over read-only memory: %v", err)
	}
	if err := r.InitDynptr(slot, ro, 4, ReadOnly); !errors.Is(err, ErrOutOfBounds) {
		t.Errorf("dynptr beyond its region: %v", err)
	}
	if err := r.InitDynptr(slot, ro+1, 2, ReadOnly); err != nil {
		t.Fatal(err)
	}
	d, err := r.Dynptr(slot)
	if err != nil || d != (Dynptr{Addr: ro + 1, Size: 2, ReadOnly: true}) {
		t.Errorf("Dynptr = %+v, %v", d, err)
	}
	r.Reset()
	slot, _ = r.MapBytes(make([]byte, DynptrSize), ReadWrite)
	if _, err := r.Dynptr(slot); !errors.Is(err, ErrInvalidDynptr) {
		t.Errorf("zeroed dynptr: %v", err)
	}
}

func TestStructOpsPolicy(t *testing.T) {
	spec := loadSpec(t, "vm_bench")
	c, err := NewCollection(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := program(t, c, "check")
	if p.Type() != ebpf.StructOps || p.AttachTo() != "vm_ops:check" || p.SectionName() != "struct_ops/check" {
		t.Errorf("check: type %v, attach %q, section %q", p.Type(), p.AttachTo(), p.SectionName())
	}
	if err := c.Maps["allowed_ops"].Update(u32key(1000), u32key(1<<3), ebpf.UpdateAny); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		uid, op uint32
		name    string
		want    int32
	}{
		{1000, 3, "notes.txt", 0},
		{1000, 3, "secret", -eNOENT},
		{1000, 3, "secretive", 0},
		{1000, 3, "token", -eNOENT},
		{1000, 4, "notes.txt", -ePERM},
		{5, 3, "notes.txt", -ePERM},
	}
	for _, tt := range tests {
		if got := runCheck(t, p, tt.uid, tt.op, tt.name); got != tt.want {
			t.Errorf("check(uid %d, op %d, %q) = %d, want %d", tt.uid, tt.op, tt.name, got, tt.want)
		}
	}
	// Per-instance parameters: only the first hidden name counts.
	if err := spec.Variables["hidden_count"].Set(uint32(1)); err != nil {
		t.Fatal(err)
	}
	c1, err := NewCollection(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c1.Maps["allowed_ops"].Update(u32key(1000), u32key(1<<3), ebpf.UpdateAny); err != nil {
		t.Fatal(err)
	}
	if got := runCheck(t, program(t, c1, "check"), 1000, 3, "token"); got != 0 {
		t.Errorf("with hidden_count=1, token: %d, want 0", got)
	}
	if got := runCheck(t, program(t, c, "count"), 40, 2, ""); got != 42 {
		t.Errorf("count = %d, want 42", got)
	}
}

// runCheck calls a struct_ops program the way BPF_PROG expects: R1 points
// to an array of u64 arguments, here one pointer to struct vm_req.
func runCheck(t testing.TB, p *Program, uid, op uint32, name string) int32 {
	t.Helper()
	r := p.NewRun()
	defer r.Release()
	req := make([]byte, 24)
	binary.LittleEndian.PutUint32(req, uid)
	binary.LittleEndian.PutUint32(req[4:], op)
	copy(req[8:], name)
	reqAddr, err := r.MapBytes(req, ReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	ctxAddr, err := r.MapBytes(binary.LittleEndian.AppendUint64(nil, reqAddr), ReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	ret, err := r.Exec(ctxAddr)
	if err != nil {
		t.Fatal(err)
	}
	return int32(ret)
}

// exitProgram is "r0 = 0; exit".
func exitProgram() []byte {
	return rawProgram(encodeInsn(clsALU64|aluMOV, 0, 0, 0, 0), encodeInsn(clsJMP|jmpEXIT, 0, 0, 0, 0))
}

func rawProgram(words ...uint64) []byte {
	b := make([]byte, 0, 8*len(words))
	for _, w := range words {
		b = binary.LittleEndian.AppendUint64(b, w)
	}
	return b
}
