package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
	mountutils "k8s.io/mount-utils"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/fusebpf"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func TestUsage(t *testing.T) {
	code, _, stderr := runCLI()
	if code != 2 || !strings.Contains(stderr, "Commands:") {
		t.Errorf("no arguments: code %d, stderr %q", code, stderr)
	}
	code, stdout, _ := runCLI("--help")
	for _, c := range []string{"serve", "mount", "version"} {
		if code != 0 || !strings.Contains(stdout, "\n  "+c+" ") {
			t.Errorf("--help: code %d, command %s missing from\n%s", code, c, stdout)
		}
	}
	if code, _, stderr := runCLI("frobnicate"); code != 2 || !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: code %d, stderr %q", code, stderr)
	}
	if code, _, stderr := runCLI("serve", "--nodeid", "n"); code != 2 || !strings.Contains(stderr, "--endpoint is required") {
		t.Errorf("serve without endpoint: code %d, stderr %q", code, stderr)
	}
	if code, _, stderr := runCLI("serve", "--bogus"); code != 2 || !strings.Contains(stderr, "bogus") {
		t.Errorf("serve with an unknown flag: code %d, stderr %q", code, stderr)
	}
}

func requireFUSE(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount FUSE")
	}
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("kernel offers no FUSE: %v", err)
	}
	f.Close()
}

// TestMountBadInput: each mistake gives exit status 1 or 2 and one line
// saying what is wrong.
func TestMountBadInput(t *testing.T) {
	requireFUSE(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	busy := filepath.Join(dir, "busy")
	if err := os.Mkdir(busy, 0o755); err != nil {
		t.Fatal(err)
	}
	elf, err := os.ReadFile(testObj("custom_noexec.o"))
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.o")
	os.WriteFile(truncated, elf[:len(elf)/3], 0o644)
	srv, err := fusebpf.Mount(context.Background(), fusebpf.MountOptions{Backing: dir, Mountpoint: busy})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Unmount() })

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no arguments", []string{"mount"}, 2, "want BACKING and MOUNTPOINT"},
		{"unknown policy", []string{"mount", "--policy", "nope", dir, dir}, 1, `unknown built-in policy "nope"`},
		{"missing policy file", []string{"mount", "--policy", "./nope.o", dir, dir}, 1, "no such file"},
		{"truncated object", []string{"mount", "--policy", truncated, dir, dir}, 1, "truncated or corrupt"},
		{"no fuse_ops", []string{"mount", "--policy", testObj("bad_no_ops.o"), dir, dir}, 1, "exactly one struct_ops instance"},
		{"unknown member", []string{"mount", "--policy", testObj("bad_member.o"), dir, dir}, 1, `no member "teleport_prefilter"`},
		{"not GPL", []string{"mount", "--policy", testObj("bad_license.o"), dir, dir}, 1, `license "MIT"`},
		{"unknown parameter", []string{"mount", "--policy", "hide", "--param", "patterns=x", dir, dir}, 1, `no parameter "patterns"`},
		{"ill-typed parameter", []string{"mount", "--policy", "uid-gate", "--param", "allowRoot=perhaps", dir, dir}, 1, `"allowRoot"`},
		{"oversized parameter", []string{"mount", "--policy", testObj("custom_noexec.o"), "--param", "suffix=.abcdefghijklmnopq", dir, dir}, 1, "at most 15"},
		{"missing backing", []string{"mount", filepath.Join(dir, "nope"), dir}, 1, "backing " + filepath.Join(dir, "nope") + ": no such directory"},
		{"backing is a file", []string{"mount", file, dir}, 1, "backing " + file + ": not a directory"},
		{"missing mountpoint", []string{"mount", dir, filepath.Join(dir, "nope")}, 1, "mountpoint " + filepath.Join(dir, "nope") + ": no such directory"},
		{"busy mountpoint", []string{"mount", dir, busy}, 1, "mountpoint " + busy + " is busy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Errorf("code %d, stderr %q; want %d and %q", code, stderr, tc.code, tc.want)
			}
			if lines := strings.Count(strings.TrimSpace(stderr), "\n") + 1; lines != 1 {
				t.Errorf("%d lines of error, want 1: %q", lines, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout %q", stdout)
			}
		})
	}
}

