package registration

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"k8s.io/klog/v2"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

// Errors returned by this package.
var (
	// ErrInvalidOptions reports options that cannot work (a missing driver
	// name, a relative path).
	ErrInvalidOptions = errors.New("invalid registration options")
	// ErrRejected reports that kubelet answered NotifyRegistrationStatus with
	// PluginRegistered=false; the plugin should be restarted.
	ErrRejected = errors.New("kubelet rejected plugin registration")
	// ErrSocketMissing reports that the registration socket disappeared while
	// the server was running, so kubelet has deregistered the plugin.
	ErrSocketMissing = errors.New("registration socket missing")
	// ErrNotSocket reports that the registration path exists and is not a
	// socket; the server refuses to remove it.
	ErrNotSocket = errors.New("registration path exists and is not a socket")
	// ErrNotReady reports a CSI Probe that answered ready=false.
	ErrNotReady = errors.New("csi plugin not ready")
)

// DefaultSupportedVersions are the CSI versions announced to kubelet, as
// node-driver-registrar announces them.
var DefaultSupportedVersions = []string{"1.0.0"}

// Options configure a [Server].
type Options struct {
	// DriverName is the CSI driver name kubelet registers, e.g. fusebpf.csi.io.
	DriverName string
	// Endpoint is the CSI socket path as kubelet on the host sees it, e.g.
	// /var/lib/kubelet/plugins/fusebpf.csi.io/csi.sock (node-driver-registrar's
	// --kubelet-registration-path).
	Endpoint string
	// SocketPath is where the registration socket is created, as this process
	// sees it. Kubelet watches <kubelet-dir>/plugins_registry/ for it; by
	// convention the name is <DriverName>-reg.sock.
	SocketPath string
	// SupportedVersions are the CSI versions announced; empty means
	// [DefaultSupportedVersions].
	SupportedVersions []string
	// Ready, when set, is polled before the socket is created until it
	// returns nil: kubelet calls NodeGetInfo as soon as it has registered
	// the plugin, so the plugin must not be announced before its CSI socket
	// answers (typically [CSIProber.Check]).
	Ready func(ctx context.Context) error
}

// readyPoll is how often [Options.Ready] is retried.
const readyPoll = 250 * time.Millisecond

// Validate reports whether the options can work.
func (o *Options) Validate() error {
	switch {
	case o.DriverName == "":
		return fmt.Errorf("%w: driver name is empty", ErrInvalidOptions)
	case !filepath.IsAbs(o.Endpoint):
		return fmt.Errorf("%w: endpoint %q is not an absolute path", ErrInvalidOptions, o.Endpoint)
	case !filepath.IsAbs(o.SocketPath):
		return fmt.Errorf("%w: socket path %q is not an absolute path", ErrInvalidOptions, o.SocketPath)
	}
	return nil
}

// Status is what kubelet last said about the registration.
type Status struct {
	// Notified is true once kubelet has called NotifyRegistrationStatus.
	Notified bool
	// Registered is kubelet's verdict in its last notification.
	Registered bool
	// Error is kubelet's reason when Registered is false.
	Error string
}

// Server serves the kubelet plugin-registration API for one CSI driver. Create
// it with [New]; it is safe for concurrent use.
type Server struct {
	registerapi.UnimplementedRegistrationServer

	opts Options

	mu      sync.Mutex
	status  Status
	serving bool
}

var _ registerapi.RegistrationServer = (*Server)(nil)

// New returns a Server for the validated options.
func New(opts Options) (*Server, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if len(opts.SupportedVersions) == 0 {
		opts.SupportedVersions = DefaultSupportedVersions
	}
	return &Server{opts: opts}, nil
}

// GetInfo tells kubelet which CSI driver this is and where its socket is.
func (s *Server) GetInfo(ctx context.Context, _ *registerapi.InfoRequest) (*registerapi.PluginInfo, error) {
	klog.FromContext(ctx).V(2).Info("kubelet asked for plugin info", "driver", s.opts.DriverName, "endpoint", s.opts.Endpoint)
	return &registerapi.PluginInfo{
		Type:              registerapi.CSIPlugin,
		Name:              s.opts.DriverName,
		Endpoint:          s.opts.Endpoint,
		SupportedVersions: s.opts.SupportedVersions,
	}, nil
}

