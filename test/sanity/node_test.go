package sanity

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	csipb "github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	mountutils "k8s.io/mount-utils"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/fusebpf"
)

var bg = context.Background()

func wantCode(t *testing.T, err error, code codes.Code, mention string) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("error %v: code %s, want %s", err, status.Code(err), code)
	}
	if mention != "" && !strings.Contains(status.Convert(err).Message(), mention) {
		t.Fatalf("error %q does not mention %q", status.Convert(err).Message(), mention)
	}
}

// vol is a volume created, staged and published through the driver.
type vol struct {
	id, staging, target string
}

func (dr *driver) create(t *testing.T, name string, params map[string]string) string {
	t.Helper()
	r, err := dr.ctrl.CreateVolume(bg, &csipb.CreateVolumeRequest{
		Name: name, Parameters: params, VolumeCapabilities: []*csipb.VolumeCapability{rwCap},
	})
	if err != nil {
		t.Fatalf("CreateVolume %s: %v", name, err)
	}
	return r.GetVolume().GetVolumeId()
}

// stagePublish creates a volume and mounts it at base/<name>/{staging,target}.
func (dr *driver) stagePublish(t *testing.T, base, name string, params map[string]string, c *csipb.VolumeCapability, ro bool) vol {
	t.Helper()
	v := vol{id: dr.create(t, name, params), staging: filepath.Join(base, name, "staging"), target: filepath.Join(base, name, "target")}
	if err := os.MkdirAll(v.staging, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := params // the volume context equals the parameters for these tests
	if _, err := dr.node.NodeStageVolume(bg, &csipb.NodeStageVolumeRequest{
		VolumeId: v.id, StagingTargetPath: v.staging, VolumeCapability: c, VolumeContext: ctx,
	}); err != nil {
		t.Fatalf("NodeStageVolume %s: %v", name, err)
	}
	if _, err := dr.node.NodePublishVolume(bg, &csipb.NodePublishVolumeRequest{
		VolumeId: v.id, StagingTargetPath: v.staging, TargetPath: v.target, VolumeCapability: c, Readonly: ro, VolumeContext: ctx,
	}); err != nil {
		t.Fatalf("NodePublishVolume %s: %v", name, err)
	}
	return v
}

func (dr *driver) teardown(t *testing.T, v vol) {
	t.Helper()
	if _, err := dr.node.NodeUnpublishVolume(bg, &csipb.NodeUnpublishVolumeRequest{VolumeId: v.id, TargetPath: v.target}); err != nil {
		t.Fatalf("NodeUnpublishVolume: %v", err)
	}
	if _, err := dr.node.NodeUnstageVolume(bg, &csipb.NodeUnstageVolumeRequest{VolumeId: v.id, StagingTargetPath: v.staging}); err != nil {
		t.Fatalf("NodeUnstageVolume: %v", err)
	}
}

func mountAt(t *testing.T, path string) *mountutils.MountInfo {
	t.Helper()
	mi, err := mountutils.ParseMountInfo("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var top *mountutils.MountInfo
	for i := range mi {
		if mi[i].MountPoint == path {
			top = &mi[i]
		}
	}
	return top
}

func isRO(m *mountutils.MountInfo) bool {
	for _, o := range m.MountOptions {
		if o == "ro" {
			return true
		}
	}
	return false
}

// TestBadInput: every malformed request is InvalidArgument and names what
// is wrong.
func TestBadInput(t *testing.T) {
	requireFUSE(t)
	base := testDir(t)
	outside := t.TempDir()
	if err := os.MkdirAll(base+"/datasets/ds", 0o755); err != nil {
		t.Fatal(err)
	}
	dr := startDriver(t, options(base))
	caps := []*csipb.VolumeCapability{rwCap}
	for _, tc := range []struct {
		name    string
		req     *csipb.CreateVolumeRequest
		mention string
	}{
		{"unknown key", &csipb.CreateVolumeRequest{Name: "a", VolumeCapabilities: caps, Parameters: map[string]string{"readOnly": "true"}}, `"readOnly"`},
		{"bad backing", &csipb.CreateVolumeRequest{Name: "a", VolumeCapabilities: caps, Parameters: map[string]string{"backing": "nfs"}}, `"backing"`},
		{"backingPath outside roots", &csipb.CreateVolumeRequest{Name: "a", VolumeCapabilities: caps,
			Parameters: map[string]string{"backing": "hostPath", "backingPath": outside}}, `"backingPath"`},
		{"backingPath escaping with ..", &csipb.CreateVolumeRequest{Name: "a", VolumeCapabilities: caps,
			Parameters: map[string]string{"backing": "hostPath", "backingPath": base + "/datasets/../data"}}, `"backingPath"`},
		{"hostPath without backingPath", &csipb.CreateVolumeRequest{Name: "a", VolumeCapabilities: caps,
			Parameters: map[string]string{"backing": "hostPath"}}, `"backingPath"`},
		{"bad enforcement", &csipb.CreateVolumeRequest{Name: "a", VolumeCapabilities: caps, Parameters: map[string]string{"enforcement": "strict"}}, `"enforcement"`},
		{"unknown policy", &csipb.CreateVolumeRequest{Name: "a", VolumeCapabilities: caps, Parameters: map[string]string{"policy": "nope"}}, `"policy"`},
		{"parameter for allow-all", &csipb.CreateVolumeRequest{Name: "a", VolumeCapabilities: caps, Parameters: map[string]string{"policy.hidePatterns": "*"}}, `"policy.hidePatterns"`},
		{"no name", &csipb.CreateVolumeRequest{VolumeCapabilities: caps}, "name"},
		{"no capability", &csipb.CreateVolumeRequest{Name: "a"}, "capabilities"},
		{"block access", &csipb.CreateVolumeRequest{Name: "a", VolumeCapabilities: []*csipb.VolumeCapability{{
			AccessType: &csipb.VolumeCapability_Block{Block: &csipb.VolumeCapability_BlockVolume{}},
			AccessMode: &csipb.VolumeCapability_AccessMode{Mode: csipb.VolumeCapability_AccessMode_SINGLE_NODE_WRITER}}}}, "block"},
		{"multi-node mode", &csipb.CreateVolumeRequest{Name: "a", VolumeCapabilities: []*csipb.VolumeCapability{
			mountCap(csipb.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER, "")}}, "MULTI_NODE_MULTI_WRITER"},
		{"non-numeric mount group", &csipb.CreateVolumeRequest{Name: "a", VolumeCapabilities: []*csipb.VolumeCapability{
			mountCap(csipb.VolumeCapability_AccessMode_SINGLE_NODE_WRITER, "staff")}}, "staff"},
	} {
		t.Run("CreateVolume/"+tc.name, func(t *testing.T) {
			_, err := dr.ctrl.CreateVolume(bg, tc.req)
			wantCode(t, err, codes.InvalidArgument, tc.mention)
		})
	}

	id := dr.create(t, "good", nil)
	staging := filepath.Join(base, "s")
	for _, tc := range []struct {
		name    string
		req     *csipb.NodeStageVolumeRequest
		mention string
	}{
		{"no capability", &csipb.NodeStageVolumeRequest{VolumeId: id, StagingTargetPath: staging}, "capability"},
		{"no staging path", &csipb.NodeStageVolumeRequest{VolumeId: id, VolumeCapability: rwCap}, "staging"},
		{"relative staging path", &csipb.NodeStageVolumeRequest{VolumeId: id, StagingTargetPath: "s", VolumeCapability: rwCap}, "absolute"},
		{"unknown context key", &csipb.NodeStageVolumeRequest{VolumeId: id, StagingTargetPath: staging, VolumeCapability: rwCap,
			VolumeContext: map[string]string{"policyy": "allow-all"}}, `"policyy"`},
		{"context backing differs from ID", &csipb.NodeStageVolumeRequest{VolumeId: id, StagingTargetPath: staging, VolumeCapability: rwCap,
			VolumeContext: map[string]string{"backing": "hostPath", "backingPath": base + "/datasets/ds"}}, `"backing"`},
		{"mount flag", &csipb.NodeStageVolumeRequest{VolumeId: id, StagingTargetPath: staging, VolumeCapability: &csipb.VolumeCapability{
			AccessType: &csipb.VolumeCapability_Mount{Mount: &csipb.VolumeCapability_MountVolume{MountFlags: []string{"uid=5"}}},
			AccessMode: rwCap.AccessMode}}, "uid=5"},
	} {
		t.Run("NodeStageVolume/"+tc.name, func(t *testing.T) {
			_, err := dr.node.NodeStageVolume(bg, tc.req)
			wantCode(t, err, codes.InvalidArgument, tc.mention)
		})
	}
	t.Run("NodeStageVolume/kernel tier", func(t *testing.T) {
		_, err := dr.node.NodeStageVolume(bg, &csipb.NodeStageVolumeRequest{VolumeId: id, StagingTargetPath: staging,
			VolumeCapability: rwCap, VolumeContext: map[string]string{"enforcement": "kernel"}})
		wantCode(t, err, codes.FailedPrecondition, "kernel")
	})
	t.Run("NodeStageVolume/other node", func(t *testing.T) {
		other := strings.Replace(id, testNode, "other-node", 1)
		_, err := dr.node.NodeStageVolume(bg, &csipb.NodeStageVolumeRequest{VolumeId: other, StagingTargetPath: staging, VolumeCapability: rwCap})
		wantCode(t, err, codes.NotFound, "other-node")
	})
	t.Run("NodePublishVolume/not staged", func(t *testing.T) {
		_, err := dr.node.NodePublishVolume(bg, &csipb.NodePublishVolumeRequest{VolumeId: id, StagingTargetPath: staging,
			TargetPath: filepath.Join(base, "t"), VolumeCapability: rwCap})
		wantCode(t, err, codes.FailedPrecondition, "not staged")
		if _, err := os.Stat(filepath.Join(base, "t")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("target created for a volume that is not staged: %v", err)
		}
	})
	t.Run("DeleteVolume/other node", func(t *testing.T) {
		_, err := dr.ctrl.DeleteVolume(bg, &csipb.DeleteVolumeRequest{VolumeId: strings.Replace(id, testNode, "other-node", 1)})
		wantCode(t, err, codes.FailedPrecondition, "other-node")
	})
	t.Run("CreateVolume/same name, other parameters", func(t *testing.T) {
		_, err := dr.ctrl.CreateVolume(bg, &csipb.CreateVolumeRequest{Name: "good", VolumeCapabilities: caps,
			Parameters: map[string]string{"backing": "hostPath", "backingPath": base + "/datasets/ds"}})
		wantCode(t, err, codes.AlreadyExists, "")
	})
	t.Run("CreateVolume/topology of another node", func(t *testing.T) {
		_, err := dr.ctrl.CreateVolume(bg, &csipb.CreateVolumeRequest{Name: "topo", VolumeCapabilities: caps,
			AccessibilityRequirements: &csipb.TopologyRequirement{Requisite: []*csipb.Topology{{Segments: map[string]string{"fusebpf.csi.io/node": "elsewhere"}}}}})
		wantCode(t, err, codes.ResourceExhausted, "")
	})
}

// TestHostPathViews: two filtered views of one dataset, one read-only; the
// dataset survives DeleteVolume.
func TestHostPathViews(t *testing.T) {
	requireFUSE(t)
	base := testDir(t)
	ds := base + "/datasets/ds"
	if err := os.MkdirAll(ds, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ds+"/existing", []byte("dataset"), 0o644); err != nil {
		t.Fatal(err)
	}
	dr := startDriver(t, options(base))
	params := map[string]string{"backing": "hostPath", "backingPath": ds, "csi.storage.k8s.io/pvc/name": "claim"}
	rw := dr.stagePublish(t, base, "rw", params, rwCap, false)
	ro := dr.stagePublish(t, base, "ro", params, rwCap, true)

	if m := mountAt(t, rw.target); m == nil || m.FsType != fusebpf.FSType || isRO(m) {
		t.Fatalf("rw target mount: %+v", m)
	}
	if m := mountAt(t, ro.target); m == nil || m.FsType != fusebpf.FSType || !isRO(m) {
		t.Fatalf("read-only target mount: %+v", m)
	}
	if err := os.WriteFile(rw.target+"/new", []byte("hello"), 0o644); err != nil {
		t.Fatalf("write through rw view: %v", err)
	}
	if b, err := os.ReadFile(ds + "/new"); err != nil || string(b) != "hello" {
		t.Errorf("dataset has %q, %v; want the file written through the view", b, err)
	}
	if b, err := os.ReadFile(ro.target + "/existing"); err != nil || string(b) != "dataset" {
		t.Errorf("read through ro view: %q, %v", b, err)
	}
	if err := os.WriteFile(ro.target+"/nope", nil, 0o644); !errors.Is(err, unix.EROFS) {
		t.Errorf("write through read-only view: %v, want EROFS", err)
	}

	// Publishing the same target again is idempotent; asking for it
	// with another read-only flag is a conflict.
	if _, err := dr.node.NodePublishVolume(bg, &csipb.NodePublishVolumeRequest{VolumeId: ro.id, StagingTargetPath: ro.staging,
		TargetPath: ro.target, VolumeCapability: rwCap, Readonly: true, VolumeContext: params}); err != nil {
		t.Errorf("repeated NodePublishVolume: %v", err)
	}
	_, err := dr.node.NodePublishVolume(bg, &csipb.NodePublishVolumeRequest{VolumeId: ro.id, StagingTargetPath: ro.staging,
		TargetPath: ro.target, VolumeCapability: rwCap, Readonly: false, VolumeContext: params})
	wantCode(t, err, codes.AlreadyExists, "read-only")

	// Stats come from the backing file system.
	st, err := dr.node.NodeGetVolumeStats(bg, &csipb.NodeGetVolumeStatsRequest{VolumeId: rw.id, VolumePath: rw.target})
	if err != nil {
		t.Fatal(err)
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(ds, &sfs); err != nil {
		t.Fatal(err)
	}
	if u := st.GetUsage(); len(u) != 2 || u[0].GetTotal() != int64(sfs.Blocks)*sfs.Bsize || u[1].GetTotal() != int64(sfs.Files) {
		t.Errorf("stats %v, want totals %d bytes and %d inodes", u, int64(sfs.Blocks)*sfs.Bsize, sfs.Files)
	}

	// A staged volume cannot be deleted; after teardown it can, and the
	// dataset stays.
	_, err = dr.ctrl.DeleteVolume(bg, &csipb.DeleteVolumeRequest{VolumeId: rw.id})
	wantCode(t, err, codes.FailedPrecondition, "in use")
	dr.teardown(t, rw)
	dr.teardown(t, ro)
	for _, v := range []vol{rw, ro} {
		if _, err := dr.ctrl.DeleteVolume(bg, &csipb.DeleteVolumeRequest{VolumeId: v.id}); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(v.target); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("target %s not removed: %v", v.target, err)
		}
	}
	if b, err := os.ReadFile(ds + "/existing"); err != nil || string(b) != "dataset" {
		t.Errorf("dataset damaged by DeleteVolume: %q, %v", b, err)
	}
	if ms := mountsUnder(t, base); len(ms) != 0 {
		t.Errorf("mounts left: %v", ms)
	}
}

// abortFUSE kills the FUSE connection behind a mount, as if its server
// had died: every access then fails with ENOTCONN.
func abortFUSE(t *testing.T, mountpoint string) {
	t.Helper()
	m := mountAt(t, mountpoint)
	if m == nil {
		t.Fatalf("nothing mounted at %s", mountpoint)
	}
	ctl := t.TempDir()
	if err := unix.Mount("fusectl", ctl, "fusectl", 0, ""); err != nil {
		t.Skipf("kernel has no fusectl file system to abort a FUSE connection: %v", err)
	}
	defer unix.Unmount(ctl, 0)
	dev := unix.Mkdev(uint32(m.Major), uint32(m.Minor))
	abort := filepath.Join(ctl, fmt.Sprint(dev), "abort")
	if err := os.WriteFile(abort, []byte("1"), 0); err != nil {
		t.Fatalf("abort %s: %v", mountpoint, err)
	}
}

// TestDeadMount: a volume whose FUSE server is gone is reported abnormal,
// refuses new publications (fail closed), is cleaned up by unpublish and
// unstage, and can be staged afresh.
func TestDeadMount(t *testing.T) {
	requireFUSE(t)
	base := testDir(t)
	dr := startDriver(t, options(base))
	v := dr.stagePublish(t, base, "v", nil, rwCap, false)
	if err := os.WriteFile(v.target+"/f", []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	abortFUSE(t, v.staging)
	if _, err := os.Stat(v.target + "/f"); !errors.Is(err, unix.ENOTCONN) {
		t.Fatalf("stat through aborted mount: %v, want ENOTCONN", err)
	}

	_, err := dr.node.NodeGetVolumeStats(bg, &csipb.NodeGetVolumeStatsRequest{VolumeId: v.id, VolumePath: v.target})
	wantCode(t, err, codes.FailedPrecondition, "abnormal")
	h, err := dr.node.NodeGetVolumeHealth(bg, &csipb.NodeGetVolumeHealthRequest{VolumeId: v.id})
	if err != nil {
		t.Fatal(err)
	}
	if s := h.GetVolumeHealth().GetHealthStatuses(); len(s) != 1 || s[0].GetStatus() != csipb.VolumeHealthErrorType_INACCESSIBLE ||
		s[0].GetReason() != "FilteredMountDisconnected" {
		t.Errorf("health %v, want one INACCESSIBLE FilteredMountDisconnected", s)
	}
	_, err = dr.node.NodePublishVolume(bg, &csipb.NodePublishVolumeRequest{VolumeId: v.id, StagingTargetPath: v.staging,
		TargetPath: filepath.Join(base, "v", "target2"), VolumeCapability: rwCap})
	wantCode(t, err, codes.FailedPrecondition, "not staged")

	dr.teardown(t, v)
	if ms := mountsUnder(t, base); len(ms) != 0 {
		t.Fatalf("mounts left after teardown of a dead volume: %v", ms)
	}

	// The data is in the backing; staging again serves it.
	v2 := dr.stagePublish(t, base, "v", nil, rwCap, false)
	if b, err := os.ReadFile(v2.target + "/f"); err != nil || string(b) != "x" {
		t.Errorf("after re-stage: %q, %v", b, err)
	}
	h, err = dr.node.NodeGetVolumeHealth(bg, &csipb.NodeGetVolumeHealthRequest{VolumeId: v2.id})
	if err != nil || len(h.GetVolumeHealth().GetHealthStatuses()) != 0 {
		t.Errorf("health of a live volume: %v, %v", h, err)
	}
	dr.teardown(t, v2)
}

// TestRestageReplacesDeadMount: NodeStageVolume on a staging path whose
// mount died replaces it with a live one.
func TestRestageReplacesDeadMount(t *testing.T) {
	requireFUSE(t)
	base := testDir(t)
	dr := startDriver(t, options(base))
	v := dr.stagePublish(t, base, "v", nil, rwCap, false)
	abortFUSE(t, v.staging)
	if _, err := dr.node.NodeStageVolume(bg, &csipb.NodeStageVolumeRequest{VolumeId: v.id, StagingTargetPath: v.staging, VolumeCapability: rwCap}); err != nil {
		t.Fatal(err)
	}
	if err := fusebpf.Check(v.staging); err != nil {
		t.Fatalf("staging after re-stage: %v", err)
	}
	// The target still holds the dead bind; publishing it again re-binds.
	if _, err := dr.node.NodePublishVolume(bg, &csipb.NodePublishVolumeRequest{VolumeId: v.id, StagingTargetPath: v.staging,
		TargetPath: v.target, VolumeCapability: rwCap}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(v.target+"/f", []byte("x"), 0o644); err != nil {
		t.Fatalf("write after re-publish: %v", err)
	}
	dr.teardown(t, v)
	if ms := mountsUnder(t, base); len(ms) != 0 {
		t.Fatalf("mounts left: %v", ms)
	}
}
