package sanity

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	csipb "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/status"
)

func statusCode(err error) string { return status.Code(err).String() }

// asUser runs a shell command as uid:gid with supplementary groups.
func asUser(uid, gid uint32, groups []uint32, script string) (string, error) {
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: groups}}
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// TestMountGroupNonRoot: a local volume staged with VOLUME_MOUNT_GROUP is
// writable by a non-root process that has the group as a supplementary
// group, files it creates belong to it, and a process without the group
// cannot write.
func TestMountGroupNonRoot(t *testing.T) {
	requireFUSE(t)
	base := testDir(t)
	// Let other users walk down to the target.
	for _, d := range []string{base, base + "/.."} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dr := startDriver(t, options(base))
	const uid, gid, fsGroup = 1234, 1234, 4321
	c := mountCap(csipb.VolumeCapability_AccessMode_SINGLE_NODE_WRITER, "4321")
	v := dr.stagePublish(t, base, "v", nil, c, false)
	for _, d := range []string{base + "/v"} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	out, err := asUser(uid, gid, []uint32{fsGroup}, `set -e
cd `+v.target+`
echo hello > f
mkdir d
echo nested > d/g
stat -c '%u:%g' f d d/g`)
	if err != nil {
		ls, _ := exec.Command("ls", "-ldn", v.target, v.staging, base+"/data/volumes/"+v.id[strings.LastIndex(v.id, ":")+1:]).CombinedOutput()
		t.Fatalf("non-root writer with the mount group: %v: %s\n%s", err, out, ls)
	}
	// Owned by the writer; the group is inherited from the setgid root.
	if want := "1234:4321\n1234:4321\n1234:4321"; out != want {
		t.Errorf("owners through the mount:\n%s\nwant\n%s", out, want)
	}
	backing := base + "/data/volumes/" + v.id[strings.LastIndex(v.id, ":")+1:]
	var st syscall.Stat_t
	if err := syscall.Stat(backing+"/d/g", &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != uid || st.Gid != fsGroup {
		t.Errorf("backing file owned by %d:%d, want %d:%d", st.Uid, st.Gid, uid, fsGroup)
	}

	if out, err := asUser(1235, 1235, nil, "echo x > "+v.target+"/intruder"); err == nil {
		t.Errorf("a process without the mount group could write: %s", out)
	} else if !strings.Contains(out, "Permission denied") {
		t.Errorf("write without the group: %v: %s, want Permission denied", err, out)
	}
	if _, err := os.Stat(backing + "/intruder"); !os.IsNotExist(err) {
		t.Errorf("intruder file exists: %v", err)
	}
	dr.teardown(t, v)
}