// NotifyRegistrationStatus records kubelet's verdict; a rejection makes
// [Server.Check] fail from then on.
func (s *Server) NotifyRegistrationStatus(ctx context.Context, st *registerapi.RegistrationStatus) (*registerapi.RegistrationStatusResponse, error) {
	s.mu.Lock()
	s.status = Status{Notified: true, Registered: st.GetPluginRegistered(), Error: st.GetError()}
	s.mu.Unlock()
	logger := klog.FromContext(ctx)
	if st.GetPluginRegistered() {
		logger.Info("registered with kubelet", "driver", s.opts.DriverName)
	} else {
		logger.Error(ErrRejected, "kubelet did not register the plugin", "driver", s.opts.DriverName, "reason", st.GetError())
	}
	return &registerapi.RegistrationStatusResponse{}, nil
}

// Status returns what kubelet last reported.
func (s *Server) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// Check fails when kubelet rejected the registration or when the socket was
// removed while serving. Before kubelet has answered it succeeds: kubelet's
// plugin watcher may take a while to notice a new socket.
func (s *Server) Check(context.Context) error {
	s.mu.Lock()
	st, serving := s.status, s.serving
	s.mu.Unlock()
	if st.Notified && !st.Registered {
		return fmt.Errorf("%w: %s", ErrRejected, st.Error)
	}
	if serving {
		fi, err := os.Lstat(s.opts.SocketPath)
		if err != nil || fi.Mode().Type() != fs.ModeSocket {
			return fmt.Errorf("%w: %s", ErrSocketMissing, s.opts.SocketPath)
		}
	}
	return nil
}

// Serve creates the registration socket, replacing a stale one left by an
// earlier instance, and serves until ctx is done. On return the socket is
// removed, which makes kubelet deregister the plugin. A cancelled ctx is a
// clean stop and returns nil.
func (s *Server) Serve(ctx context.Context) error {
	if err := s.waitReady(ctx); err != nil {
		return nil // cancelled while waiting: a clean stop
	}
	path := s.opts.SocketPath
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return fmt.Errorf("%w: %s", ErrNotSocket, path)
		}
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("registration: remove stale socket: %w", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("registration: %w", err)
	}
	lis, err := (&net.ListenConfig{}).Listen(ctx, "unix", path)
	if err != nil {
		return fmt.Errorf("registration: %w", err)
	}
	// The listener must not remove the socket itself on Close: a successor may
	// already have replaced it with its own.
	lis.(*net.UnixListener).SetUnlinkOnClose(false)
	ours, err := os.Lstat(path)
	if err != nil {
		_ = lis.Close()
		return fmt.Errorf("registration: %w", err)
	}
	srv := grpc.NewServer()
	registerapi.RegisterRegistrationServer(srv, s)

	s.mu.Lock()
	s.serving = true
	s.mu.Unlock()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()

	select {
	case <-ctx.Done():
		srv.GracefulStop()
		err = nil
	case err = <-errc:
		if err != nil {
			err = fmt.Errorf("registration: serve: %w", err)
		}
	}
	s.mu.Lock()
	s.serving = false
	s.mu.Unlock()
	_ = lis.Close()
	if rmErr := removeIfSameSocket(path, ours); rmErr != nil && err == nil {
		err = rmErr
	}
	return err
}

// waitReady polls Options.Ready until it succeeds or ctx ends.
func (s *Server) waitReady(ctx context.Context) error {
	if s.opts.Ready == nil {
		return nil
	}
	logger := klog.FromContext(ctx)
	for {
		cctx, cancel := context.WithTimeout(ctx, DefaultProbeTimeout)
		err := s.opts.Ready(cctx)
		cancel()
		if err == nil {
			return nil
		}
		logger.V(4).Info("waiting for the CSI socket before registering", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(readyPoll):
		}
	}
}

// removeIfSameSocket removes path only while it is still the socket file
// created by this server, so that stopping an old instance cannot deregister a
// successor that already replaced it. Inode numbers are reused at once on
// ext4, so the change time takes part in the identity.
func removeIfSameSocket(path string, ours fs.FileInfo) error {
	cur, err := os.Lstat(path)
	if err != nil || !sameFile(ours, cur) {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("registration: remove socket: %w", err)
	}
	return nil
}

func sameFile(a, b fs.FileInfo) bool {
	if !os.SameFile(a, b) {
		return false
	}
	sa, ok1 := a.Sys().(*syscall.Stat_t)
	sb, ok2 := b.Sys().(*syscall.Stat_t)
	return ok1 && ok2 && sa.Ctim == sb.Ctim
}
