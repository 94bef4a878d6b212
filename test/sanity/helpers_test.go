package sanity

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	csipb "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	mountutils "k8s.io/mount-utils"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/csi"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/fusebpf"
)

const testNode = "sanity-node"

// requireFUSE skips when the machine cannot mount FUSE at all.
func requireFUSE(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: filtered mounts use FUSE with allow_other and bind mounts")
	}
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("kernel offers no FUSE: /dev/fuse: %v", err)
	}
	f.Close()
}

// mountsUnder lists the mount points below dir, innermost last.
func mountsUnder(t testing.TB, dir string) []mountutils.MountInfo {
	t.Helper()
	mi, err := mountutils.ParseMountInfo("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []mountutils.MountInfo
	for _, m := range mi {
		if strings.HasPrefix(m.MountPoint, dir+"/") {
			out = append(out, m)
		}
	}
	return out
}

// testDir returns a temporary directory whose mounts are all removed
// before the directory is.
func testDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Cleanup(func() {
		ms := mountsUnder(t, dir)
		slices.Reverse(ms)
		for _, m := range ms {
			if err := fusebpf.Unmount(m.MountPoint); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
	return dir
}

// driver is an in-process driver serving on a unix socket.
type driver struct {
	socket string
	conn   *grpc.ClientConn
	id     csipb.IdentityClient
	ctrl   csipb.ControllerClient
	node   csipb.NodeClient
}

// startDriver runs the driver in this process until the test ends.
func startDriver(t *testing.T, o csi.Options) *driver {
	t.Helper()
	d, err := csi.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("driver: %v", err)
		}
	})
	return connect(t, strings.TrimPrefix(o.Endpoint, "unix://"))
}

// connect dials a driver socket and waits until Probe reports ready.
func connect(t *testing.T, socket string) *driver {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	dr := &driver{socket: socket, conn: conn, id: csipb.NewIdentityClient(conn),
		ctrl: csipb.NewControllerClient(conn), node: csipb.NewNodeClient(conn)}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		r, err := dr.id.Probe(ctx, &csipb.ProbeRequest{}, grpc.WaitForReady(true))
		cancel()
		if err == nil && r.GetReady().GetValue() {
			return dr
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// options returns driver options rooted in base.
func options(base string) csi.Options {
	return csi.Options{
		Endpoint:            "unix://" + base + "/csi.sock",
		NodeID:              testNode,
		Mode:                csi.ModeAll,
		DataDir:             base + "/data",
		AllowedBackingRoots: []string{base + "/datasets"},
		RecoverMounts:       true,
	}
}

func mountCap(mode csipb.VolumeCapability_AccessMode_Mode, group string) *csipb.VolumeCapability {
	return &csipb.VolumeCapability{
		AccessType: &csipb.VolumeCapability_Mount{Mount: &csipb.VolumeCapability_MountVolume{VolumeMountGroup: group}},
		AccessMode: &csipb.VolumeCapability_AccessMode{Mode: mode},
	}
}

var rwCap = mountCap(csipb.VolumeCapability_AccessMode_SINGLE_NODE_WRITER, "")

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
