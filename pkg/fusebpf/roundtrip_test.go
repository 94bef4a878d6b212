package fusebpf

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestRoundTrip drives every file operation through the mount and checks
// the result in the backing directory.
func TestRoundTrip(t *testing.T) {
	m := mountT(t, MountOptions{})
	mnt := func(p string) string { return filepath.Join(m.mnt, p) }
	back := func(p string) string { return filepath.Join(m.backing, p) }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	backContent := func(p string, want string) {
		t.Helper()
		got, err := os.ReadFile(back(p))
		if err != nil || string(got) != want {
			t.Fatalf("backing %s = %q, %v; want %q", p, got, err, want)
		}
	}

	// create, write, read, append, truncate
	must(os.WriteFile(mnt("a"), []byte("hello"), 0o640))
	backContent("a", "hello")
	if got, _ := os.ReadFile(mnt("a")); string(got) != "hello" {
		t.Fatalf("read back %q", got)
	}
	f, err := os.OpenFile(mnt("a"), os.O_APPEND|os.O_WRONLY, 0)
	must(err)
	_, err = f.WriteString(" world")
	must(err)
	must(f.Close())
	backContent("a", "hello world")
	must(os.Truncate(mnt("a"), 5))
	backContent("a", "hello")
	var st unix.Stat_t
	must(unix.Stat(back("a"), &st))
	if st.Mode&0o777 != 0o640 {
		t.Fatalf("mode %o, want 640", st.Mode&0o777)
	}

	// rename, RENAME_NOREPLACE, RENAME_EXCHANGE
	must(os.Rename(mnt("a"), mnt("b")))
	backContent("b", "hello")
	must(os.WriteFile(mnt("c"), []byte("other"), 0o644))
	err = unix.Renameat2(unix.AT_FDCWD, mnt("b"), unix.AT_FDCWD, mnt("c"), unix.RENAME_NOREPLACE)
	if !isErrno(err, unix.EEXIST) {
		t.Fatalf("RENAME_NOREPLACE onto existing: %v, want EEXIST", err)
	}
	backContent("c", "other")
	err = unix.Renameat2(unix.AT_FDCWD, mnt("b"), unix.AT_FDCWD, mnt("c"), unix.RENAME_EXCHANGE)
	if isErrno(err, unix.EINVAL) || isErrno(err, unix.ENOSYS) {
		t.Logf("RENAME_EXCHANGE not supported here: %v", err)
	} else {
		must(err)
		backContent("b", "other")
		backContent("c", "hello")
	}

	// link, symlink, readlink
	must(os.Link(mnt("c"), mnt("c2")))
	must(unix.Stat(back("c"), &st))
	if st.Nlink != 2 {
		t.Fatalf("nlink %d after link, want 2", st.Nlink)
	}
	must(os.Symlink("c", mnt("sl")))
	if tgt, err := os.Readlink(back("sl")); err != nil || tgt != "c" {
		t.Fatalf("backing symlink %q, %v", tgt, err)
	}
	if tgt, err := os.Readlink(mnt("sl")); err != nil || tgt != "c" {
		t.Fatalf("readlink through mount %q, %v", tgt, err)
	}

	// mkdir, rmdir, unlink
	must(os.Mkdir(mnt("d"), 0o750))
	must(unix.Stat(back("d"), &st))
	if st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Mode&0o777 != 0o750 {
		t.Fatalf("mkdir mode %o", st.Mode)
	}
	must(os.WriteFile(mnt("d/inner"), []byte("x"), 0o600))
	backContent("d/inner", "x")
	if err := unix.Rmdir(mnt("d")); !isErrno(err, unix.ENOTEMPTY) {
		t.Fatalf("rmdir non-empty: %v", err)
	}
	must(os.Remove(mnt("d/inner")))
	must(os.Remove(mnt("d")))
	must(os.Remove(mnt("c2")))
	for _, p := range []string{"d", "c2"} {
		if _, err := os.Lstat(back(p)); !os.IsNotExist(err) {
			t.Fatalf("%s still in backing: %v", p, err)
		}
	}

	// chmod, chown, utimes
	must(os.Chmod(mnt("c"), 0o604))
	must(os.Chown(mnt("c"), 1234, 5678))
	mt := time.Date(2020, 1, 2, 3, 4, 5, 6000, time.UTC)
	must(os.Chtimes(mnt("c"), mt, mt))
	must(unix.Stat(back("c"), &st))
	if st.Mode&0o7777 != 0o604 || st.Uid != 1234 || st.Gid != 5678 {
		t.Fatalf("chmod/chown: mode %o uid %d gid %d", st.Mode&0o7777, st.Uid, st.Gid)
	}
	if got := time.Unix(st.Mtim.Unix()); !got.Equal(mt) {
		t.Fatalf("mtime %v, want %v", got, mt)
	}

	// xattrs
	must(unix.Setxattr(mnt("c"), "user.k", []byte("v1"), 0))
	buf := make([]byte, 64)
	n, err := unix.Getxattr(back("c"), "user.k", buf)
	if err != nil || string(buf[:n]) != "v1" {
		t.Fatalf("backing xattr %q, %v", buf[:n], err)
	}
	n, err = unix.Getxattr(mnt("c"), "user.k", buf)
	if err != nil || string(buf[:n]) != "v1" {
		t.Fatalf("xattr through mount %q, %v", buf[:n], err)
	}
	n, err = unix.Listxattr(mnt("c"), buf)
	if err != nil || !bytes.Contains(buf[:n], []byte("user.k\x00")) {
		t.Fatalf("listxattr %q, %v", buf[:n], err)
	}
	must(unix.Removexattr(mnt("c"), "user.k"))
	if _, err := unix.Getxattr(back("c"), "user.k", buf); !isErrno(err, unix.ENODATA) {
		t.Fatalf("xattr still in backing: %v", err)
	}

	// changes in the backing directory show through the mount (after the
	// entry cache expires for names the kernel has already seen).
	must(os.WriteFile(back("fromback"), []byte("b"), 0o644))
	if got, err := os.ReadFile(mnt("fromback")); err != nil || string(got) != "b" {
		t.Fatalf("backing file through mount: %q, %v", got, err)
	}
	must(os.WriteFile(back("fromback"), []byte("changed"), 0o644))
	must(os.Remove(back("c")))
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, _ := os.ReadFile(mnt("fromback"))
		_, err := os.Stat(mnt("c"))
		if string(got) == "changed" && os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("backing changes not visible: content %q, removed file stat err %v", got, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestReaddirLarge lists 10,000 entries and compares with the backing.
func TestReaddirLarge(t *testing.T) {
	m := mountT(t, MountOptions{})
	const n = 10000
	want := make([]string, 0, n)
	for i := range n {
		name := fmt.Sprintf("file-%05d", i)
		want = append(want, name)
		if err := os.WriteFile(filepath.Join(m.backing, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ents, err := os.ReadDir(m.mnt)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]string, 0, len(ents))
	for _, e := range ents {
		got = append(got, e.Name())
	}
	sort.Strings(got)
	if len(got) != n {
		t.Fatalf("readdir returned %d entries, want %d", len(got), n)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("entry %d = %q, want %q", i, got[i], want[i])
		}
	}
}
