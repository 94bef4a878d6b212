package fusebpf

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// escapeFixture is a backing root with a sibling directory "outside" that
// the daemon must never touch.
type escapeFixture struct {
	*testMount
	outside string
}

func newEscapeFixture(t *testing.T) *escapeFixture {
	dir := t.TempDir()
	backing := filepath.Join(dir, "backing")
	outside := filepath.Join(dir, "outside")
	for _, d := range []string{backing, outside, filepath.Join(backing, "dir")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(outside, "secret"), []byte("SECRET"), 0o644)
	os.WriteFile(filepath.Join(backing, "dir", "inner"), []byte("inner"), 0o644)
	os.WriteFile(filepath.Join(backing, "file"), []byte("file"), 0o644)
	// A long cache lifetime keeps the kernel on the inodes it looked up
	// before the swap, so the requests below reach the daemon's nodes for
	// the old objects, which is where an escape would happen.
	m := mountT(t, MountOptions{Backing: backing, cacheTTL: time.Hour})
	return &escapeFixture{testMount: m, outside: outside}
}

// assertOutsideUntouched checks that outside still holds exactly "secret"
// with its content.
func (f *escapeFixture) assertOutsideUntouched(t *testing.T) {
	t.Helper()
	ents, err := os.ReadDir(f.outside)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != "secret" {
		names := []string{}
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("outside directory changed: %v", names)
	}
	if b, _ := os.ReadFile(filepath.Join(f.outside, "secret")); string(b) != "SECRET" {
		t.Fatalf("outside secret changed: %q", b)
	}
}

func TestNoEscapeDirSwappedForSymlink(t *testing.T) {
	f := newEscapeFixture(t)
	// The kernel looks the directory up and keeps it.
	if _, err := os.Stat(filepath.Join(f.mnt, "dir", "inner")); err != nil {
		t.Fatal(err)
	}
	// The workload (or anyone with access to the backing tree) swaps it for
	// a symlink to a directory outside the root.
	if err := os.Rename(filepath.Join(f.backing, "dir"), filepath.Join(f.backing, "dir.old")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(f.outside, filepath.Join(f.backing, "dir")); err != nil {
		t.Fatal(err)
	}
	d := filepath.Join(f.mnt, "dir")
	if b, err := os.ReadFile(filepath.Join(d, "secret")); err == nil {
		t.Fatalf("read outside file through swapped dir: %q", b)
	}
	if err := os.WriteFile(filepath.Join(d, "planted"), []byte("x"), 0o644); err != nil {
		t.Logf("create in swapped dir: %v", err)
	}
	os.Mkdir(filepath.Join(d, "planted-dir"), 0o755)
	os.Symlink("x", filepath.Join(d, "planted-link"))
	os.Remove(filepath.Join(d, "secret"))
	os.Rename(filepath.Join(d, "secret"), filepath.Join(f.mnt, "stolen"))
	ents, _ := os.ReadDir(d)
	for _, e := range ents {
		if e.Name() == "secret" {
			t.Fatal("readdir of swapped dir lists the outside directory")
		}
	}
	f.assertOutsideUntouched(t)
	// What was created went to the original directory, inside the root.
	if _, err := os.Stat(filepath.Join(f.backing, "dir.old", "planted")); err != nil {
		t.Fatalf("create did not land in the original directory: %v", err)
	}
}

func TestNoEscapeFileSwappedForSymlink(t *testing.T) {
	f := newEscapeFixture(t)
	p := filepath.Join(f.mnt, "file")
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(f.backing, "file"))
	if err := os.Symlink(filepath.Join(f.outside, "secret"), filepath.Join(f.backing, "file")); err != nil {
		t.Fatal(err)
	}
	// Every operation on the cached inode must fail rather than follow the
	// new symlink.
	if b, err := os.ReadFile(p); err == nil {
		t.Fatalf("read through swapped file: %q", b)
	}
	if err := os.WriteFile(p, []byte("overwrite"), 0o644); err == nil {
		t.Log("write re-created the name after the cache expired")
	}
	os.Truncate(p, 0)
	os.Chmod(p, 0o777)
	os.Chown(p, 1, 1)
	unix.Setxattr(p, "user.x", []byte("1"), 0)
	os.Chtimes(p, time.Unix(0, 0), time.Unix(0, 0))
	f.assertOutsideUntouched(t)
	var st unix.Stat_t
	unix.Stat(filepath.Join(f.outside, "secret"), &st)
	if st.Mode&0o777 != 0o644 || st.Uid != 0 || st.Mtim.Sec == 0 {
		t.Fatalf("outside secret's attributes changed: mode %o uid %d mtime %d", st.Mode&0o777, st.Uid, st.Mtim.Sec)
	}
}

func TestNoEscapeSymlinksAndDotDot(t *testing.T) {
	f := newEscapeFixture(t)
	os.Symlink(filepath.Join(f.outside, "secret"), filepath.Join(f.backing, "abs"))
	os.Symlink("../outside/secret", filepath.Join(f.backing, "rel"))
	for _, name := range []string{"abs", "rel"} {
		p := filepath.Join(f.mnt, name)
		// The daemon returns the link text; it never follows it.
		if _, err := unix.Open(p, unix.O_RDONLY|unix.O_NOFOLLOW, 0); !isErrno(err, unix.ELOOP) {
			t.Fatalf("%s: open O_NOFOLLOW: %v, want ELOOP", name, err)
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFLNK {
			t.Fatalf("%s: lstat through mount: mode %o, %v", name, st.Mode, err)
		}
	}
	// The daemon's own lookup refuses names that are not one component,
	// whatever the kernel sends.
	root := f.srv.srv // keep the server referenced
	_ = root
	n := &node{root: &fsRoot{}, dirFd: -1}
	if _, e := n.Lookup(context.Background(), "..", &fuse.EntryOut{}); e == 0 {
		t.Fatal("lookup of .. on a non-directory succeeded")
	}
	rootFd, err := unix.Open(f.backing, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(rootFd)
	rn := &node{root: &fsRoot{}, dirFd: rootFd}
	for _, name := range []string{"..", ".", "../outside", "dir/../../outside", "/"} {
		if _, e := rn.Lookup(context.Background(), name, &fuse.EntryOut{}); e != unix.EINVAL {
			t.Errorf("Lookup(%q) = %v, want EINVAL", name, e)
		}
	}
	// openDir itself stays beneath its directory.
	if fd, err := openDir(rootFd, "../outside"); err == nil {
		unix.Close(fd)
		t.Fatal("openDir escaped with ..")
	}
	if fd, err := openDir(rootFd, "abs"); err == nil {
		unix.Close(fd)
		t.Fatal("openDir followed a symlink")
	}
	f.assertOutsideUntouched(t)
}

// A hard link made before the mount is the same inode as the outside file;
// it is part of the backing tree by definition. Through it the workload
// reaches that one inode and nothing else of the outside directory.
func TestHardLinkFromOutside(t *testing.T) {
	f := newEscapeFixture(t)
	if err := os.Link(filepath.Join(f.outside, "secret"), filepath.Join(f.backing, "hl")); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(f.mnt, "hl")
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	// Renaming, unlinking or relinking it only changes names inside the root.
	if err := os.Rename(p, filepath.Join(f.mnt, "hl2")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(f.mnt, "hl2")); err != nil {
		t.Fatal(err)
	}
	f.assertOutsideUntouched(t)
}
