package csi

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	csipb "github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/kubernetes-csi/csi-lib-utils/protosanitizer"
	"google.golang.org/grpc"
	"k8s.io/klog/v2"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/fusebpf"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/state"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/version"
)

// Names fixed by the architecture.
const (
	// DriverName is the CSI driver name.
	DriverName = "fusebpf.csi.io"
	// TopologyKeyNode is the topology key that pins a volume to its node.
	TopologyKeyNode = "fusebpf.csi.io/node"
)

// shutdownGrace bounds how long Run waits for calls in flight to finish.
const shutdownGrace = 10 * time.Second

// Driver serves the CSI services selected by its options.
type Driver struct {
	opts       Options
	volumesDir string      // local volume directories
	node       state.Store // node records; nil unless the node service runs
	ctrl       state.Store // controller records; nil unless the controller service runs
	locks      *keyLocks

	mu      sync.Mutex
	servers map[string]*served // filtered mounts this process serves, by volume ID

	recovered atomic.Bool // start-up reconciliation done
}

// served is a FUSE server of this process and a channel closed when it
// has stopped.
type served struct {
	srv  *fusebpf.Server // nil in the kernel tier
	done chan struct{}
	// release frees what a kernel-tier volume holds (its fuse_ops
	// registration) once its mount is gone; nil in the userspace tier.
	release func()
}

// New validates o and prepares the data and state directories.
func New(o Options) (*Driver, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	d := &Driver{
		opts:       o,
		volumesDir: filepath.Join(o.DataDir, "volumes"),
		locks:      newKeyLocks(),
		servers:    map[string]*served{},
	}
	// The raw backings of local volumes live here; only the filtered
	// view may reach pods, so nobody else may enter.
	if err := os.MkdirAll(d.volumesDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if o.Mode.node() {
		s, err := state.OpenDir(filepath.Join(o.StateDir, "node"))
		if err != nil {
			return nil, err
		}
		d.node = s
	} else {
		d.recovered.Store(true)
	}
	if o.Mode.controller() {
		s, err := state.OpenDir(filepath.Join(o.StateDir, "controller"))
		if err != nil {
			return nil, err
		}
		d.ctrl = s
	}
	return d, nil
}

// Run serves the CSI services on the endpoint until ctx ends, then stops
// accepting calls and waits (briefly) for those in flight. Filtered mounts
// stay as they are: they live as long as this process, and the next
// process re-serves them (Options.RecoverMounts).
func (d *Driver) Run(ctx context.Context) error {
	path, err := socketPath(d.opts.Endpoint)
	if err != nil {
		return err
	}
	lis, err := listenUnix(path)
	if err != nil {
		return err
	}
	srv := grpc.NewServer(grpc.UnaryInterceptor(logCalls))
	csipb.RegisterIdentityServer(srv, &identityServer{d: d})
	if d.opts.Mode.controller() {
		csipb.RegisterControllerServer(srv, &controllerServer{d: d})
	}
	if d.opts.Mode.node() {
		csipb.RegisterNodeServer(srv, &nodeServer{d: d})
	}
	klog.InfoS("Serving CSI", "driver", DriverName, "version", version.Version, "endpoint", d.opts.Endpoint,
		"mode", d.opts.Mode, "nodeID", d.opts.NodeID, "dataDir", d.opts.DataDir, "stateDir", d.opts.StateDir)

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(lis) }()
	if d.opts.Mode.node() && !d.recovered.Load() {
		go func() {
			d.recover(ctx)
			d.recovered.Store(true)
		}()
	}
	select {
	case err := <-serveErr:
		return fmt.Errorf("serve %s: %w", d.opts.Endpoint, err)
	case <-ctx.Done():
	}
	klog.InfoS("Shutting down: waiting for calls in flight", "grace", shutdownGrace)
	stopped := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(shutdownGrace):
		srv.Stop()
	}
	return nil
}

// listenUnix listens on a unix socket, replacing a stale socket file that a
// previous process left.
func listenUnix(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("endpoint: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSocket == 0 {
			return nil, fmt.Errorf("endpoint %s: exists and is not a socket", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("endpoint: %w", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("endpoint: %w", err)
	}
	lis, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("endpoint: %w", err)
	}
	return lis, nil
}

// logCalls logs every call with its secrets stripped and turns errors into
// gRPC status codes.
func logCalls(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	klog.V(4).InfoS("GRPC call", "method", info.FullMethod, "request", protosanitizer.StripSecrets(req))
	resp, err := handler(ctx, req)
	if err != nil {
		st := toStatus(err)
		klog.ErrorS(err, "GRPC error", "method", info.FullMethod, "code", st.Code(),
			"duration", time.Since(start), "request", protosanitizer.StripSecrets(req))
		return nil, st.Err()
	}
	klog.V(4).InfoS("GRPC response", "method", info.FullMethod, "duration", time.Since(start),
		"response", protosanitizer.StripSecrets(resp))
	return resp, nil
}

// topology is the accessible topology of this node and its volumes.
func (d *Driver) topology() *csipb.Topology {
	return &csipb.Topology{Segments: map[string]string{TopologyKeyNode: d.opts.NodeID}}
}

// localDir is the backing directory of a local volume.
func (d *Driver) localDir(id volumeID) string {
	return filepath.Join(d.volumesDir, id.UID)
}
