package policy

import (
	"fmt"
	"strings"
	"testing"
)

// benchPatterns are 20 hide patterns: 19 suffixes and one exact name.
var benchPatterns = func() string {
	var pats []string
	for i := range 19 {
		pats = append(pats, fmt.Sprintf("*.secret%d", i))
	}
	return strings.Join(append(pats, ".git"), ",")
}()

// BenchmarkHideLookup runs the hide lookup prefilter with 20 patterns on a
// name that matches none (the common case), and the same for allow-all's
// absent callback, to see the interpreter's share of a lookup.
func BenchmarkHideLookup(b *testing.B) {
	in := instance(b, "hide", Values{"hidePatterns": benchPatterns})
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
	in := instance(b, "hide", Values{"hidePatterns": benchPatterns})
	var page []byte
	n := 0
	for len(page) < 4096-32 {
		page = AppendDirent(page, Dirent{Name: fmt.Sprintf("e%05d", n)})
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
