package fusebpf

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

const testUID, testGID = 4321, 4322

// asUser runs a shell command as testUID:testGID (with extra groups).
func asUser(t *testing.T, script string, groups ...uint32) error {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: testUID, Gid: testGID, Groups: groups}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Logf("%s: %v: %s", script, err, strings.TrimSpace(string(out)))
	}
	return err
}

// openPath makes every parent of p traversable for the test user.
func openPath(t *testing.T, p string) {
	for d := filepath.Dir(p); d != "/" && strings.HasPrefix(d, os.TempDir()); d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
}

func TestNonRootCreateOwnership(t *testing.T) {
	m := mountT(t, MountOptions{})
	openPath(t, m.mnt)
	os.Chmod(m.backing, 0o777)
	if err := asUser(t, "echo hi > "+filepath.Join(m.mnt, "f")+" && mkdir "+filepath.Join(m.mnt, "d")+" && ln -s f "+filepath.Join(m.mnt, "l")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"f", "d", "l"} {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(m.backing, name), &st); err != nil {
			t.Fatal(err)
		}
		if st.Uid != testUID || st.Gid != testGID {
			t.Errorf("%s owned by %d:%d, want %d:%d", name, st.Uid, st.Gid, testUID, testGID)
		}
	}
}

func TestNonRootSetgidDirGroup(t *testing.T) {
	// fsGroup: a setgid directory owned by the group makes new files
	// belong to it, and a member of the group can write there.
	const fsGroup = 5555
	m := mountT(t, MountOptions{})
	openPath(t, m.mnt)
	os.Chown(m.backing, 0, fsGroup)
	unix.Chmod(m.backing, 0o2775)
	if err := asUser(t, "echo hi > "+filepath.Join(m.mnt, "f"), fsGroup); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	unix.Stat(filepath.Join(m.backing, "f"), &st)
	if st.Uid != testUID || st.Gid != fsGroup {
		t.Fatalf("file owned by %d:%d, want %d:%d", st.Uid, st.Gid, testUID, fsGroup)
	}
	// Without the group the write is refused by the kernel's permission
	// check (default_permissions).
	if err := asUser(t, "echo hi > "+filepath.Join(m.mnt, "g")); err == nil {
		t.Fatal("non-member wrote to a 2775 directory")
	}
}

// With HANDLE_KILLPRIV_V2 the daemon must clear setuid/setgid when an
// unprivileged caller writes or truncates, through passthrough too.
func TestKillPrivOnUnprivilegedWrite(t *testing.T) {
	m := mountT(t, MountOptions{})
	openPath(t, m.mnt)
	mk := func(name string, mode uint32) string {
		p := filepath.Join(m.backing, name)
		os.WriteFile(p, []byte("data"), 0o644)
		os.Chown(p, testUID, testGID)
		if err := os.Chmod(p, os.FileMode(mode&0o777)|modeBits(mode)); err != nil {
			t.Fatal(err)
		}
		return filepath.Join(m.mnt, name)
	}
	mode := func(name string) uint32 {
		var st unix.Stat_t
		unix.Stat(filepath.Join(m.backing, name), &st)
		return st.Mode & 0o7777
	}
	cases := []struct {
		name, script string
		mode, want   uint32
	}{
		{"suid-append", "echo x >> %s", 0o4755, 0o755},
		{"suid-overwrite", "echo x > %s", 0o4755, 0o755},
		{"sgid-gx-write", "echo x >> %s", 0o2775, 0o775},
		{"sgid-no-gx-kept", "echo x >> %s", 0o2765, 0o2765},
		{"suid-truncate", "truncate -s 1 %s", 0o4755, 0o755},
	}
	for _, c := range cases {
		p := mk(c.name, c.mode)
		if got := mode(c.name); got != c.mode {
			t.Fatalf("%s: set-up mode %o", c.name, got)
		}
		if err := asUser(t, strings.ReplaceAll(c.script, "%s", p)); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := mode(c.name); got != c.want {
			t.Errorf("%s: mode after unprivileged write %o, want %o", c.name, got, c.want)
		}
	}
	// A privileged (root) writer keeps the bits, as on a local file system.
	p := mk("root-write", 0o4755)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("x")
	f.Close()
	if got := mode("root-write"); got != 0o4755 {
		t.Errorf("root write changed mode to %o", got)
	}
}

func modeBits(mode uint32) os.FileMode {
	var m os.FileMode
	if mode&0o4000 != 0 {
		m |= os.ModeSetuid
	}
	if mode&0o2000 != 0 {
		m |= os.ModeSetgid
	}
	return m
}
