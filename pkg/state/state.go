package state

import (
	"errors"
	"maps"
	"slices"
)

// Errors returned by this package.
var (
	// ErrNotFound means no record exists for a volume ID.
	ErrNotFound = errors.New("volume record not found")
	// ErrInvalidID means a volume ID cannot be stored: empty, longer than
	// [MaxIDLength] bytes, or containing a NUL byte.
	ErrInvalidID = errors.New("invalid volume id")
	// ErrCorrupt means a record file exists but cannot be decoded.
	ErrCorrupt = errors.New("corrupt volume record")
)

// MaxIDLength is the longest volume ID a [Dir] stores. CSI limits IDs to
// 128 bytes; the margin keeps the encoded file name under 255 bytes.
const MaxIDLength = 180

// BackingKind says where a volume's data lives.
type BackingKind string

// Backing kinds (the StorageClass parameter "backing").
const (
	// BackingLocal is a directory created for the volume under the node
	// plugin's data directory.
	BackingLocal BackingKind = "local"
	// BackingHostPath is an existing directory on the node, below one of
	// the plugin's allowed backing roots; it is never deleted by the driver.
	BackingHostPath BackingKind = "hostPath"
)

// Target is one NodePublishVolume target of a staged volume.
type Target struct {
	// ReadOnly is true when the target was bind-mounted read-only.
	ReadOnly bool `json:"readOnly,omitempty"`
	// MountFlags are the extra mount flags of the bind (PersistentVolume
	// mountOptions such as noexec).
	MountFlags []string `json:"mountFlags,omitempty"`
}

// Volume is the record of one volume.
type Volume struct {
	// ID is the CSI volume ID.
	ID string `json:"id"`
	// Name is the CreateVolume name (controller records only).
	Name string `json:"name,omitempty"`
	// Backing is the kind of backing directory.
	Backing BackingKind `json:"backing"`
	// BackingPath is the absolute path of the backing directory.
	BackingPath string `json:"backingPath"`
	// Parameters are the volume's validated parameters (StorageClass
	// parameters or volume context, without the csi.storage.k8s.io/ keys).
	Parameters map[string]string `json:"parameters,omitempty"`
	// Policy is the name of the policy that filters the volume.
	Policy string `json:"policy,omitempty"`
	// PolicyDigest is the SHA-256 of the policy object the volume was
	// staged with; a re-serve refuses a different object.
	PolicyDigest string `json:"policyDigest,omitempty"`
	// Tier is the enforcement tier the volume was staged with.
	Tier string `json:"tier,omitempty"`
	// StagingPath is where the filtered view is mounted (node records).
	StagingPath string `json:"stagingPath,omitempty"`
	// ReadOnly is true when the staging mount itself is read-only.
	ReadOnly bool `json:"readOnly,omitempty"`
	// MountGroup is the VOLUME_MOUNT_GROUP (fsGroup) applied at staging.
	MountGroup string `json:"mountGroup,omitempty"`
	// Targets are the paths the volume is published to, by target path.
	Targets map[string]Target `json:"targets,omitempty"`
}

// Enforcement returns the volume's enforcement parameter ("auto" when
// unset).
func (v *Volume) Enforcement() string {
	if e := v.Parameters["enforcement"]; e != "" {
		return e
	}
	return "auto"
}

// Clone returns a deep copy of v.
func (v *Volume) Clone() *Volume {
	c := *v
	c.Parameters = maps.Clone(v.Parameters)
	c.Targets = maps.Clone(v.Targets)
	for p, t := range c.Targets {
		t.MountFlags = slices.Clone(t.MountFlags)
		c.Targets[p] = t
	}
	return &c
}

// TargetPaths returns the target paths in sorted order.
func (v *Volume) TargetPaths() []string {
	return slices.Sorted(maps.Keys(v.Targets))
}

// Store keeps volume records. Implementations are safe for concurrent use
// by calls on different volume IDs; callers serialise calls on one ID (the
// CSI driver holds a per-volume lock around them).
type Store interface {
	// Get returns a copy of the record for id. It returns an error
	// wrapping ErrNotFound when there is none and ErrCorrupt when the
	// record cannot be decoded.
	Get(id string) (*Volume, error)
	// List returns copies of all records, sorted by ID. Records that
	// cannot be decoded are left out and reported in the returned error
	// (wrapping ErrCorrupt), next to the records that could be read.
	List() ([]*Volume, error)
	// Put creates or replaces the record v.ID. When Put returns nil the
	// record is durable; when it fails, or the machine crashes during
	// the call, the previous record (or its absence) is left intact.
	Put(v *Volume) error
	// Delete removes the record for id durably. Deleting a record that
	// does not exist is not an error.
	Delete(id string) error
}
