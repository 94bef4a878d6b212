package kernel

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
)

// Registration names. A struct_ops instance is registered under the name
// in its name member, kernel-wide: fuse_ops instances by root_bpf= and
// lookup replies (FUSE-BPF-ABI.md §1.5), tcp_congestion_ops instances by
// TCP_CONGESTION. The kernel copies the name with bpf_obj_name_cpy, which
// accepts only [A-Za-z0-9_.] and needs the NUL inside the field; fuse_ops
// has a 15-byte field, so names are at most 14 characters [I].
const (
	// MaxNameLen is the longest instance name.
	MaxNameLen = NameMax - 1
	// namePrefix marks the project's instances in the kernel's tables.
	namePrefix = "fb"
	// nameHashLen hex characters of SHA-256(volume ID) follow the prefix:
	// 40 bits, so two volumes of one node collide with negligible
	// probability, and a collision only costs a retry.
	nameHashLen = 10
	// MaxNameAttempts is how many names InstanceName yields per volume.
	MaxNameAttempts = 36
)

// InstanceName returns the instance name of a volume for one registration
// attempt (0 first, then 1, 2, ... after EEXIST), at most MaxNameAttempts:
// "fb" and 10 hex digits of SHA-256(volumeID), then "_" and the attempt in
// base 36 from attempt 1 on. The name is deterministic, so a restarted node
// plugin can recompute it; the name actually registered is recorded too.
func InstanceName(volumeID string, attempt int) (string, error) {
	if attempt < 0 || attempt >= MaxNameAttempts {
		return "", fmt.Errorf("attempt %d: %w", attempt, ErrNameTaken)
	}
	sum := sha256.Sum256([]byte(volumeID))
	name := namePrefix + hex.EncodeToString(sum[:])[:nameHashLen]
	if attempt > 0 {
		name += "_" + strconv.FormatInt(int64(attempt), 36)
	}
	return name, nil
}

// ValidateName checks name against the registration rules: 1 to
// MaxNameLen characters, each a letter, a digit, '_' or '.'.
func ValidateName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return fmt.Errorf("%q: length %d not in 1..%d: %w", name, len(name), MaxNameLen, ErrInvalidName)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.') {
			return fmt.Errorf("%q: character %q not in [A-Za-z0-9_.]: %w", name, c, ErrInvalidName)
		}
	}
	return nil
}
