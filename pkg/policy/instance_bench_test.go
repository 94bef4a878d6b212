package policy

import (
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
