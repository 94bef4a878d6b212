package csi

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/state"
)

// volumeIDPrefix versions the volume ID format.
const volumeIDPrefix = "fbv1"

// volumeID is the parsed form of a volume ID,
// "fbv1:<node>:<backing>:<uid>", for example
// "fbv1:worker-1:local:9f86d081884c7d659a2feaa0c55ad015". It carries what
// the node needs without a shared database: the node that owns the volume,
// the kind of backing and, for local volumes, the directory name. A
// hostPath volume's path travels in the volume context, which the
// provisioner copies into the PersistentVolume (an ID is limited to 128
// bytes; a path is not).
type volumeID struct {
	Node    string
	Backing state.BackingKind
	UID     string // 32 lowercase hex digits
}

func (v volumeID) String() string {
	return strings.Join([]string{volumeIDPrefix, v.Node, string(v.Backing), v.UID}, ":")
}

// newVolumeID derives the ID of the volume named name on node: the same
// name always gives the same ID, which makes CreateVolume idempotent even
// before the record is written.
func newVolumeID(node string, backing state.BackingKind, name string) volumeID {
	sum := sha256.Sum256([]byte(name))
	return volumeID{Node: node, Backing: backing, UID: hex.EncodeToString(sum[:16])}
}

// parseVolumeID parses a volume ID; errors wrap ErrVolumeNotFound, since an
// ID this driver did not make names no volume of it.
func parseVolumeID(s string) (volumeID, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 4 || parts[0] != volumeIDPrefix {
		return volumeID{}, fmt.Errorf("volume %q: %w: not a fusebpf-csi volume ID", s, ErrVolumeNotFound)
	}
	v := volumeID{Node: parts[1], Backing: state.BackingKind(parts[2]), UID: parts[3]}
	if validNodeID(v.Node) != nil {
		return volumeID{}, fmt.Errorf("volume %q: %w: bad node name", s, ErrVolumeNotFound)
	}
	if v.Backing != state.BackingLocal && v.Backing != state.BackingHostPath {
		return volumeID{}, fmt.Errorf("volume %q: %w: unknown backing %q", s, ErrVolumeNotFound, v.Backing)
	}
	if len(v.UID) != 32 || strings.Trim(v.UID, "0123456789abcdef") != "" {
		return volumeID{}, fmt.Errorf("volume %q: %w: bad uid", s, ErrVolumeNotFound)
	}
	return v, nil
}
