package csi

import (
	"strconv"

	"golang.org/x/sys/unix"

	csipb "github.com/container-storage-interface/spec/lib/go/csi"
)

// Access modes the driver serves. Volumes are node-local, so only
// single-node modes make sense.
// SINGLE_NODE_SINGLE_WRITER (ReadWriteOncePod) allows one target at a time.
var supportedModes = map[csipb.VolumeCapability_AccessMode_Mode]bool{
	csipb.VolumeCapability_AccessMode_SINGLE_NODE_WRITER:        true,
	csipb.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY:   true,
	csipb.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER: true,
	csipb.VolumeCapability_AccessMode_SINGLE_NODE_MULTI_WRITER:  true,
}

// checkCapability accepts mount access with a single-node mode. The file
// system type is ignored (the volume is always a fusebpf mount; Kubernetes
// may send a default such as ext4); mount flags must be ones the bind mount
// of a target can honour (see bindFlags).
func checkCapability(c *csipb.VolumeCapability) error {
	if c == nil {
		return invalidf("volume capability is required")
	}
	if c.GetBlock() != nil {
		return invalidf("block access is not supported, only mount")
	}
	m := c.GetMount()
	if m == nil {
		return invalidf("volume capability: access type mount is required")
	}
	if _, err := bindFlags(m.GetMountFlags()); err != nil {
		return err
	}
	if g := m.GetVolumeMountGroup(); g != "" {
		if _, err := parseGID(g); err != nil {
			return err
		}
	}
	if c.GetAccessMode() == nil {
		return invalidf("volume capability: access mode is required")
	}
	if mode := c.GetAccessMode().GetMode(); !supportedModes[mode] {
		return invalidf("access mode %s is not supported (volumes are node-local: use a SINGLE_NODE mode)", mode)
	}
	return nil
}

func checkCapabilities(cs []*csipb.VolumeCapability) error {
	if len(cs) == 0 {
		return invalidf("volume capabilities are required")
	}
	for _, c := range cs {
		if err := checkCapability(c); err != nil {
			return err
		}
	}
	return nil
}

// bindFlags maps mount flags (PersistentVolume mountOptions) to the flags of
// a target's bind mount. Only per-mount flags are accepted; anything else
// would silently not apply to a filtered mount, so it is refused.
func bindFlags(opts []string) (uintptr, error) {
	var f uintptr
	for _, o := range opts {
		switch o {
		case "rw", "defaults", "nosuid", "nodev": // nosuid and nodev are always set
		case "ro":
			f |= unix.MS_RDONLY
		case "noexec":
			f |= unix.MS_NOEXEC
		case "noatime":
			f |= unix.MS_NOATIME
		case "nodiratime":
			f |= unix.MS_NODIRATIME
		case "relatime":
			f |= unix.MS_RELATIME
		default:
			return 0, invalidf("mount flag %q is not supported (allowed: ro, rw, noexec, nosuid, nodev, noatime, nodiratime, relatime)", o)
		}
	}
	return f, nil
}

// readerOnly reports whether the capability forbids writes altogether.
func readerOnly(c *csipb.VolumeCapability) bool {
	return c.GetAccessMode().GetMode() == csipb.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY
}

// parseGID parses a VOLUME_MOUNT_GROUP.
func parseGID(s string) (int, error) {
	gid, err := strconv.ParseUint(s, 10, 31)
	if err != nil {
		return 0, invalidf("volume mount group %q: want a numeric group ID", s)
	}
	return int(gid), nil
}
