package policy

import (
	"encoding/binary"
	"errors"
	"os"
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
	names := []string{"a", ".git", "b.key", "c", "tmpx", "dddddddddd"}
	var buf []byte
	for i, n := range names {
		rec := make([]byte, (24+len(n)+7)&^7)
		binary.LittleEndian.PutUint64(rec[0:], uint64(100+i))
		binary.LittleEndian.PutUint64(rec[8:], uint64(i+1))
		binary.LittleEndian.PutUint32(rec[16:], uint32(len(n)))
		binary.LittleEndian.PutUint32(rec[20:], 8)
		copy(rec[24:], n)
		buf = append(buf, rec...)
	}
	b := &Buffer{Data: buf, MaxSize: len(buf), Flags: BufVariableSize}
	var ri ReadIn
	var ro ReadOut
	if got, err := in.Run(OpReaddir, false, &Call{Args: []Arg{StructArg(&ri)}}); err != nil || got != Postfilter {
		t.Fatalf("readdir prefilter = %d, %v", got, err)
	}
	if got, err := in.Run(OpReaddir, true, &Call{Args: []Arg{StructArg(&ri), StructArg(&ro), {Buf: b}}}); err != nil || got != Continue {
		t.Fatalf("readdir postfilter = %d, %v", got, err)
	}
	var left []string
	for o := 0; o < len(b.Data); {
		nl := int(binary.LittleEndian.Uint32(b.Data[o+16:]))
		left = append(left, string(b.Data[o+24:o+24+nl]))
		o += (24 + nl + 7) &^ 7
	}
	if len(left) != 3 || left[0] != "a" || left[1] != "c" || left[2] != "dddddddddd" {
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
