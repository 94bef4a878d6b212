package csi

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/klog/v2"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/fusebpf/kernel"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/policy"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/state"
)

// serveKernel stages a volume in the FUSE-BPF kernel tier: the policy is
// loaded into this kernel (its verifier checks it) and registered as a
// fuse_ops instance named after the volume, then FUSE is mounted with
// root_dir=<backing>,root_bpf=<instance> and no daemon. On any error
// nothing stays registered or mounted, and the error says what the kernel
// refused. It runs only on kernels whose BTF has the Generation A ABI.
//
// Limits of this build, none of which a stock kernel lets us exercise: a
// policy that returns BPF_FUSE_USER* codes needs a daemon for userspace
// filter requests, which is not implemented, so it is refused here; and the
// registration is held by this process, so a node-plugin restart
// unregisters it (the mount then behaves as the kernel decides, [?] in
// FUSE-BPF-ABI.md §1.5).
func (d *Driver) serveKernel(ctx context.Context, rec *state.Volume, p *policy.Policy, values policy.Values) error {
	spec, err := p.Apply(values)
	if err != nil {
		return err
	}
	if need := kernel.NeedsDaemon(spec); need.Needed {
		return fmt.Errorf("%w: policy %s needs a userspace filter daemon in the kernel tier (%s), which this build does not run",
			ErrTierUnavailable, rec.Policy, strings.Join(need.Reasons, "; "))
	}
	inst, err := kernel.Register(spec, kernel.RegisterOptions{VolumeID: rec.ID})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrTierUnavailable, err)
	}
	km, err := kernel.MountKernel(ctx, kernel.MountRequest{
		Backing:  rec.BackingPath,
		Target:   rec.StagingPath,
		Instance: inst.Name(),
		NoDaemon: true,
		ReadOnly: rec.ReadOnly,
		Source:   mountSource(rec.ID),
	})
	if err != nil {
		inst.Close()
		return fmt.Errorf("%w: %v", ErrTierUnavailable, err)
	}
	if km.Dev != nil {
		km.Dev.Close()
	}
	sv := &served{done: make(chan struct{}), release: func() { inst.Close() }}
	d.mu.Lock()
	d.servers[rec.ID] = sv
	d.mu.Unlock()
	klog.InfoS("Staged volume", "volumeID", rec.ID, "stagingPath", rec.StagingPath, "policy", rec.Policy,
		"tier", TierKernel, "instance", inst.Name(), "readOnly", rec.ReadOnly)
	return nil
}
