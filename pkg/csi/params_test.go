package csi

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/state"
)

func TestParseParameters(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	file := filepath.Join(root, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// A symlink below the root that leads out of it.
	escape := filepath.Join(root, "escape")
	if err := os.Symlink(outside, escape); err != nil {
		t.Fatal(err)
	}
	roots := []string{root}

	for _, tc := range []struct {
		name    string
		params  map[string]string
		wantKey string // "" means success
		want    volumeSpec
	}{
		{name: "defaults", params: nil,
			want: volumeSpec{Backing: state.BackingLocal, Policy: "allow-all", Enforcement: "auto"}},
		{name: "provisioner keys ignored", params: map[string]string{
			"csi.storage.k8s.io/pvc/name": "x", "csi.storage.k8s.io/provisioner-secret-name": "s", "csi.storage.k8s.io/fstype": "ext4",
			"storage.kubernetes.io/csiProvisionerIdentity": "1700000000000-8081-fusebpf.csi.io",
		}, want: volumeSpec{Backing: state.BackingLocal, Policy: "allow-all", Enforcement: "auto"}},
		{name: "hostPath", params: map[string]string{"backing": "hostPath", "backingPath": data, "enforcement": "userspace"},
			want: volumeSpec{Backing: state.BackingHostPath, BackingPath: data, Policy: "allow-all", Enforcement: "userspace"}},
		{name: "hostPath root itself", params: map[string]string{"backing": "hostPath", "backingPath": root},
			want: volumeSpec{Backing: state.BackingHostPath, BackingPath: root, Policy: "allow-all", Enforcement: "auto"}},
		{name: "unknown key", params: map[string]string{"bakcing": "local"}, wantKey: "bakcing"},
		{name: "bad backing", params: map[string]string{"backing": "nfs"}, wantKey: "backing"},
		{name: "bad enforcement", params: map[string]string{"enforcement": "always"}, wantKey: "enforcement"},
		{name: "empty policy", params: map[string]string{"policy": ""}, wantKey: "policy"},
		{name: "backingPath with local", params: map[string]string{"backingPath": data}, wantKey: "backingPath"},
		{name: "hostPath without path", params: map[string]string{"backing": "hostPath"}, wantKey: "backingPath"},
		{name: "relative path", params: map[string]string{"backing": "hostPath", "backingPath": "data"}, wantKey: "backingPath"},
		{name: "outside roots", params: map[string]string{"backing": "hostPath", "backingPath": outside}, wantKey: "backingPath"},
		{name: "dot-dot escape", params: map[string]string{"backing": "hostPath", "backingPath": root + "/../" + filepath.Base(outside)}, wantKey: "backingPath"},
		{name: "symlink escape", params: map[string]string{"backing": "hostPath", "backingPath": escape}, wantKey: "backingPath"},
		{name: "prefix is not a parent", params: map[string]string{"backing": "hostPath", "backingPath": root + "x"}, wantKey: "backingPath"},
		{name: "missing", params: map[string]string{"backing": "hostPath", "backingPath": filepath.Join(root, "nope")}, wantKey: "backingPath"},
		{name: "not a directory", params: map[string]string{"backing": "hostPath", "backingPath": file}, wantKey: "backingPath"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseParameters(tc.params, roots)
			if tc.wantKey != "" {
				if !errors.Is(err, ErrInvalidArgument) {
					t.Fatalf("err = %v, want InvalidArgument", err)
				}
				var pe *paramError
				if !errors.As(err, &pe) || pe.key != tc.wantKey {
					t.Fatalf("err = %v, want it to name key %q", err, tc.wantKey)
				}
				if !strings.Contains(toStatus(err).Message(), `"`+tc.wantKey+`"`) {
					t.Errorf("status message %q does not name %q", toStatus(err).Message(), tc.wantKey)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Backing != tc.want.Backing || got.BackingPath != tc.want.BackingPath ||
				got.Policy != tc.want.Policy || got.Enforcement != tc.want.Enforcement || len(got.PolicyParams) != 0 {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			// The volume context must parse back to the same spec.
			again, err := parseParameters(got.context(), roots)
			if err != nil {
				t.Fatalf("context does not parse back: %v", err)
			}
			if again.Backing != got.Backing || again.BackingPath != got.BackingPath || again.Policy != got.Policy || again.Enforcement != got.Enforcement {
				t.Errorf("round trip: %+v, want %+v", again, got)
			}
		})
	}
}

func TestHostPathRefusedWithoutRoots(t *testing.T) {
	_, err := parseParameters(map[string]string{"backing": "hostPath", "backingPath": t.TempDir()}, nil)
	var pe *paramError
	if !errors.As(err, &pe) || pe.key != "backingPath" {
		t.Fatalf("err = %v, want an error naming backingPath", err)
	}
}

// TestTier runs against this machine's kernel: on a stock kernel (no
// FUSE-BPF ABI in its BTF) auto falls back to userspace and says why, and
// kernel fails closed naming the reason.
func TestTier(t *testing.T) {
	for _, e := range []string{"auto", "userspace"} {
		if tier, why, err := (volumeSpec{Enforcement: e}).tier(); err != nil || tier != TierUserspace || why == "" {
			t.Errorf("enforcement %s: tier %q (%q), %v; want userspace with a reason", e, tier, why, err)
		}
	}
	_, _, err := (volumeSpec{Enforcement: "kernel"}).tier()
	if !errors.Is(err, ErrTierUnavailable) || !strings.Contains(err.Error(), "FUSE-BPF") {
		t.Errorf("enforcement kernel: %v, want ErrTierUnavailable naming FUSE-BPF", err)
	}
}

func TestVolumeID(t *testing.T) {
	a := newVolumeID("node-1", state.BackingLocal, "pvc-1")
	if a != newVolumeID("node-1", state.BackingLocal, "pvc-1") {
		t.Error("volume ID of a name is not stable")
	}
	if a.UID == newVolumeID("node-1", state.BackingLocal, "pvc-2").UID {
		t.Error("two names share a uid")
	}
	s := a.String()
	if len(s) > 128 {
		t.Errorf("ID %q longer than the CSI limit", s)
	}
	got, err := parseVolumeID(s)
	if err != nil || got != a {
		t.Errorf("parse(%q) = %+v, %v; want %+v", s, got, err, a)
	}
	long := newVolumeID(strings.Repeat("n", 63), state.BackingHostPath, "x").String()
	if len(long) > 128 {
		t.Errorf("longest ID is %d bytes, over the CSI limit", len(long))
	}
	for _, bad := range []string{"", "vol-1", "fbv1:node:local", "fbv2:node:local:" + a.UID,
		"fbv1:Node:local:" + a.UID, "fbv1:node:nfs:" + a.UID, "fbv1:node:local:xyz", "fbv1:node:local:" + strings.ToUpper(a.UID)} {
		if _, err := parseVolumeID(bad); !errors.Is(err, ErrVolumeNotFound) {
			t.Errorf("parse(%q) = %v, want ErrVolumeNotFound", bad, err)
		}
	}
}
