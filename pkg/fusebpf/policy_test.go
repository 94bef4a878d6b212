package fusebpf

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/bpfvm"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/policy"
)

// mountPolicy mounts a fresh backing directory (seeded by seed) under a
// built-in policy.
func mountPolicy(t *testing.T, name string, values policy.Values, seed func(dir string)) (*testMount, *policy.Instance) {
	t.Helper()
	requireFUSE(t)
	p, err := policy.Builtin(name)
	if err != nil {
		t.Fatal(err)
	}
	in, err := p.Instantiate(values, policy.InstanceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	backing := filepath.Join(t.TempDir(), "backing")
	os.Mkdir(backing, 0o755)
	if seed != nil {
		seed(backing)
	}
	return mountT(t, MountOptions{Backing: backing, Filter: in}), in
}

// seedTree lays out the files the operation table works on.
func seedTree(dir string) {
	w := func(p, s string) { os.WriteFile(filepath.Join(dir, p), []byte(s), 0o644) }
	w("f", "data")
	w("r-src", "rename me")
	w("u-victim", "unlink me")
	w("x-file", "xattrs")
	unix.Setxattr(filepath.Join(dir, "x-file"), "user.pre", []byte("v"), 0)
	os.Mkdir(filepath.Join(dir, "rd-victim"), 0o755)
	os.Mkdir(filepath.Join(dir, "d"), 0o755)
	w("d/inner", "inner")
	w("secret.key", "KEY")
	os.Mkdir(filepath.Join(dir, ".git"), 0o755)
	w(".git/HEAD", "ref")
}

// op is one file operation, run through the mount.
type op struct {
	name string
	run  func(mnt string) error
}

func at(mnt, p string) string { return filepath.Join(mnt, p) }

var fileOps2 = []op{
	{"lookup", func(m string) error { _, err := os.Stat(at(m, "d/inner")); return err }},
	{"stat", func(m string) error { var st unix.Stat_t; return unix.Lstat(at(m, "f"), &st) }},
	{"readdir", func(m string) error { _, err := os.ReadDir(m); return err }},
	{"open-read", func(m string) error { _, err := os.ReadFile(at(m, "f")); return err }},
	{"open-write", func(m string) error {
		f, err := os.OpenFile(at(m, "f"), os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = f.WriteAt([]byte("X"), 0)
		return err
	}},
	{"open-trunc", func(m string) error {
		f, err := os.OpenFile(at(m, "f"), os.O_WRONLY|os.O_TRUNC, 0)
		if err == nil {
			f.Close()
		}
		return err
	}},
	{"append", func(m string) error {
		f, err := os.OpenFile(at(m, "f"), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = f.Write([]byte("+"))
		return err
	}},
	{"create", func(m string) error { return os.WriteFile(at(m, "c-new"), []byte("new"), 0o644) }},
	{"mkdir", func(m string) error { return os.Mkdir(at(m, "m-new"), 0o755) }},
	{"mknod", func(m string) error { return unix.Mknod(at(m, "fifo-new"), unix.S_IFIFO|0o644, 0) }},
	{"truncate", func(m string) error { return os.Truncate(at(m, "f"), 1) }},
	{"chmod", func(m string) error { return os.Chmod(at(m, "f"), 0o600) }},
	{"chown", func(m string) error { return os.Chown(at(m, "f"), 1, 1) }},
	{"utimes", func(m string) error { return unix.UtimesNano(at(m, "f"), []unix.Timespec{{Sec: 1}, {Sec: 2}}) }},
	{"rename", func(m string) error { return os.Rename(at(m, "r-src"), at(m, "r-dst")) }},
	{"link", func(m string) error { return os.Link(at(m, "f"), at(m, "l-new")) }},
	{"symlink", func(m string) error { return os.Symlink("f", at(m, "s-new")) }},
	{"unlink", func(m string) error { return os.Remove(at(m, "u-victim")) }},
	{"rmdir", func(m string) error { return unix.Rmdir(at(m, "rd-victim")) }},
	{"setxattr", func(m string) error { return unix.Setxattr(at(m, "f"), "user.a", []byte("1"), 0) }},
	{"getxattr", func(m string) error {
		_, err := unix.Getxattr(at(m, "x-file"), "user.pre", make([]byte, 16))
		return err
	}},
	{"listxattr", func(m string) error { _, err := unix.Listxattr(at(m, "x-file"), make([]byte, 64)); return err }},
	{"removexattr", func(m string) error { return unix.Removexattr(at(m, "x-file"), "user.pre") }},
	{"fallocate", func(m string) error {
		f, err := os.OpenFile(at(m, "f"), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		return unix.Fallocate(int(f.Fd()), 0, 0, 8192)
	}},
}

// snapshot describes a tree: every entry's type, mode, owner, size, times,
// content and xattrs.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		unix.Lstat(p, &st)
		line := fmt.Sprintf("%s mode=%o uid=%d gid=%d size=%d mtime=%d.%d nlink=%d",
			strings.TrimPrefix(p, dir), st.Mode, st.Uid, st.Gid, st.Size, st.Mtim.Sec, st.Mtim.Nsec, st.Nlink)
		if st.Mode&unix.S_IFMT == unix.S_IFREG {
			b, _ := os.ReadFile(p)
			line += fmt.Sprintf(" sha=%x", sha256.Sum256(b))
		}
		buf := make([]byte, 256)
		if n, err := unix.Llistxattr(p, buf); err == nil {
			line += " xattrs=" + strings.ReplaceAll(string(buf[:n]), "\x00", ",")
		}
		lines = append(lines, line)
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// runTable runs every operation on a fresh mount of the policy and checks
// its outcome: success, or the errno in want. After a denied operation the
// backing tree must be exactly as before.
func runTable(t *testing.T, name string, values policy.Values, want map[string]syscall.Errno) *policy.Instance {
	m, in := mountPolicy(t, name, values, seedTree)
	for _, o := range fileOps2 {
		before := snapshot(t, m.backing)
		err := o.run(m.mnt)
		w := want[o.name]
		switch {
		case w == 0 && err != nil:
			t.Errorf("%s: %s: %v, want success", name, o.name, err)
		case w != 0 && !isErrno(err, w):
			t.Errorf("%s: %s: %v, want %v", name, o.name, err, w)
		case w != 0:
			if after := snapshot(t, m.backing); after != before {
				t.Errorf("%s: denied %s changed the backing directory:\nbefore:\n%s\nafter:\n%s", name, o.name, before, after)
			}
		}
	}
	return in
}

func TestPolicyAllowAll(t *testing.T) {
	runTable(t, "allow-all", nil, nil)
}

func TestPolicyReadOnly(t *testing.T) {
	erofs := map[string]syscall.Errno{}
	for _, o := range []string{"open-write", "open-trunc", "append", "create", "mkdir", "mknod", "truncate", "chmod",
		"chown", "utimes", "rename", "link", "symlink", "unlink", "rmdir", "setxattr", "removexattr", "fallocate"} {
		erofs[o] = syscall.EROFS
	}
	runTable(t, "read-only", nil, erofs)
}

func TestPolicyAppendOnly(t *testing.T) {
	runTable(t, "append-only", nil, map[string]syscall.Errno{
		"open-write": syscall.EPERM, "open-trunc": syscall.EPERM, "truncate": syscall.EPERM,
		"rename": syscall.EPERM, "unlink": syscall.EPERM, "rmdir": syscall.EPERM,
	})
	// Appending to an existing file works and keeps what was there.
	m, _ := mountPolicy(t, "append-only", nil, seedTree)
	f, err := os.OpenFile(at(m.mnt, "f"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("-more"))
	// Clearing O_APPEND after open does not allow an overwrite: the
	// backing file was opened O_APPEND, so even a write at 0 appends.
	if _, err := unix.FcntlInt(f.Fd(), unix.F_SETFL, 0); err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("Z"), 0)
	f.Close()
	if b, _ := os.ReadFile(at(m.backing, "f")); !strings.HasPrefix(string(b), "data-more") {
		t.Errorf("after append: %q", b)
	}
	// A file created through the mount can be written normally.
	if err := os.WriteFile(at(m.mnt, "new"), []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(at(m.mnt, "new"), []byte("xyz"), 0o644); err != nil {
		t.Fatalf("rewrite of a file created through the mount: %v", err)
	}
}

func TestPolicyHide(t *testing.T) {
	values := policy.Values{"hidePatterns": "*.key,.git,tmp*"}
	runTable(t, "hide", values, nil)

	m, _ := mountPolicy(t, "hide", values, seedTree)
	for _, p := range []string{"secret.key", ".git", ".git/HEAD"} {
		var st unix.Stat_t
		if err := unix.Lstat(at(m.mnt, p), &st); !isErrno(err, syscall.ENOENT) {
			t.Errorf("stat %s: %v, want ENOENT", p, err)
		}
	}
	ents, err := os.ReadDir(m.mnt)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, " "); strings.Contains(got, ".key") || strings.Contains(got, ".git") || len(names) != 6 {
		t.Errorf("readdir shows %q, want 6 entries without hidden ones", got)
	}
	before := snapshot(t, m.backing)
	for name, run := range map[string]func() error{
		"create hidden":    func() error { return os.WriteFile(at(m.mnt, "new.key"), nil, 0o644) },
		"mkdir hidden":     func() error { return os.Mkdir(at(m.mnt, "tmpdir"), 0o755) },
		"rename onto":      func() error { return os.Rename(at(m.mnt, "r-src"), at(m.mnt, "x.key")) },
		"symlink hidden":   func() error { return os.Symlink("f", at(m.mnt, "tmplink")) },
		"link onto hidden": func() error { return os.Link(at(m.mnt, "f"), at(m.mnt, "l.key")) },
	} {
		if err := run(); !isErrno(err, syscall.EACCES) {
			t.Errorf("%s: %v, want EACCES", name, err)
		}
	}
	if after := snapshot(t, m.backing); after != before {
		t.Errorf("refused operations changed the backing directory")
	}
	// A large directory: every batch of dirents passes the postfilter.
	big := filepath.Join(m.backing, "big")
	os.Mkdir(big, 0o755)
	for i := range 3000 {
		n := fmt.Sprintf("f%04d", i)
		if i%3 == 0 {
			n += ".key"
		}
		os.WriteFile(filepath.Join(big, n), nil, 0o644)
	}
	ents, err = os.ReadDir(at(m.mnt, "big"))
	if err != nil || len(ents) != 2000 {
		t.Fatalf("big dir: %d entries, %v; want 2000", len(ents), err)
	}
}

func TestPolicyAudit(t *testing.T) {
	in := runTable(t, "audit", nil, nil)
	rb := in.RingBuffer("events")
	seen := map[uint32]int{}
	names := map[string]bool{}
	var rec bpfvm.Record
	for rb.TryRead(&rec) {
		ev, err := policy.DecodeAuditEvent(rec.RawSample)
		if err != nil {
			t.Fatal(err)
		}
		seen[ev.Opcode]++
		names[ev.Name] = true
		// RELEASE comes from the kernel when the last reference goes,
		// with no caller.
		if ev.PID == 0 && ev.Opcode != 18 && ev.Opcode != 29 {
			t.Errorf("event without caller pid: %+v", ev)
		}
	}
	// lookup, getattr, mkdir, unlink, rmdir, rename, link, symlink, open,
	// create, setxattr, getxattr, listxattr, removexattr, fallocate, mknod
	for _, opc := range []uint32{1, 3, 8, 9, 10, 11, 12, 13, 6, 14, 35, 21, 22, 23, 24, 43} {
		if seen[opc] == 0 {
			t.Errorf("no audit event for opcode %d (saw %v)", opc, seen)
		}
	}
	for _, n := range []string{"m-new", "u-victim", "rd-victim", "c-new"} {
		if !names[n] {
			t.Errorf("no audit event naming %q", n)
		}
	}
}

func TestPolicyUIDGate(t *testing.T) {
	m, _ := mountPolicy(t, "uid-gate", policy.Values{"allowedUids": fmt.Sprint(testUID + 1)}, seedTree)
	openPath(t, m.mnt)
	os.Chmod(m.backing, 0o777)
	for _, script := range []string{"cat " + at(m.mnt, "f"), "ls " + m.mnt, "touch " + at(m.mnt, "t"), "stat " + at(m.mnt, "d")} {
		if err := asUser(t, script); err == nil {
			t.Errorf("%q as uid %d (not allowed): succeeded", script, testUID)
		}
	}
	if _, err := os.Stat(at(m.backing, "t")); !os.IsNotExist(err) {
		t.Error("refused create reached the backing directory")
	}
	// Root is allowed by default (allowRoot), and so is the listed uid.
	if _, err := os.ReadFile(at(m.mnt, "f")); err != nil {
		t.Errorf("root: %v", err)
	}
	m2, _ := mountPolicy(t, "uid-gate", policy.Values{"allowedUids": fmt.Sprint(testUID)}, seedTree)
	openPath(t, m2.mnt)
	os.Chmod(m2.backing, 0o777)
	if err := asUser(t, "cat "+at(m2.mnt, "f")+" && touch "+at(m2.mnt, "t")); err != nil {
		t.Errorf("allowed uid: %v", err)
	}
}
