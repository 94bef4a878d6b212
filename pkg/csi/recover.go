package csi

import (
	"context"
	"fmt"

	"k8s.io/klog/v2"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/state"
)

// recover reconciles the node records with mountinfo after a start:
//
//   - A record with no mount left at its staging path or targets is stale
//     (the node rebooted, or a stage failed half-way) and is dropped;
//     kubelet stages again if it still needs the volume.
//   - A staged volume whose filtered mount is dead (its FUSE server died
//     with the previous process) is re-served, when Options.RecoverMounts
//     is set and its backing is still there: the dead mount is detached, a
//     new server mounts the backing at the staging path, and every
//     recorded target is bound to it again. Without that the mount stays
//     dead: fail closed, reported abnormal, removed by unstage.
//   - Targets recorded but no longer mounted are dropped from the record.
//
// Volumes that a call is already working on are left to that call.
func (d *Driver) recover(ctx context.Context) {
	recs, err := d.node.List()
	if err != nil {
		klog.ErrorS(err, "Some volume records cannot be read; their volumes are not recovered")
	}
	klog.InfoS("Reconciling node volume records", "records", len(recs), "recoverMounts", d.opts.RecoverMounts)
	for _, rec := range recs {
		if ctx.Err() != nil {
			return
		}
		if err := d.recoverVolume(ctx, rec); err != nil {
			klog.ErrorS(err, "Cannot recover volume; it stays unavailable until unstaged", "volumeID", rec.ID, "stagingPath", rec.StagingPath)
		}
	}
	klog.InfoS("Node volume records reconciled")
}

func (d *Driver) recoverVolume(ctx context.Context, rec *state.Volume) error {
	unlock, err := d.locks.tryLock(rec.ID)
	if err != nil {
		return nil // a call is handling the volume
	}
	defer unlock()
	t, err := readMounts()
	if err != nil {
		return err
	}
	staged := isVolumeMount(t.at(rec.StagingPath), rec.ID)
	targets := map[string]state.Target{}
	for p, tg := range rec.Targets {
		if isVolumeMount(t.at(p), rec.ID) {
			targets[p] = tg
		}
	}
	if !staged && len(targets) == 0 {
		klog.InfoS("Dropping stale volume record: nothing is mounted", "volumeID", rec.ID, "stagingPath", rec.StagingPath)
		return d.node.Delete(rec.ID)
	}
	if len(targets) != len(rec.Targets) {
		rec.Targets = targets
		if err := d.node.Put(rec); err != nil {
			return err
		}
	}
	if !staged {
		return fmt.Errorf("%w: staging mount gone but targets %v remain", ErrUnhealthy, rec.TargetPaths())
	}
	err = d.health(ctx, rec.ID, "check staging mount", func() error { return checkAlive(rec.StagingPath) })
	if err != nil {
		if !d.opts.RecoverMounts {
			return fmt.Errorf("%w: %w (mount recovery disabled)", ErrUnhealthy, err)
		}
		if serr := d.op(ctx, rec.ID, "check backing", func() error { return d.prepareBacking(rec, false) }); serr != nil {
			return fmt.Errorf("%w: %w; backing unusable, not re-serving: %w", ErrUnhealthy, err, serr)
		}
		klog.InfoS("Re-serving volume whose FUSE server died", "volumeID", rec.ID, "stagingPath", rec.StagingPath, "reason", err)
		if err := d.op(ctx, rec.ID, "detach dead staging mount", func() error { return unmountAll(rec.StagingPath) }); err != nil {
			return err
		}
		if err := d.serve(ctx, rec); err != nil {
			return err
		}
	}
	for _, p := range rec.TargetPaths() {
		err := d.health(ctx, rec.ID, "check target", func() error { return checkAlive(p) })
		if err == nil {
			continue
		}
		if !d.opts.RecoverMounts {
			return fmt.Errorf("%w: target %s: %w (mount recovery disabled)", ErrUnhealthy, p, err)
		}
		tg := rec.Targets[p]
		extra, err := bindFlags(tg.MountFlags)
		if err != nil {
			return err
		}
		if err := d.op(ctx, rec.ID, "detach dead target", func() error { return unmountAll(p) }); err != nil {
			return err
		}
		if err := d.publish(ctx, rec.ID, rec.StagingPath, p, tg.ReadOnly, extra); err != nil {
			return err
		}
		klog.InfoS("Re-bound target", "volumeID", rec.ID, "targetPath", p, "readOnly", tg.ReadOnly)
	}
	return nil
}
