package policy

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
)

// BenchmarkHideLookup runs the hide lookup prefilter with 20 patterns on a
// name that matches none (the common case), and the same for allow-all's
// absent callback, to see the interpreter's share of a lookup.
func BenchmarkHideLookup(b *testing.B) {
	var pats []string
	for i := range 19 {
		pats = append(pats, fmt.Sprintf("*.secret%d", i))
	}
	pats = append(pats, ".git")
	in := instance(b, "hide", Values{"hidePatterns": strings.Join(pats, ",")})
	c := &Call{Opcode: 1 | PrefilterBit, Args: []Arg{nameArg("some-ordinary-file.txt")}}
	b.ReportAllocs()
	for b.Loop() {
		if r, err := in.Run(OpLookup, false, c); err != nil || r != Continue {
			b.Fatal(r, err)
		}
	}
}

// BenchmarkHideReaddir runs the hide readdir postfilter over one page of
// dirents (none hidden), as the userspace tier does per batch.
func BenchmarkHideReaddir(b *testing.B) {
	var pats []string
	for i := range 19 {
		pats = append(pats, fmt.Sprintf("*.secret%d", i))
	}
	pats = append(pats, ".git")
	in := instance(b, "hide", Values{"hidePatterns": strings.Join(pats, ",")})
	var page []byte
	n := 0
	for len(page) < 4096-32 {
		name := fmt.Sprintf("e%05d", n)
		rec := make([]byte, (24+len(name)+7)&^7)
		binary.LittleEndian.PutUint32(rec[16:], uint32(len(name)))
		copy(rec[24:], name)
		page = append(page, rec...)
		n++
	}
	var ri ReadIn
	var ro ReadOut
	b.ReportAllocs()
	for b.Loop() {
		buf := &Buffer{Data: page, MaxSize: len(page), Flags: BufVariableSize}
		if r, err := in.Run(OpReaddir, true, &Call{Args: []Arg{StructArg(&ri), StructArg(&ro), {Buf: buf}}}); err != nil || r != Continue {
			b.Fatal(r, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/dirent")
}

// BenchmarkHideLookupSlow runs the hide lookup prefilter with 1000
// patterns on a name that passes the bitmaps and matches none: one set
// lookup per distinct pattern length (eight here).
func BenchmarkHideLookupSlow(b *testing.B) {
	var pats []string
	for i := range 1000 {
		pad := strings.Repeat("e", (i/3)%8)
		switch i % 3 {
		case 0:
			pats = append(pats, fmt.Sprintf("s-exact-%04d%s", i, pad))
		case 1:
			pats = append(pats, fmt.Sprintf("s-pre-%04d%s*", i, pad))
		default:
			pats = append(pats, fmt.Sprintf("*.s%04d%sx", i, pad))
		}
	}
	in := instance(b, "hide", Values{"hidePatterns": strings.Join(pats, ",")})
	c := &Call{Opcode: 1 | PrefilterBit, Args: []Arg{nameArg("s-file-00042.txt")}}
	b.ReportAllocs()
	for b.Loop() {
		if r, err := in.Run(OpLookup, false, c); err != nil || r != Continue {
			b.Fatal(r, err)
		}
	}
}