func build(t *testing.T, ldflags string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fusebpf-csi")
	cmd := exec.Command("go", "build", "-ldflags", ldflags, "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestVersionFromLdflags(t *testing.T) {
	bin := build(t, "-X github.com/fusebpf-csi/fusebpf-csi/pkg/version.Version=v1.2.3-test")
	for _, arg := range []string{"--version", "version"} {
		out, err := exec.Command(bin, arg).Output()
		if err != nil || !strings.HasPrefix(string(out), "fusebpf-csi v1.2.3-test ") {
			t.Errorf("%s: %q, %v", arg, out, err)
		}
	}
}

func mounted(t *testing.T, path string) *mountutils.MountInfo {
	t.Helper()
	mi, err := mountutils.ParseMountInfo("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for i := range mi {
		if mi[i].MountPoint == path {
			return &mi[i]
		}
	}
	return nil
}

// TestMountForeground runs "fusebpf-csi mount", uses the view, and stops it
// with SIGINT and SIGTERM.
func TestMountForeground(t *testing.T) {
	requireFUSE(t)
	bin := build(t, "")
	for _, tc := range []struct {
		name string
		sig  syscall.Signal
		ro   bool
	}{{"SIGINT", syscall.SIGINT, false}, {"SIGTERM read-only", syscall.SIGTERM, true}} {
		t.Run(tc.name, func(t *testing.T) {
			backing, mp := t.TempDir(), t.TempDir()
			t.Cleanup(func() { fusebpf.Unmount(mp) })
			if err := os.WriteFile(backing+"/a", []byte("from backing"), 0o644); err != nil {
				t.Fatal(err)
			}
			args := []string{"mount", backing, mp}
			if tc.ro {
				args = []string{"mount", "--read-only", backing, mp}
			}
			cmd := exec.Command(bin, args...)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := bufio.NewScanner(stdout)
			if !lines.Scan() || !strings.HasPrefix(lines.Text(), "mounted "+backing+" on "+mp) {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("first line %q, stderr %q", lines.Text(), stderr.String())
			}
			m := mounted(t, mp)
			if m == nil || m.FsType != fusebpf.FSType {
				t.Fatalf("mountinfo at %s: %+v", mp, m)
			}
			if b, err := os.ReadFile(mp + "/a"); err != nil || string(b) != "from backing" {
				t.Errorf("read through the view: %q, %v", b, err)
			}
			err = os.WriteFile(mp+"/b", []byte("x"), 0o644)
			if tc.ro && !errors.Is(err, unix.EROFS) {
				t.Errorf("write to a read-only view: %v, want EROFS", err)
			}
			if !tc.ro && err != nil {
				t.Errorf("write through the view: %v", err)
			}
			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			rest := ""
			for lines.Scan() {
				rest += lines.Text() + "\n"
			}
			if err := cmd.Wait(); err != nil {
				t.Errorf("exit after %s: %v, stderr %q", tc.sig, err, stderr.String())
			}
			if rest != "unmounted "+mp+"\n" {
				t.Errorf("output after the signal %q", rest)
			}
			if m := mounted(t, mp); m != nil {
				t.Errorf("still mounted after %s: %+v", tc.sig, m)
			}
		})
	}
}

// TestMountNeedsRoot: a non-root user gets one line, not a FUSE error.
func TestMountNeedsRoot(t *testing.T) {
	requireFUSE(t)
	bin := build(t, "")
	dir := t.TempDir()
	if err := os.Chmod(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(filepath.Dir(bin)), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "mount", dir, dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "must run as root") {
		t.Errorf("as nobody: %v, %q", err, out)
	}
}

// testObj is a policy object from bpf/testdata.
func testObj(name string) string {
	p, _ := filepath.Abs(filepath.Join("..", "..", "bpf", "testdata", name))
	return p
}

// TestMountCustomPolicyFile mounts with a policy compiled from
// bpf/testdata (not a built-in) and a parameter, and checks it behaves as
// written: no files ending in the suffix, no execute bits.
func TestMountCustomPolicyFile(t *testing.T) {
	requireFUSE(t)
	bin := build(t, "")
	backing, mp := t.TempDir(), t.TempDir()
	t.Cleanup(func() { fusebpf.Unmount(mp) })
	cmd := exec.Command(bin, "mount", "--policy", testObj("custom_noexec.o"), "--param", "suffix=.bin", backing, mp)
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || !strings.HasPrefix(lines.Text(), "mounted ") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("first line %q, stderr %q", lines.Text(), stderr.String())
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		for lines.Scan() {
		}
		cmd.Wait()
	}()
	if err := os.WriteFile(mp+"/tool.bin", nil, 0o755); !errors.Is(err, unix.EPERM) {
		t.Errorf("create tool.bin: %v, want EPERM", err)
	}
	if err := os.WriteFile(mp+"/tool.exe", []byte("x"), 0o755); err != nil {
		t.Errorf("create tool.exe (the default suffix was replaced): %v", err)
	}
	var st unix.Stat_t
	if err := unix.Stat(backing+"/tool.exe", &st); err != nil || st.Mode&0o111 != 0 {
		t.Errorf("tool.exe in the backing: mode %o, %v; want no execute bits", st.Mode, err)
	}
	if err := os.Chmod(mp+"/tool.exe", 0o755); !errors.Is(err, unix.EPERM) {
		t.Errorf("chmod +x: %v, want EPERM", err)
	}
	if _, err := os.Stat(backing + "/tool.bin"); !os.IsNotExist(err) {
		t.Errorf("refused create reached the backing directory: %v", err)
	}
}
