package csi

import (
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/state"
)

// StorageClass parameters (and volume context keys) of the driver.
const (
	// ParamBacking is "local" (default) or "hostPath".
	ParamBacking = "backing"
	// ParamBackingPath is the directory of a hostPath volume.
	ParamBackingPath = "backingPath"
	// ParamPolicy names the policy that filters the volume; default
	// "allow-all".
	ParamPolicy = "policy"
	// ParamEnforcement is "auto" (default), "kernel" or "userspace".
	ParamEnforcement = "enforcement"
	// ParamPolicyPrefix starts the keys of policy parameters,
	// "policy.<name>".
	ParamPolicyPrefix = "policy."
	// reservedPrefix starts the keys Kubernetes adds (provisioner secrets,
	// fstype, pod info on mount); they are ignored.
	reservedPrefix = "csi.storage.k8s.io/"
	// provisionerPrefix starts the keys external-provisioner adds to a
	// PersistentVolume's volume attributes (csiProvisionerIdentity); the
	// node sees them in the volume context and ignores them.
	provisionerPrefix = "storage.kubernetes.io/"
)

// Enforcement values and tiers.
const (
	EnforcementAuto      = "auto"
	EnforcementKernel    = "kernel"
	EnforcementUserspace = "userspace"

	// TierUserspace is the go-fuse daemon tier, the only one this build
	// serves.
	TierUserspace = "userspace"
)

// DefaultPolicy is the policy of a volume that names none.
const DefaultPolicy = "allow-all"

// volumeSpec is a validated set of volume parameters.
type volumeSpec struct {
	Backing      state.BackingKind
	BackingPath  string // hostPath: absolute, symlinks resolved
	Policy       string
	PolicyParams map[string]string // without the "policy." prefix
	Enforcement  string
}

// parseParameters validates StorageClass parameters or a volume context.
// Errors are InvalidArgument and name the offending key. hostPath paths are
// resolved (symlinks included) and must lie below one of roots.
func parseParameters(params map[string]string, roots []string) (volumeSpec, error) {
	s := volumeSpec{
		Backing:      state.BackingLocal,
		Policy:       DefaultPolicy,
		Enforcement:  EnforcementAuto,
		PolicyParams: map[string]string{},
	}
	// Sorted, so the first error reported does not depend on map order.
	for _, k := range slices.Sorted(maps.Keys(params)) {
		v := params[k]
		switch {
		case strings.HasPrefix(k, reservedPrefix), strings.HasPrefix(k, provisionerPrefix):
		case k == ParamBacking:
			switch state.BackingKind(v) {
			case state.BackingLocal, state.BackingHostPath:
				s.Backing = state.BackingKind(v)
			default:
				return s, invalidParam(k, "unsupported value %q (want %q or %q)", v, state.BackingLocal, state.BackingHostPath)
			}
		case k == ParamBackingPath:
			s.BackingPath = v
		case k == ParamPolicy:
			if v == "" {
				return s, invalidParam(k, "empty policy name")
			}
			s.Policy = v
		case k == ParamEnforcement:
			switch v {
			case EnforcementAuto, EnforcementKernel, EnforcementUserspace:
				s.Enforcement = v
			default:
				return s, invalidParam(k, "unsupported value %q (want auto, kernel or userspace)", v)
			}
		case strings.HasPrefix(k, ParamPolicyPrefix) && len(k) > len(ParamPolicyPrefix):
			s.PolicyParams[strings.TrimPrefix(k, ParamPolicyPrefix)] = v
		default:
			return s, invalidParam(k, "unknown parameter (allowed: %s, %s, %s, %s, %s<name>)",
				ParamBacking, ParamBackingPath, ParamPolicy, ParamEnforcement, ParamPolicyPrefix)
		}
	}
	switch s.Backing {
	case state.BackingLocal:
		if s.BackingPath != "" {
			return s, invalidParam(ParamBackingPath, "only valid with %s: %s", ParamBacking, state.BackingHostPath)
		}
	case state.BackingHostPath:
		p, err := resolveBackingPath(s.BackingPath, roots)
		if err != nil {
			return s, err
		}
		s.BackingPath = p
	}
	return s, nil
}

// resolveBackingPath checks a hostPath backing: absolute, an existing
// directory, and, after resolving symlinks, below one of roots (resolved
// too), so a symlink cannot lead outside them.
func resolveBackingPath(p string, roots []string) (string, error) {
	if p == "" {
		return "", invalidParam(ParamBackingPath, "required with %s: %s", ParamBacking, state.BackingHostPath)
	}
	if !filepath.IsAbs(p) {
		return "", invalidParam(ParamBackingPath, "%q is not an absolute path", p)
	}
	if len(roots) == 0 {
		return "", invalidParam(ParamBackingPath, "%q: this node allows no hostPath volumes (no --allowed-backing-root)", p)
	}
	real, err := filepath.EvalSymlinks(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", invalidParam(ParamBackingPath, "%q does not exist", p)
	}
	if err != nil {
		return "", invalidParam(ParamBackingPath, "%q: %v", p, err)
	}
	if !underAnyRoot(real, roots) {
		return "", invalidParam(ParamBackingPath, "%q is outside the allowed backing roots %v", p, roots)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return "", invalidParam(ParamBackingPath, "%q: %v", p, err)
	}
	if !fi.IsDir() {
		return "", invalidParam(ParamBackingPath, "%q is not a directory", p)
	}
	return real, nil
}

func underAnyRoot(p string, roots []string) bool {
	for _, r := range roots {
		rr, err := filepath.EvalSymlinks(r)
		if err != nil {
			continue
		}
		if p == rr || strings.HasPrefix(p, rr+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// context returns the volume context CreateVolume hands out and the node
// parses back: the spec in canonical form.
func (s volumeSpec) context() map[string]string {
	c := map[string]string{
		ParamBacking:     string(s.Backing),
		ParamPolicy:      s.Policy,
		ParamEnforcement: s.Enforcement,
	}
	if s.BackingPath != "" {
		c[ParamBackingPath] = s.BackingPath
	}
	for k, v := range s.PolicyParams {
		c[ParamPolicyPrefix+k] = v
	}
	return c
}

// tier picks the enforcement tier for the spec on this node, and says
// why.
func (s volumeSpec) tier() (tier, reason string, err error) {
	return tierFor(s.Enforcement)
}
