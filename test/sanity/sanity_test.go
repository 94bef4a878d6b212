package sanity

import (
	"os"
	"testing"

	"github.com/kubernetes-csi/csi-test/v5/pkg/sanity"
)

// idGen makes volume IDs in this driver's format, so "not found" tests
// exercise well-formed IDs of volumes that do not exist.
type idGen struct{}

func (idGen) GenerateUniqueValidVolumeID() string {
	return "fbv1:" + testNode + ":local:" + randomHex(16)
}
func (idGen) GenerateInvalidVolumeID() string   { return "fake-vol-id" }
func (idGen) GenerateUniqueValidNodeID() string { return "node-" + randomHex(5) }
func (idGen) GenerateInvalidNodeID() string     { return "fake-node-id" }

// TestCSISanity runs the csi-test sanity suite against the real gRPC server
// over a unix socket, with real filtered mounts.
func TestCSISanity(t *testing.T) {
	requireFUSE(t)
	base := testDir(t)
	if err := os.MkdirAll(base+"/datasets", 0o755); err != nil {
		t.Fatal(err)
	}
	dr := startDriver(t, options(base))

	cfg := sanity.NewTestConfig()
	cfg.Address = "unix://" + dr.socket
	cfg.TargetPath = base + "/target"
	cfg.StagingPath = base + "/staging"
	cfg.TestVolumeParameters = map[string]string{"backing": "local", "policy": "allow-all", "enforcement": "userspace"}
	cfg.IdempotentCount = 2
	cfg.IDGen = idGen{}
	sanity.Test(t, cfg)

	if ms := mountsUnder(t, base); len(ms) != 0 {
		t.Errorf("%d mounts left after the suite, first %s", len(ms), ms[0].MountPoint)
	}
}
