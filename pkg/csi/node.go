package csi

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	csipb "github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/fusebpf"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/state"
)

// serverStopGrace is how long NodeUnstageVolume waits for a server to stop
// after its last mount in this namespace is gone.
const serverStopGrace = time.Second

type nodeServer struct {
	csipb.UnimplementedNodeServer
	d *Driver
}

func (s *nodeServer) NodeGetInfo(context.Context, *csipb.NodeGetInfoRequest) (*csipb.NodeGetInfoResponse, error) {
	return &csipb.NodeGetInfoResponse{NodeId: s.d.opts.NodeID, AccessibleTopology: s.d.topology()}, nil
}

func (s *nodeServer) NodeGetCapabilities(context.Context, *csipb.NodeGetCapabilitiesRequest) (*csipb.NodeGetCapabilitiesResponse, error) {
	var caps []*csipb.NodeServiceCapability
	for _, t := range []csipb.NodeServiceCapability_RPC_Type{
		csipb.NodeServiceCapability_RPC_STAGE_UNSTAGE_VOLUME,
		csipb.NodeServiceCapability_RPC_GET_VOLUME_STATS,
		csipb.NodeServiceCapability_RPC_VOLUME_MOUNT_GROUP,
		csipb.NodeServiceCapability_RPC_GET_VOLUME_HEALTH,
		csipb.NodeServiceCapability_RPC_SINGLE_NODE_MULTI_WRITER,
	} {
		caps = append(caps, &csipb.NodeServiceCapability{
			Type: &csipb.NodeServiceCapability_Rpc{Rpc: &csipb.NodeServiceCapability_RPC{Type: t}},
		})
	}
	return &csipb.NodeGetCapabilitiesResponse{Capabilities: caps}, nil
}

// nodeVolumeID parses a volume ID of this node; others are not found here.
func (d *Driver) nodeVolumeID(s string) (volumeID, error) {
	if s == "" {
		return volumeID{}, invalidf("volume ID is required")
	}
	id, err := parseVolumeID(s)
	if err != nil {
		return volumeID{}, err
	}
	if id.Node != d.opts.NodeID {
		return volumeID{}, fmt.Errorf("volume %s: %w: %w %q", s, ErrVolumeNotFound, ErrWrongNode, id.Node)
	}
	return id, nil
}

// record returns the node record of a volume, or nil when there is none.
func (d *Driver) record(id string) (*state.Volume, error) {
	rec, err := d.node.Get(id)
	if errors.Is(err, state.ErrNotFound) {
		return nil, nil
	}
	return rec, err
}

