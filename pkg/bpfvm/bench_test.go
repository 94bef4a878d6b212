package bpfvm

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"
)

// Native Go equivalents of the vm_bench programs, to put the interpreter's
// cost next to compiled code in the same run.

func nativeALU(x uint64, n uint32) uint64 {
	x |= 1
	var acc uint64
	for i := uint32(0); i < n; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		if x&1 != 0 {
			acc += x >> 32
		} else {
			acc ^= uint64(i)
		}
		if x&6 == 6 {
			acc = acc<<1 | acc>>63
		}
	}
	return acc
}

func nativeMem(in uint64) (sum uint64, lo, hi uint32) {
	var v [32]uint32
	x := in | 1
	for i := range v {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		v[i] = uint32(x)
	}
	for i := 1; i < len(v); i++ {
		k := v[i]
		j := i - 1
		for ; j >= 0 && v[j] > k; j-- {
			v[j+1] = v[j]
		}
		v[j+1] = k
	}
	for _, e := range v {
		sum = sum*31 + uint64(e)
	}
	return sum, v[0], v[31]
}

var nativeHidden = [][]byte{[]byte("secret"), []byte(".git"), []byte("private"), []byte("token")}

func nativeCheck(allowed map[uint32]uint32, uid, op uint32, name []byte) int32 {
	mask, ok := allowed[uid]
	if !ok || mask&(1<<(op&31)) == 0 {
		return -ePERM
	}
	if i := bytes.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	for _, h := range nativeHidden {
		if bytes.Equal(name, h) {
			return -eNOENT
		}
	}
	return 0
}

func TestBenchProgramsMatchNative(t *testing.T) {
	c := loadCollection(t, "vm_bench", nil)
	for _, n := range []uint32{0, 1, 7, 1000} {
		r := program(t, c, "alu").NewRun()
		buf := (&vmArgs{In: uint64(n), Out: [8]uint64{0x9e3779b97f4a7c15}}).bytes()
		addr, _ := r.MapBytes(buf, ReadWrite)
		if _, err := r.Exec(addr); err != nil {
			t.Fatal(err)
		}
		if got, want := parseArgs(buf).Out[1], nativeALU(0x9e3779b97f4a7c15, n); got != want {
			t.Errorf("alu(%d) = %#x, native %#x", n, got, want)
		}
		r.Release()
	}
	for _, in := range []uint64{1, 0xdeadbeef, 1 << 40} {
		_, a, _, err := runArgs(t, program(t, c, "mem"), in, 0)
		if err != nil {
			t.Fatal(err)
		}
		sum, lo, hi := nativeMem(in)
		if a.Out[0] != sum || a.Out[1] != uint64(lo) || a.Out[2] != uint64(hi) {
			t.Errorf("mem(%#x) = %#x %#x %#x, native %#x %#x %#x", in, a.Out[0], a.Out[1], a.Out[2], sum, lo, hi)
		}
	}
}

// benchVM runs prog b.N times with one Run (as a pooled worker would) and
// reports the interpreter's cost per executed instruction.
func benchVM(b *testing.B, r *Run, args ...uint64) {
	b.Helper()
	b.ReportAllocs()
	var insns uint64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := r.Exec(args...); err != nil {
			b.Fatal(err)
		}
		insns += r.Executed()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(insns), "ns/insn")
	b.ReportMetric(float64(insns)/float64(b.N), "insn/op")
}

// reportNative reports a native run's cost per instruction the interpreter
// needs for the same work, so the two lines compare directly.
func reportNative(b *testing.B, insnsPerOp uint64) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(uint64(b.N)*insnsPerOp), "ns/insn")
}

var sink uint64

func BenchmarkALU(b *testing.B) {
	c := loadCollection(b, "vm_bench", nil)
	const n = 1000
	r := program(b, c, "alu").NewRun()
	defer r.Release()
	buf := (&vmArgs{In: n, Out: [8]uint64{0x9e3779b97f4a7c15}}).bytes()
	addr, _ := r.MapBytes(buf, ReadWrite)
	if _, err := r.Exec(addr); err != nil {
		b.Fatal(err)
	}
	per := r.Executed()
	b.Run("vm", func(b *testing.B) { benchVM(b, r, addr) })
	b.Run("native", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			sink += nativeALU(0x9e3779b97f4a7c15+uint64(i&1), n)
		}
		reportNative(b, per)
	})
}

func BenchmarkMem(b *testing.B) {
	c := loadCollection(b, "vm_bench", nil)
	r := program(b, c, "mem").NewRun()
	defer r.Release()
	buf := (&vmArgs{In: 0xdeadbeef}).bytes()
	addr, _ := r.MapBytes(buf, ReadWrite)
	if _, err := r.Exec(addr); err != nil {
		b.Fatal(err)
	}
	per := r.Executed()
	b.Run("vm", func(b *testing.B) { benchVM(b, r, addr) })
	b.Run("native", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			s, _, _ := nativeMem(0xdeadbeef + uint64(i&1))
			sink += s
		}
		reportNative(b, per)
	})
}

func BenchmarkPolicy(b *testing.B) {
	c := loadCollection(b, "vm_bench", nil)
	if err := c.Maps["allowed_ops"].Update(u32key(1000), u32key(1<<3), 0); err != nil {
		b.Fatal(err)
	}
	p := program(b, c, "check")
	// A fresh Run per request, as the FUSE daemon will use them: map the
	// request and the BPF_PROG context, run, release.
	req := make([]byte, 24)
	binary.LittleEndian.PutUint32(req, 1000)
	binary.LittleEndian.PutUint32(req[4:], 3)
	copy(req[8:], "notes.txt")
	ctx := make([]byte, 8)
	once := func() (uint64, uint64) {
		r := p.NewRun()
		reqAddr, err := r.MapBytes(req, ReadOnly)
		if err != nil {
			b.Fatal(err)
		}
		binary.LittleEndian.PutUint64(ctx, reqAddr)
		ctxAddr, err := r.MapBytes(ctx, ReadOnly)
		if err != nil {
			b.Fatal(err)
		}
		ret, err := r.Exec(ctxAddr)
		if err != nil || ret != 0 {
			b.Fatalf("check = %d, %v", int32(ret), err)
		}
		n := r.Executed()
		r.Release()
		return ret, n
	}
	_, per := once()
	b.Run("vm", func(b *testing.B) {
		b.ReportAllocs()
		var insns uint64
		for i := 0; i < b.N; i++ {
			_, n := once()
			insns += n
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(insns), "ns/insn")
		b.ReportMetric(float64(insns)/float64(b.N), "insn/op")
	})
	allowed := map[uint32]uint32{1000: 1 << 3}
	name := slices.Clone(req[8:])
	b.Run("native", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			sink += uint64(nativeCheck(allowed, 1000, 3, name))
		}
		reportNative(b, per)
	})
}

// BenchmarkRunOverhead is the fixed cost of one request: a Run from the
// pool, two mapped buffers, a two-instruction program, release.
func BenchmarkRunOverhead(b *testing.B) {
	p, err := NewRawProgram("exit", exitProgram(), nil)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 64)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		r := p.NewRun()
		a1, _ := r.MapBytes(buf, ReadOnly)
		a2, _ := r.MapBytes(buf, ReadWrite)
		if _, err := r.Exec(a1, a2); err != nil {
			b.Fatal(err)
		}
		r.Release()
	}
}
