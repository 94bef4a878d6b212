package fusebpf

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/policy"
)

// goFilter is a policy written in Go, to test the state machine around
// callbacks independently of the interpreter.
type goFilter struct {
	mu    sync.Mutex
	calls []string
	pre   map[policy.Op]func(c *policy.Call) int32
	post  map[policy.Op]func(c *policy.Call) int32
}

func (g *goFilter) Has(op policy.Op, post bool) bool {
	if post {
		return g.post[op] != nil
	}
	return g.pre[op] != nil
}

func (g *goFilter) Run(op policy.Op, post bool, c *policy.Call) (int32, error) {
	g.mu.Lock()
	g.calls = append(g.calls, op.Member(post))
	g.mu.Unlock()
	if post {
		return g.post[op](c), nil
	}
	return g.pre[op](c), nil
}

func name(c *policy.Call, i int) string { return cString(c.Args[i].Buf.Data) }

func TestFilterStateMachine(t *testing.T) {
	g := &goFilter{
		pre: map[policy.Op]func(*policy.Call) int32{
			policy.OpLookup: func(c *policy.Call) int32 {
				if c.Opcode != 1|policy.PrefilterBit {
					return -int32(syscall.EPROTO)
				}
				switch name(c, 0) {
				case "secret":
					return -int32(syscall.ENOENT)
				case "alias":
					// Rewrite the name the backing lookup uses.
					copy(c.Args[0].Buf.Data, "real\x00")
					return policy.Continue
				case "user":
					return policy.User
				}
				return policy.Postfilter
			},
			policy.OpMkdir: func(c *policy.Call) int32 {
				if c.Caller.UID != 0 {
					return -int32(syscall.EACCES)
				}
				return policy.Continue
			},
			policy.OpReaddir: func(c *policy.Call) int32 { return policy.Postfilter },
		},
		post: map[policy.Op]func(*policy.Call) int32{
			policy.OpLookup: func(c *policy.Call) int32 {
				// Deny what the backing lookup found to be a directory.
				eo := c.Args[1].Struct
				mode := binary.LittleEndian.Uint32(eo[40+60:])
				if mode&syscall.S_IFMT == syscall.S_IFDIR && name(c, 0) == "dirdenied" {
					return -int32(syscall.EPERM)
				}
				if c.ErrorIn == -int32(syscall.ENOENT) && name(c, 0) == "ghost" {
					return -int32(syscall.EACCES)
				}
				return policy.Continue
			},
			policy.OpReaddir: func(c *policy.Call) int32 {
				// Drop "secret" by compacting the dirents.
				b := c.Args[2].Buf
				var out []byte
				for o := 0; o < len(b.Data); {
					nl := int(binary.LittleEndian.Uint32(b.Data[o+16:]))
					sz := policy.DirentSize(nl)
					if string(b.Data[o+24:o+24+nl]) != "secret" {
						out = append(out, b.Data[o:o+sz]...)
					}
					o += sz
				}
				b.Data = out
				return policy.Continue
			},
		},
	}
	m := mountT(t, MountOptions{Filter: g})
	for _, f := range []string{"secret", "real", "plain"} {
		os.WriteFile(filepath.Join(m.backing, f), []byte(f), 0o644)
	}
	os.Mkdir(filepath.Join(m.backing, "dirdenied"), 0o755)

	if _, err := os.Stat(filepath.Join(m.mnt, "secret")); !os.IsNotExist(err) {
		t.Errorf("secret: %v, want ENOENT from the prefilter", err)
	}
	if b, err := os.ReadFile(filepath.Join(m.mnt, "alias")); err != nil || string(b) != "real" {
		t.Errorf("alias: %q, %v; want the content of real", b, err)
	}
	if _, err := os.Stat(filepath.Join(m.mnt, "user")); !isErrno(err, syscall.EIO) {
		t.Errorf("USER code: %v, want EIO (no userspace hook)", err)
	}
	if _, err := os.Stat(filepath.Join(m.mnt, "dirdenied")); !isErrno(err, syscall.EPERM) {
		t.Errorf("dirdenied: %v, want EPERM from the postfilter", err)
	}
	if _, err := os.Stat(filepath.Join(m.mnt, "plain")); err != nil {
		t.Errorf("plain: %v", err)
	}
	// The postfilter sees the backing result in error_in and may replace
	// it.
	if _, err := os.Stat(filepath.Join(m.mnt, "ghost")); !isErrno(err, syscall.EACCES) {
		t.Errorf("ghost: %v, want EACCES (postfilter replaced ENOENT)", err)
	}
	// Only the policy stands between a non-root caller and mkdir here.
	openPath(t, m.mnt)
	os.Chmod(m.backing, 0o777)
	if err := asUser(t, "mkdir "+filepath.Join(m.mnt, "x")); err == nil {
		t.Error("mkdir by non-root allowed")
	}
	if err := asUser(t, "touch "+filepath.Join(m.mnt, "y")); err != nil {
		t.Error("create by non-root refused")
	}
	os.Remove(filepath.Join(m.backing, "y"))
	ents, err := os.ReadDir(m.mnt)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if got := bytes.Contains([]byte(filepathJoin(names)), []byte("secret")); got || len(names) != 3 {
		t.Errorf("readdir = %v, want secret filtered out and 3 entries", names)
	}
}

func filepathJoin(names []string) string {
	var b bytes.Buffer
	for _, n := range names {
		b.WriteString(n + "/")
	}
	return b.String()
}