// NodeStageVolume prepares the backing directory and mounts the filtered
// view of it at the staging path.
func (s *nodeServer) NodeStageVolume(ctx context.Context, req *csipb.NodeStageVolumeRequest) (*csipb.NodeStageVolumeResponse, error) {
	d := s.d
	id, err := d.nodeVolumeID(req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	staging, err := cleanPath("staging target path", req.GetStagingTargetPath())
	if err != nil {
		return nil, err
	}
	if err := checkCapability(req.GetVolumeCapability()); err != nil {
		return nil, err
	}
	spec, err := parseParameters(req.GetVolumeContext(), d.opts.AllowedBackingRoots)
	if err != nil {
		return nil, err
	}
	if spec.Backing != id.Backing {
		return nil, invalidParam(ParamBacking, "%q does not match the volume ID's backing %q", spec.Backing, id.Backing)
	}
	// The policy and the tier are settled before anything is prepared or
	// mounted: on any error here nothing is mounted.
	rp, err := d.checkPolicy(ctx, spec)
	if err != nil {
		return nil, err
	}
	tier, why, err := spec.tier()
	if err != nil {
		return nil, fmt.Errorf("volume %s: %w", id, err)
	}
	klog.V(2).InfoS("Chose enforcement tier", "volumeID", id.String(), "tier", tier, "reason", why)
	ro := readerOnly(req.GetVolumeCapability())
	group := req.GetVolumeCapability().GetMount().GetVolumeMountGroup()
	key := id.String()
	unlock, err := d.locks.tryLock(key)
	if err != nil {
		return nil, err
	}
	defer unlock()

	prev, err := d.record(key)
	if err != nil {
		return nil, err
	}
	if prev != nil && prev.StagingPath != staging {
		return nil, fmt.Errorf("volume %s: %w: staged at %s, requested %s", id, ErrAlreadyExists, prev.StagingPath, staging)
	}
	rec := &state.Volume{
		ID:           key,
		Backing:      spec.Backing,
		BackingPath:  spec.BackingPath,
		Parameters:   spec.context(),
		Policy:       spec.Policy,
		PolicyDigest: rp.digest,
		Tier:         tier,
		StagingPath:  staging,
		ReadOnly:     ro,
		MountGroup:   group,
	}
	if prev != nil {
		rec.Targets = prev.Targets
	}
	if spec.Backing == state.BackingLocal {
		rec.BackingPath = d.localDir(id)
	}
	err = d.op(ctx, key, "prepare backing", func() error { return d.prepareBacking(rec, true) })
	if err != nil {
		return nil, fmt.Errorf("volume %s: %w", id, err)
	}

	t, err := readMounts()
	if err != nil {
		return nil, err
	}
	if m := t.at(staging); m != nil {
		if !isVolumeMount(m, key) {
			return nil, fmt.Errorf("volume %s: staging path %s: %w (%s %s is mounted there)", id, staging, fusebpf.ErrBusy, m.FsType, m.Source)
		}
		if readOnly(m) != ro {
			return nil, fmt.Errorf("volume %s: %w: staged with read-only %v, requested %v", id, ErrAlreadyExists, readOnly(m), ro)
		}
		err := d.health(ctx, key, "check staging mount", func() error { return checkAlive(staging) })
		if err == nil { // already staged
			if err := d.node.Put(rec); err != nil {
				return nil, err
			}
			return &csipb.NodeStageVolumeResponse{}, nil
		}
		klog.InfoS("Replacing dead filtered mount", "volumeID", key, "stagingPath", staging, "reason", err)
		if err := d.op(ctx, key, "unmount dead staging mount", func() error { return unmountAll(staging) }); err != nil {
			return nil, fmt.Errorf("volume %s: %w", id, err)
		}
	}
	// The record goes first: if this process dies after mounting, the next
	// one finds the mount through it.
	if err := d.node.Put(rec); err != nil {
		return nil, err
	}
	if err := d.serve(ctx, rec); err != nil {
		if prev == nil {
			if derr := d.node.Delete(key); derr != nil {
				klog.ErrorS(derr, "Cannot remove record of a failed stage", "volumeID", key)
			}
		}
		return nil, fmt.Errorf("volume %s: %w", id, err)
	}
	return &csipb.NodeStageVolumeResponse{}, nil
}

// prepareBacking checks that the backing directory exists. At staging
// (create set) it also creates a local volume's directory if needed and
// gives it to the mount group.
func (d *Driver) prepareBacking(rec *state.Volume, create bool) error {
	if rec.Backing != state.BackingLocal || !create {
		fi, err := os.Stat(rec.BackingPath)
		if err != nil {
			return fmt.Errorf("backing: %w", err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("backing %s: not a directory", rec.BackingPath)
		}
		return nil
	}
	if err := mkdirMode(rec.BackingPath, localVolumeMode); err != nil {
		return fmt.Errorf("backing: %w", err)
	}
	if rec.MountGroup == "" {
		return nil
	}
	gid, err := parseGID(rec.MountGroup)
	if err != nil {
		return err
	}
	return applyMountGroup(rec.BackingPath, gid)
}

// applyMountGroup gives the root directory of a local volume to group gid:
// chgrp, g+rwx, and setgid so files created below inherit the group. Only
// the root is changed; files already in the volume keep their owners.
func applyMountGroup(dir string, gid int) error {
	if err := unix.Lchown(dir, -1, gid); err != nil {
		return fmt.Errorf("mount group %d: %w", gid, err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return fmt.Errorf("mount group %d: %w", gid, err)
	}
	mode := st.Mode&07777 | unix.S_ISGID | 0o070
	if err := unix.Chmod(dir, mode); err != nil {
		return fmt.Errorf("mount group %d: %w", gid, err)
	}
	return nil
}

// serve mounts the filtered view of rec at its staging path and keeps the
// server.
func (d *Driver) serve(ctx context.Context, rec *state.Volume) error {
	if err := os.MkdirAll(rec.StagingPath, 0o750); err != nil {
		return fmt.Errorf("staging path: %w", err)
	}
	mctx, cancel := context.WithTimeout(ctx, d.opts.OperationTimeout)
	defer cancel()
	in, err := d.policyInstance(ctx, rec)
	if err != nil {
		return err
	}
	if rec.Tier == TierKernel {
		err := d.serveKernel(mctx, rec, in.Policy, in.Values)
		if err == nil || rec.Enforcement() == EnforcementKernel {
			return err
		}
		// enforcement auto: the kernel refused (verifier, registration,
		// mount); serve the userspace tier and say why.
		klog.InfoS("Kernel tier failed; falling back to the userspace tier", "volumeID", rec.ID, "err", err)
		rec.Tier = TierUserspace
		if err := d.node.Put(rec); err != nil {
			return err
		}
	}
	srv, err := fusebpf.Mount(klog.NewContext(mctx, klog.LoggerWithValues(klog.FromContext(ctx), "volumeID", rec.ID)), fusebpf.MountOptions{
		Backing:    rec.BackingPath,
		Mountpoint: rec.StagingPath,
		ReadOnly:   rec.ReadOnly,
		Source:     mountSource(rec.ID),
		Filter:     in,
	})
	if err != nil {
		return err
	}
	if rb := in.RingBuffer(auditRing); rb != nil {
		actx, stop := context.WithCancel(context.Background())
		go drainAudit(actx, rec.ID, rb)
		go func() { srv.Wait(); stop() }()
	}
	sv := &served{srv: srv, done: make(chan struct{})}
	d.mu.Lock()
	d.servers[rec.ID] = sv
	d.mu.Unlock()
	go func() {
		srv.Wait()
		close(sv.done)
		d.mu.Lock()
		if d.servers[rec.ID] == sv {
			delete(d.servers, rec.ID)
		}
		d.mu.Unlock()
		klog.V(2).InfoS("Filtered mount ended", "volumeID", rec.ID, "stagingPath", rec.StagingPath)
	}()
	klog.InfoS("Staged volume", "volumeID", rec.ID, "stagingPath", rec.StagingPath, "backing", rec.Backing,
		"backingPath", rec.BackingPath, "policy", rec.Policy, "tier", rec.Tier, "readOnly", rec.ReadOnly,
		"passthrough", srv.Passthrough())
	return nil
}

// NodeUnstageVolume unmounts the filtered view at the staging path, alive
// or dead, and forgets the volume. It refuses while the volume is still
// bind-mounted somewhere (a target that was not unpublished).
func (s *nodeServer) NodeUnstageVolume(ctx context.Context, req *csipb.NodeUnstageVolumeRequest) (*csipb.NodeUnstageVolumeResponse, error) {
	d := s.d
	key := req.GetVolumeId()
	if key == "" {
		return nil, invalidf("volume ID is required")
	}
	staging, err := cleanPath("staging target path", req.GetStagingTargetPath())
	if err != nil {
		return nil, err
	}
	unlock, err := d.locks.tryLock(key)
	if err != nil {
		return nil, err
	}
	defer unlock()

	t, err := readMounts()
	if err != nil {
		return nil, err
	}
	for _, mp := range t.withSource(key) {
		if mp != staging {
			return nil, fmt.Errorf("volume %s: %w: still published at %s", key, ErrInUse, mp)
		}
	}
	if err := d.op(ctx, key, "unmount staging", func() error { return unmountAll(staging) }); err != nil {
		return nil, fmt.Errorf("volume %s: %w", key, err)
	}
	// The server stops once the kernel drops the session, which it does
	// when the last mount of it goes. A container that has not exited
	// yet can still hold a bind in its own mount namespace; the server
	// then goes on serving it and stops after it.
	d.mu.Lock()
	sv := d.servers[key]
	if sv != nil && sv.release != nil {
		delete(d.servers, key)
	}
	d.mu.Unlock()
	if sv != nil && sv.release != nil {
		sv.release()
	} else if sv != nil {
		select {
		case <-sv.done:
		case <-time.After(serverStopGrace):
			klog.InfoS("Staging path unmounted; the FUSE session is still referenced elsewhere and ends with its last user",
				"volumeID", key, "stagingPath", staging)
		}
	}
	if err := d.node.Delete(key); err != nil {
		return nil, err
	}
	klog.InfoS("Unstaged volume", "volumeID", key, "stagingPath", staging)
	return &csipb.NodeUnstageVolumeResponse{}, nil
}

// NodePublishVolume bind-mounts the staged filtered view to the target,
// read-only when asked, and succeeds only after mountinfo shows the bind
// with the expected type, source and read-only flag: a pod never gets an
// unfiltered or writable view by mistake.
func (s *nodeServer) NodePublishVolume(ctx context.Context, req *csipb.NodePublishVolumeRequest) (*csipb.NodePublishVolumeResponse, error) {
	d := s.d
	id, err := d.nodeVolumeID(req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	target, err := cleanPath("target path", req.GetTargetPath())
	if err != nil {
		return nil, err
	}
	staging, err := cleanPath("staging target path", req.GetStagingTargetPath())
	if err != nil {
		return nil, err
	}
	if err := checkCapability(req.GetVolumeCapability()); err != nil {
		return nil, err
	}
	flagStrs := req.GetVolumeCapability().GetMount().GetMountFlags()
	extra, err := bindFlags(flagStrs)
	if err != nil {
		return nil, err
	}
	ro := req.GetReadonly() || readerOnly(req.GetVolumeCapability()) || extra&unix.MS_RDONLY != 0
	key := id.String()
	unlock, err := d.locks.tryLock(key)
	if err != nil {
		return nil, err
	}
	defer unlock()

	t, err := readMounts()
	if err != nil {
		return nil, err
	}
	if !isVolumeMount(t.at(staging), key) {
		return nil, fmt.Errorf("volume %s: %w at %s", id, ErrNotStaged, staging)
	}
	if err := d.health(ctx, key, "check staging mount", func() error { return checkAlive(staging) }); err != nil {
		return nil, fmt.Errorf("volume %s: %w: %w", id, ErrNotStaged, err)
	}
	if req.GetVolumeCapability().GetAccessMode().GetMode() == csipb.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER {
		for _, mp := range t.withSource(key) {
			if mp != staging && mp != target {
				return nil, fmt.Errorf("volume %s: %w: published at %s, and SINGLE_NODE_SINGLE_WRITER allows one target", id, ErrInUse, mp)
			}
		}
	}
	if m := t.at(target); m != nil {
		if !isVolumeMount(m, key) {
			return nil, fmt.Errorf("volume %s: target %s: %w (%s %s is mounted there)", id, target, ErrAlreadyExists, m.FsType, m.Source)
		}
		if readOnly(m) != ro {
			return nil, fmt.Errorf("volume %s: %w: published at %s with read-only %v, requested %v", id, ErrAlreadyExists, target, readOnly(m), ro)
		}
		if err := d.health(ctx, key, "check target", func() error { return checkAlive(target) }); err == nil {
			if err := d.addTarget(id, staging, target, ro, flagStrs); err != nil {
				return nil, err
			}
			return &csipb.NodePublishVolumeResponse{}, nil // already published
		}
		if err := d.op(ctx, key, "unmount dead target", func() error { return unmountAll(target) }); err != nil {
			return nil, fmt.Errorf("volume %s: %w", id, err)
		}
	}
	if err := d.publish(ctx, key, staging, target, ro, extra); err != nil {
		return nil, fmt.Errorf("volume %s: %w", id, err)
	}
	if err := d.addTarget(id, staging, target, ro, flagStrs); err != nil {
		return nil, err
	}
	klog.InfoS("Published volume", "volumeID", key, "targetPath", target, "readOnly", ro)
	return &csipb.NodePublishVolumeResponse{}, nil
}

// publish bind-mounts staging on target and verifies the result; on any
// mismatch the bind is undone.
func (d *Driver) publish(ctx context.Context, key, staging, target string, ro bool, extra uintptr) error {
	if err := os.Mkdir(target, 0o750); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("target: %w", err)
	}
	if err := d.op(ctx, key, "bind mount", func() error { return bindMount(staging, target, ro, extra) }); err != nil {
		return err
	}
	t, err := readMounts()
	if err == nil {
		m := t.at(target)
		switch {
		case !isVolumeMount(m, key):
			err = fmt.Errorf("target %s: bind mount not found in mountinfo", target)
		case readOnly(m) != ro:
			err = fmt.Errorf("target %s: read-only %v after mount, want %v", target, readOnly(m), ro)
		}
	}
	if err != nil {
		if uerr := d.op(ctx, key, "undo bind mount", func() error { return unmountAll(target) }); uerr != nil {
			klog.ErrorS(uerr, "Cannot undo a bad bind mount", "volumeID", key, "targetPath", target)
		}
		return err
	}
	return nil
}

// addTarget records a published target.
func (d *Driver) addTarget(id volumeID, staging, target string, ro bool, flags []string) error {
	rec, err := d.record(id.String())
	if err != nil {
		return err
	}
	if rec == nil {
		// Staged by a process that lost its record: adopt the volume.
		rec = &state.Volume{ID: id.String(), Backing: id.Backing, StagingPath: staging, Tier: TierUserspace}
		if id.Backing == state.BackingLocal {
			rec.BackingPath = d.localDir(id)
		}
	}
	if rec.Targets == nil {
		rec.Targets = map[string]state.Target{}
	}
	rec.Targets[target] = state.Target{ReadOnly: ro, MountFlags: flags}
	return d.node.Put(rec)
}

// NodeUnpublishVolume unmounts the target, alive or dead, and removes the
// directory.
func (s *nodeServer) NodeUnpublishVolume(ctx context.Context, req *csipb.NodeUnpublishVolumeRequest) (*csipb.NodeUnpublishVolumeResponse, error) {
	d := s.d
	key := req.GetVolumeId()
	if key == "" {
		return nil, invalidf("volume ID is required")
	}
	target, err := cleanPath("target path", req.GetTargetPath())
	if err != nil {
		return nil, err
	}
	unlock, err := d.locks.tryLock(key)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := d.op(ctx, key, "unmount target", func() error { return unmountAll(target) }); err != nil {
		return nil, fmt.Errorf("volume %s: %w", key, err)
	}
	if err := removeDir(target); err != nil {
		return nil, fmt.Errorf("volume %s: %w", key, err)
	}
	rec, err := d.record(key)
	if err != nil {
		return nil, err
	}
	if rec != nil {
		if _, ok := rec.Targets[target]; ok {
			delete(rec.Targets, target)
			if err := d.node.Put(rec); err != nil {
				return nil, err
			}
		}
	}
	klog.InfoS("Unpublished volume", "volumeID", key, "targetPath", target)
	return &csipb.NodeUnpublishVolumeResponse{}, nil
}

// checkMount reports whether path holds a live filtered mount of the
// volume: ErrVolumeNotFound when it holds none, ErrUnhealthy when the mount
// is dead or does not answer in time.
func (d *Driver) checkMount(ctx context.Context, key, path string) error {
	t, err := readMounts()
	if err != nil {
		return err
	}
	if !isVolumeMount(t.at(path), key) {
		return fmt.Errorf("volume %s: %w at %s", key, ErrVolumeNotFound, path)
	}
	if err := d.health(ctx, key, "check mount", func() error { return checkAlive(path) }); err != nil {
		if errors.Is(err, fusebpf.ErrDisconnected) {
			return fmt.Errorf("volume %s: %w: filtered mount at %s is disconnected, its FUSE server is gone: %w", key, ErrUnhealthy, path, err)
		}
		return fmt.Errorf("volume %s: %w: filtered mount at %s: %w", key, ErrUnhealthy, path, err)
	}
	return nil
}

// NodeGetVolumeStats reports the capacity and inodes of the backing file
// system. A volume whose filtered mount is dead is reported abnormal with
// codes.FailedPrecondition (CSI 1.13 has no volume condition in this call;
// NodeGetVolumeHealth reports it as INACCESSIBLE).
func (s *nodeServer) NodeGetVolumeStats(ctx context.Context, req *csipb.NodeGetVolumeStatsRequest) (*csipb.NodeGetVolumeStatsResponse, error) {
	d := s.d
	key := req.GetVolumeId()
	if key == "" {
		return nil, invalidf("volume ID is required")
	}
	if req.GetVolumePath() == "" {
		return nil, invalidf("volume path is required")
	}
	rec, err := d.record(key)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, fmt.Errorf("volume %s: %w on this node", key, ErrVolumeNotFound)
	}
	path := filepath.Clean(req.GetVolumePath())
	if _, ok := rec.Targets[path]; !ok && path != rec.StagingPath {
		return nil, fmt.Errorf("volume %s: %w: not staged or published at %s", key, ErrVolumeNotFound, path)
	}
	if err := d.checkMount(ctx, key, path); err != nil {
		return nil, err
	}
	var st unix.Statfs_t
	if err := d.health(ctx, key, "statfs backing", func() error { return unix.Statfs(rec.BackingPath, &st) }); err != nil {
		return nil, fmt.Errorf("volume %s: %w", key, err)
	}
	bs := st.Bsize
	return &csipb.NodeGetVolumeStatsResponse{Usage: []*csipb.VolumeUsage{
		{
			Unit:      csipb.VolumeUsage_BYTES,
			Total:     int64(st.Blocks) * bs,
			Available: int64(st.Bavail) * bs,
			Used:      int64(st.Blocks-st.Bfree) * bs,
		},
		{
			Unit:      csipb.VolumeUsage_INODES,
			Total:     int64(st.Files),
			Available: int64(st.Ffree),
			Used:      int64(st.Files - st.Ffree),
		},
	}}, nil
}

// NodeGetVolumeHealth reports INACCESSIBLE when the volume's staging mount
// or one of its targets is missing, dead or unresponsive.
func (s *nodeServer) NodeGetVolumeHealth(ctx context.Context, req *csipb.NodeGetVolumeHealthRequest) (*csipb.NodeGetVolumeHealthResponse, error) {
	d := s.d
	key := req.GetVolumeId()
	if key == "" {
		return nil, invalidf("volume ID is required")
	}
	rec, err := d.record(key)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, fmt.Errorf("volume %s: %w on this node", key, ErrVolumeNotFound)
	}
	paths := append([]string{rec.StagingPath}, rec.TargetPaths()...)
	if p := req.GetVolumePublishPath(); p != "" {
		paths = []string{rec.StagingPath, p}
	}
	h := &csipb.VolumeHealth{VolumeId: key}
	for _, p := range paths {
		err := d.checkMount(ctx, key, p)
		if err == nil {
			continue
		}
		reason := "FilteredMountUnresponsive"
		switch {
		case errors.Is(err, ErrVolumeNotFound):
			reason = "FilteredMountMissing"
		case errors.Is(err, fusebpf.ErrDisconnected):
			reason = "FilteredMountDisconnected"
		}
		h.HealthStatuses = append(h.HealthStatuses, &csipb.VolumeHealth_VolumeHealthEntry{
			Status:  csipb.VolumeHealthErrorType_INACCESSIBLE,
			Reason:  reason,
			Message: err.Error(),
		})
		break
	}
	return &csipb.NodeGetVolumeHealthResponse{VolumeHealth: h}, nil
}
