package policy

import (
	"errors"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/bpfvm"
)

func instance(t testing.TB, name string, v Values) *Instance {
	t.Helper()
	p, err := Builtin(name)
	if err != nil {
		t.Fatal(err)
	}
	in, err := p.Instantiate(v, InstanceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func nameArg(s string) Arg {
	return Arg{Buf: &Buffer{Data: append([]byte(s), 0), MaxSize: 256, Flags: BufVariableSize}}
}

func TestHideCallbacks(t *testing.T) {
	in := instance(t, "hide", Values{"hidePatterns": ".git,*.key,tmp*"})
	for name, want := range map[string]int32{
		".git": -int32(syscall.ENOENT), "a.key": -int32(syscall.ENOENT), ".key": -int32(syscall.ENOENT),
		"tmp": -int32(syscall.ENOENT), "tmpfile": -int32(syscall.ENOENT),
		".gitignore": Continue, "key": Continue, "a.keys": Continue, "atmp": Continue, "readme": Continue,
	} {
		got, err := in.Run(OpLookup, false, &Call{Opcode: 1 | PrefilterBit, Args: []Arg{nameArg(name)}})
		if err != nil || got != want {
			t.Errorf("lookup %q = %d, %v; want %d", name, got, err, want)
		}
	}
	ci := CreateIn{}
	if got, _ := in.Run(OpCreateOpen, false, &Call{Args: []Arg{StructArg(&ci), nameArg("x.key")}}); got != -int32(syscall.EACCES) {
		t.Errorf("create x.key = %d, want -EACCES", got)
	}

	// readdir: the postfilter compacts the dirents.
	var ri ReadIn
	if got, err := in.Run(OpReaddir, false, &Call{Args: []Arg{StructArg(&ri)}}); err != nil || got != Postfilter {
		t.Fatalf("readdir prefilter = %d, %v", got, err)
	}
	left := readdirPost(t, in, []string{"a", ".git", "b.key", "c", "tmpx", "dddddddddd"})
	if !slices.Equal(left, []string{"a", "c", "dddddddddd"}) {
		t.Fatalf("dirents left %q", left)
	}
}

func TestUIDGate(t *testing.T) {
	in := instance(t, "uid-gate", Values{"allowedUids": "1000", "allowedGids": "50", "allowRoot": "false"})
	for _, c := range []struct {
		caller Caller
		want   int32
	}{
		{Caller{UID: 1000, GID: 1}, Continue},
		{Caller{UID: 7, GID: 50}, Continue},
		{Caller{UID: 7, GID: 7}, -int32(syscall.EACCES)},
		{Caller{UID: 0, GID: 0}, -int32(syscall.EACCES)},
	} {
		got, err := in.Run(OpGetattr, false, &Call{Caller: c.caller, Args: []Arg{StructArg(&GetattrIn{})}})
		if err != nil || got != c.want {
			t.Errorf("caller %+v: %d, %v; want %d", c.caller, got, err, c.want)
		}
	}
}

func TestAuditEvents(t *testing.T) {
	in := instance(t, "audit", nil)
	rb := in.RingBuffer("events")
	if rb == nil {
		t.Fatal("no events ring buffer")
	}
	got, err := in.Run(OpLookup, true, &Call{NodeID: 7, Opcode: 1 | PostfilterBit, ErrorIn: -2,
		Caller: Caller{UID: 10, GID: 20, PID: 30}, Args: []Arg{nameArg("hello"), StructArg(&EntryOut{}), {Buf: &Buffer{}}}})
	if err != nil || got != Continue {
		t.Fatalf("lookup postfilter = %d, %v", got, err)
	}
	var rec bpfvm.Record
	if !rb.TryRead(&rec) {
		t.Fatal("no event")
	}
	ev, err := DecodeAuditEvent(rec.RawSample)
	if err != nil {
		t.Fatal(err)
	}
	if ev.NodeID != 7 || ev.Opcode != 1 || ev.Result != -2 || ev.UID != 10 || ev.GID != 20 || ev.PID != 30 || ev.Name != "hello" {
		t.Fatalf("event %+v", ev)
	}
}

func TestBudgetFailsClosed(t *testing.T) {
	elf, err := os.ReadFile("../../bpf/testdata/custom_spin.o")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Load(elf)
	if err != nil {
		t.Fatal(err)
	}
	in, err := p.Instantiate(nil, InstanceOptions{Budget: 10000})
	if err != nil {
		t.Fatal(err)
	}
	_, err = in.Run(OpLookup, false, &Call{Args: []Arg{nameArg("x")}})
	if !errors.Is(err, bpfvm.ErrBudget) {
		t.Fatalf("spinning callback: %v, want ErrBudget", err)
	}
}

// The hide matcher (hash set probed once per pattern length) agrees with
// the reference on random pattern sets of up to 1024 patterns, for names
// of every length up to NAME_MAX, in lookup and in readdir.
func TestHideMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	// A small alphabet makes names share prefixes and suffixes with
	// patterns, so the bitmaps pass and the set is probed.
	// With many patterns the alphabet grows and short patterns go, or
	// every name would be hidden.
	alphabet := "ab.x"
	word := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	for _, k := range []int{1, 3, 40, 1024} {
		minLen := 1
		if k > 100 {
			alphabet, minLen = "abcdefgh.x", 3
		}
		seen := map[string]bool{}
		var pats []string
		for len(pats) < k {
			var p string
			switch n := minLen + rng.IntN(13-minLen); rng.IntN(3) {
			case 0:
				p = word(n)
			case 1:
				p = word(n) + "*"
			default:
				p = "*" + word(n)
			}
			if k == 1024 && len(pats) == 0 {
				p = word(63) // the longest pattern
			}
			if !seen[p] {
				seen[p] = true
				pats = append(pats, p)
			}
		}
		in := instance(t, "hide", Values{"hidePatterns": strings.Join(pats, ",")})
		var names []string
		for range 3000 {
			n := 1 + rng.IntN(16)
			if rng.IntN(20) == 0 {
				n = 1 + rng.IntN(255)
			}
			names = append(names, word(n))
		}
		// Names built from patterns: hits, and near misses one byte off.
		for _, p := range pats[:min(len(pats), 200)] {
			core := strings.Trim(p, "*")
			names = append(names, core, core[1:]+"a", "b"+core, core+"b", strings.Repeat("x", 255-len(core))+core)
		}
		names = append(names, pats[0])
		hits := 0
		for _, name := range names {
			if name == "" {
				continue
			}
			want := int32(Continue)
			if HideMatches(pats, name) {
				want = -int32(syscall.ENOENT)
				hits++
			}
			got, err := in.Run(OpLookup, false, &Call{Opcode: 1 | PrefilterBit, Args: []Arg{nameArg(name)}})
			if err != nil || got != want {
				t.Fatalf("%d patterns: lookup %q = %d, %v; want %d", k, name, got, err, want)
			}
		}
		if hits == 0 || hits == len(names) {
			t.Fatalf("%d patterns: %d of %d names hidden; the test does not exercise both outcomes", k, hits, len(names))
		}
		// readdir, in pages of up to 256 entries.
		for start := 0; start < len(names); start += 256 {
			page := names[start:min(start+256, len(names))]
			var want []string
			for _, n := range page {
				if !HideMatches(pats, n) {
					want = append(want, n)
				}
			}
			got := readdirPost(t, in, page)
			if !slices.Equal(got, want) {
				t.Fatalf("%d patterns: readdir kept %d of %d names, want %d", k, len(got), len(page), len(want))
			}
		}
	}
}

// readdirPost runs the readdir postfilter on names laid out as fuse
// dirents and returns the names it kept.
func readdirPost(t *testing.T, in *Instance, names []string) []string {
	t.Helper()
	var buf []byte
	for i, n := range names {
		buf = AppendDirent(buf, Dirent{Ino: uint64(100 + i), Off: uint64(i + 1), Type: 8, Name: n})
	}
	b := &Buffer{Data: buf, MaxSize: len(buf), Flags: BufVariableSize}
	var ri ReadIn
	var ro ReadOut
	if got, err := in.Run(OpReaddir, true, &Call{Args: []Arg{StructArg(&ri), StructArg(&ro), {Buf: b}}}); err != nil || got != Continue {
		t.Fatalf("readdir postfilter = %d, %v", got, err)
	}
	var left []string
	for _, d := range ParseDirents(b.Data) {
		left = append(left, d.Name)
	}
	if len(left) == 0 && ro.Again == 0 {
		t.Fatal("readdir postfilter emptied a page without asking for more")
	}
	return left
}
