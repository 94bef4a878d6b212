package sanity

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// TestUnstageWhileReferencedElsewhere: a container that has not exited yet
// holds its own copy of the bind in its mount namespace. Unpublish and
// unstage still succeed on the node, and the FUSE session keeps serving the
// container until it goes away.
func TestUnstageWhileReferencedElsewhere(t *testing.T) {
	requireFUSE(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("needs unshare and nsenter (util-linux) to hold a mount in another namespace")
	}
	base := testDir(t)
	dr := startDriver(t, options(base))
	v := dr.stagePublish(t, base, "v", nil, rwCap, false)
	if err := os.WriteFile(v.target+"/f", []byte("still here"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The "container": a process in a private copy of the mount table,
	// with the volume bound at its own path, as a runtime does.
	inside := filepath.Join(base, "container-volume")
	if err := os.Mkdir(inside, 0o755); err != nil {
		t.Fatal(err)
	}
	holder := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c",
		`mount --bind "$1" "$2" && echo ready && exec sleep 600`, "sh", v.target, inside)
	stdout, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		holder.Process.Kill()
		holder.Wait()
	})
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("holder: %q, %v", line, err)
	}
	pid := strconv.Itoa(holder.Process.Pid)

	dr.teardown(t, v)
	if ms := mountsUnder(t, base); len(ms) != 0 {
		t.Fatalf("mounts left in the node's namespace: %v", ms)
	}
	out, err := exec.Command("nsenter", "-t", pid, "-m", "cat", inside+"/f").CombinedOutput()
	if err != nil || string(out) != "still here" {
		t.Errorf("read in the other namespace after unstage: %q, %v", out, err)
	}
	// The volume can be staged again meanwhile, with a new session.
	v2 := dr.stagePublish(t, base, "v", nil, rwCap, false)
	if b, err := os.ReadFile(v2.target + "/f"); err != nil || string(b) != "still here" {
		t.Errorf("read after re-stage: %q, %v", b, err)
	}
	dr.teardown(t, v2)
}
