package csi

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"

	csipb "github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/klog/v2"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/state"
)

// localVolumeMode is the mode of a new local volume's directory: root only
// until a VOLUME_MOUNT_GROUP (fsGroup) opens it to a group at staging.
const localVolumeMode = 0o770

type controllerServer struct {
	csipb.UnimplementedControllerServer
	d *Driver
}

func (s *controllerServer) ControllerGetCapabilities(context.Context, *csipb.ControllerGetCapabilitiesRequest) (*csipb.ControllerGetCapabilitiesResponse, error) {
	var caps []*csipb.ControllerServiceCapability
	for _, t := range []csipb.ControllerServiceCapability_RPC_Type{
		csipb.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME,
		csipb.ControllerServiceCapability_RPC_SINGLE_NODE_MULTI_WRITER,
	} {
		caps = append(caps, &csipb.ControllerServiceCapability{
			Type: &csipb.ControllerServiceCapability_Rpc{Rpc: &csipb.ControllerServiceCapability_RPC{Type: t}},
		})
	}
	return &csipb.ControllerGetCapabilitiesResponse{Capabilities: caps}, nil
}

// CreateVolume provisions a volume on this node: a fresh directory for
// backing "local", a record of the dataset for "hostPath". Capacity is not
// enforced (volumes are directories, without quota), so the response
// reports it as unknown (0).
func (s *controllerServer) CreateVolume(ctx context.Context, req *csipb.CreateVolumeRequest) (*csipb.CreateVolumeResponse, error) {
	name := req.GetName()
	if name == "" {
		return nil, invalidf("name is required")
	}
	if err := checkCapabilities(req.GetVolumeCapabilities()); err != nil {
		return nil, err
	}
	if req.GetVolumeContentSource() != nil {
		return nil, invalidf("volume content source is not supported (no snapshots or clones)")
	}
	if len(req.GetMutableParameters()) > 0 {
		return nil, invalidf("mutable parameters (VolumeAttributesClass) are not supported")
	}
	if r := req.GetCapacityRange(); r.GetRequiredBytes() < 0 || r.GetLimitBytes() < 0 ||
		r.GetLimitBytes() > 0 && r.GetLimitBytes() < r.GetRequiredBytes() {
		return nil, invalidf("capacity range: required %d, limit %d", r.GetRequiredBytes(), r.GetLimitBytes())
	}
	spec, err := parseParameters(req.GetParameters(), s.d.opts.AllowedBackingRoots)
	if err != nil {
		return nil, err
	}
	if _, err := s.d.checkPolicy(ctx, spec); err != nil {
		return nil, err
	}
	if err := s.d.checkEnforceable(ctx, spec); err != nil {
		return nil, err
	}
	if err := s.d.checkTopology(req.GetAccessibilityRequirements()); err != nil {
		return nil, err
	}
	id := newVolumeID(s.d.opts.NodeID, spec.Backing, name)
	unlock, err := s.d.locks.tryLock("name/" + id.UID)
	if err != nil {
		return nil, err
	}
	defer unlock()

	// The uid depends on the name only, so a volume of the same name with
	// another backing shares it; look for both.
	for _, kind := range []state.BackingKind{state.BackingLocal, state.BackingHostPath} {
		other := id
		other.Backing = kind
		rec, err := s.d.ctrl.Get(other.String())
		if errors.Is(err, state.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if rec.Name != name || !maps.Equal(rec.Parameters, spec.context()) {
			return nil, fmt.Errorf("volume %q: %w (%s: %v, requested %v)", name, ErrAlreadyExists, rec.ID, rec.Parameters, spec.context())
		}
	}

	rec := &state.Volume{
		ID:          id.String(),
		Name:        name,
		Backing:     spec.Backing,
		BackingPath: spec.BackingPath,
		Parameters:  spec.context(),
		Policy:      spec.Policy,
	}
	if spec.Backing == state.BackingLocal {
		rec.BackingPath = s.d.localDir(id)
		err := s.d.op(ctx, id.String(), "create local volume", func() error {
			return mkdirMode(rec.BackingPath, localVolumeMode)
		})
		if err != nil {
			return nil, fmt.Errorf("volume %s: %w", id, err)
		}
	}
	if err := s.d.ctrl.Put(rec); err != nil {
		return nil, err
	}
	klog.InfoS("Created volume", "volumeID", rec.ID, "name", name, "backing", rec.Backing, "backingPath", rec.BackingPath, "policy", rec.Policy)
	return &csipb.CreateVolumeResponse{Volume: &csipb.Volume{
		VolumeId:           rec.ID,
		CapacityBytes:      0,
		VolumeContext:      spec.context(),
		AccessibleTopology: []*csipb.Topology{s.d.topology()},
	}}, nil
}

// checkTopology accepts requirements that this node satisfies: with
// requisite topologies, one of them must be this node's.
func (d *Driver) checkTopology(r *csipb.TopologyRequirement) error {
	if len(r.GetRequisite()) == 0 {
		return nil
	}
	mine := d.topology().GetSegments()
	for _, t := range r.GetRequisite() {
		if maps.Equal(t.GetSegments(), mine) {
			return nil
		}
	}
	return fmt.Errorf("%w: volumes live on the node that creates them (%s=%s), which is not among the requisite topologies",
		ErrTopology, TopologyKeyNode, d.opts.NodeID)
}

// DeleteVolume removes a local volume's directory and the volume's record.
// A hostPath dataset is never touched. A volume that is still mounted is
// refused, and nothing is removed through a mount point.
func (s *controllerServer) DeleteVolume(ctx context.Context, req *csipb.DeleteVolumeRequest) (*csipb.DeleteVolumeResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, invalidf("volume ID is required")
	}
	id, err := parseVolumeID(req.GetVolumeId())
	if err != nil {
		return &csipb.DeleteVolumeResponse{}, nil // not ours: nothing to delete
	}
	if id.Node != s.d.opts.NodeID {
		return nil, fmt.Errorf("volume %s: %w %q, this is %q", id, ErrWrongNode, id.Node, s.d.opts.NodeID)
	}
	unlock, err := s.d.locks.tryLock("name/" + id.UID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	t, err := readMounts()
	if err != nil {
		return nil, err
	}
	if mps := t.withSource(id.String()); len(mps) > 0 {
		return nil, fmt.Errorf("volume %s: %w: mounted at %v", id, ErrInUse, mps)
	}
	if id.Backing == state.BackingLocal {
		dir := s.d.localDir(id)
		if mps := append(t.under(dir), t.withSource(id.String())...); len(mps) > 0 || t.at(dir) != nil {
			return nil, fmt.Errorf("volume %s: %w: mounts inside %s", id, ErrInUse, dir)
		}
		if err := s.d.op(ctx, id.String(), "delete local volume", func() error { return os.RemoveAll(dir) }); err != nil {
			return nil, fmt.Errorf("volume %s: %w", id, err)
		}
	}
	if err := s.d.ctrl.Delete(id.String()); err != nil {
		return nil, err
	}
	klog.InfoS("Deleted volume", "volumeID", id.String())
	return &csipb.DeleteVolumeResponse{}, nil
}

// ValidateVolumeCapabilities confirms the capabilities the driver serves
// for an existing volume.
func (s *controllerServer) ValidateVolumeCapabilities(ctx context.Context, req *csipb.ValidateVolumeCapabilitiesRequest) (*csipb.ValidateVolumeCapabilitiesResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, invalidf("volume ID is required")
	}
	if len(req.GetVolumeCapabilities()) == 0 {
		return nil, invalidf("volume capabilities are required")
	}
	id, err := parseVolumeID(req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	if err := s.d.volumeExists(id); err != nil {
		return nil, err
	}
	if err := checkCapabilities(req.GetVolumeCapabilities()); err != nil {
		return &csipb.ValidateVolumeCapabilitiesResponse{Message: err.Error()}, nil
	}
	if len(req.GetParameters()) > 0 {
		spec, err := parseParameters(req.GetParameters(), s.d.opts.AllowedBackingRoots)
		if err == nil {
			_, err = s.d.checkPolicy(ctx, spec)
		}
		if err != nil {
			return &csipb.ValidateVolumeCapabilitiesResponse{Message: err.Error()}, nil
		}
	}
	return &csipb.ValidateVolumeCapabilitiesResponse{Confirmed: &csipb.ValidateVolumeCapabilitiesResponse_Confirmed{
		VolumeContext:      req.GetVolumeContext(),
		VolumeCapabilities: req.GetVolumeCapabilities(),
		Parameters:         req.GetParameters(),
		MutableParameters:  req.GetMutableParameters(),
	}}, nil
}

// volumeExists reports (as ErrVolumeNotFound) whether a volume of this node
// exists: it has a controller record, or, for local volumes, a directory.
func (d *Driver) volumeExists(id volumeID) error {
	if id.Node != d.opts.NodeID {
		return fmt.Errorf("volume %s: %w: it belongs to node %q", id, ErrVolumeNotFound, id.Node)
	}
	if _, err := d.ctrl.Get(id.String()); err == nil {
		return nil
	} else if !errors.Is(err, state.ErrNotFound) {
		return err
	}
	if id.Backing == state.BackingLocal {
		if _, err := os.Stat(d.localDir(id)); err == nil {
			return nil
		}
	}
	return fmt.Errorf("volume %s: %w", id, ErrVolumeNotFound)
}

// mkdirMode creates dir with exactly mode (no umask); an existing directory
// is left as it is.
func mkdirMode(dir string, mode os.FileMode) error {
	if err := os.Mkdir(dir, mode); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil
		}
		return err
	}
	return os.Chmod(dir, mode)
}
