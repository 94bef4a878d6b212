package csi

import (
	"context"
	"fmt"
	"os"

	csipb "github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/version"
)

type identityServer struct {
	csipb.UnimplementedIdentityServer
	d *Driver
}

func (s *identityServer) GetPluginInfo(context.Context, *csipb.GetPluginInfoRequest) (*csipb.GetPluginInfoResponse, error) {
	return &csipb.GetPluginInfoResponse{Name: DriverName, VendorVersion: version.Version}, nil
}

func (s *identityServer) GetPluginCapabilities(context.Context, *csipb.GetPluginCapabilitiesRequest) (*csipb.GetPluginCapabilitiesResponse, error) {
	svc := func(t csipb.PluginCapability_Service_Type) *csipb.PluginCapability {
		return &csipb.PluginCapability{Type: &csipb.PluginCapability_Service_{Service: &csipb.PluginCapability_Service{Type: t}}}
	}
	caps := []*csipb.PluginCapability{svc(csipb.PluginCapability_Service_VOLUME_ACCESSIBILITY_CONSTRAINTS)}
	if s.d.opts.Mode.controller() {
		caps = append(caps, svc(csipb.PluginCapability_Service_CONTROLLER_SERVICE))
	}
	return &csipb.GetPluginCapabilitiesResponse{Capabilities: caps}, nil
}

// Probe reports whether the plugin can serve volumes: the data directory
// is writable and, for the node, /dev/fuse opens. Ready is false (not an
// error) while the node is still reconciling its records at start-up.
func (s *identityServer) Probe(ctx context.Context, _ *csipb.ProbeRequest) (*csipb.ProbeResponse, error) {
	if err := s.d.checkDataDir(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnhealthy, err)
	}
	if s.d.opts.Mode.node() {
		f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
		if err != nil {
			return nil, fmt.Errorf("%w: /dev/fuse: %w", ErrUnhealthy, err)
		}
		f.Close()
	}
	return &csipb.ProbeResponse{Ready: wrapperspb.Bool(s.d.recovered.Load())}, nil
}

// checkDataDir checks that the volumes directory exists and is writable
// (not on a read-only file system). It writes nothing: a full disk must not
// turn into a failing liveness probe, whose restart would break every
// mount this process serves.
func (d *Driver) checkDataDir() error {
	if err := unix.Access(d.volumesDir, unix.W_OK|unix.X_OK); err != nil {
		return fmt.Errorf("data dir %s not writable: %w", d.volumesDir, err)
	}
	return nil
}
