package csi

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"
)

// Mode selects which CSI services a process serves.
type Mode string

// Modes of [Options.Mode].
const (
	// ModeNode serves Identity and Node.
	ModeNode Mode = "node"
	// ModeController serves Identity and Controller.
	ModeController Mode = "controller"
	// ModeAll serves Identity, Controller and Node; this is how the node
	// DaemonSet runs next to external-provisioner --node-deployment.
	ModeAll Mode = "all"
)

func (m Mode) node() bool       { return m == ModeNode || m == ModeAll }
func (m Mode) controller() bool { return m == ModeController || m == ModeAll }

// Defaults of [Options].
const (
	DefaultOperationTimeout = 30 * time.Second
	DefaultHealthTimeout    = 5 * time.Second
)

// Options configure a [Driver]. Fill them with [Options.AddFlags] or by
// hand, then call [Options.Validate] (New does too).
type Options struct {
	// Endpoint is the gRPC listen address, unix:///path/to/csi.sock.
	Endpoint string
	// NodeID names this node; it becomes the topology value and part of
	// every volume ID created here. Kubernetes node names fit.
	NodeID string
	// Mode selects the services to serve.
	Mode Mode
	// DataDir holds local volumes (DataDir/volumes) and, by default,
	// the state directory.
	DataDir string
	// StateDir holds the volume records; default DataDir/state.
	StateDir string
	// AllowedBackingRoots are the directories below which hostPath
	// volumes may lie. Empty means hostPath volumes are refused.
	AllowedBackingRoots []string
	// OperationTimeout bounds each mount, unmount and backing
	// preparation step.
	OperationTimeout time.Duration
	// HealthTimeout bounds each liveness check (a stat of a mount,
	// which blocks on a hung FUSE server).
	HealthTimeout time.Duration
	// RecoverMounts re-serves, at start-up, staged volumes whose FUSE
	// server died with the previous process. When false they stay
	// dead (reported abnormal) until unstaged.
	RecoverMounts bool
	// Policies resolves StorageClass policy names; nil means the
	// built-ins only (standalone serve, csi-sanity).
	Policies PolicySource
}

type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error {
	*l = append(*l, s)
	return nil
}

// AddFlags registers the options as command-line flags on fs, with their
// defaults.
func (o *Options) AddFlags(fs *flag.FlagSet) {
	if o.Mode == "" {
		o.Mode = ModeAll
	}
	if o.OperationTimeout == 0 {
		o.OperationTimeout = DefaultOperationTimeout
	}
	if o.HealthTimeout == 0 {
		o.HealthTimeout = DefaultHealthTimeout
	}
	fs.StringVar(&o.Endpoint, "endpoint", o.Endpoint, "CSI endpoint, unix:///path/to/csi.sock")
	fs.StringVar(&o.NodeID, "nodeid", o.NodeID, "name of this node (the Kubernetes node name); required")
	fs.Func("mode", "services to serve: node, controller or all (default "+string(o.Mode)+")", func(s string) error {
		o.Mode = Mode(s)
		return nil
	})
	fs.StringVar(&o.DataDir, "data-dir", o.DataDir, "directory for local volumes and, by default, state; required")
	fs.StringVar(&o.StateDir, "state-dir", o.StateDir, "directory for node volume records (default DATA-DIR/state)")
	fs.Var((*stringList)(&o.AllowedBackingRoots), "allowed-backing-root", "directory below which hostPath volumes may lie; repeat for several")
	fs.DurationVar(&o.OperationTimeout, "operation-timeout", o.OperationTimeout, "bound on each mount, unmount and backing preparation")
	fs.DurationVar(&o.HealthTimeout, "health-timeout", o.HealthTimeout, "bound on each mount liveness check")
	fs.BoolVar(&o.RecoverMounts, "recover-mounts", true, "at start-up, re-serve staged volumes whose FUSE server died with the previous process")
}

// Validate checks the options and fills in defaults (StateDir, timeouts,
// cleaned paths).
func (o *Options) Validate() error {
	var errs []error
	if _, err := socketPath(o.Endpoint); err != nil {
		errs = append(errs, err)
	}
	if err := validNodeID(o.NodeID); err != nil {
		errs = append(errs, err)
	}
	switch o.Mode {
	case ModeNode, ModeController, ModeAll:
	case "":
		o.Mode = ModeAll
	default:
		errs = append(errs, fmt.Errorf("--mode %q: want node, controller or all", o.Mode))
	}
	if o.DataDir == "" || !filepath.IsAbs(o.DataDir) {
		errs = append(errs, fmt.Errorf("--data-dir %q: an absolute path is required", o.DataDir))
	} else {
		o.DataDir = filepath.Clean(o.DataDir)
	}
	if o.StateDir == "" && o.DataDir != "" {
		o.StateDir = filepath.Join(o.DataDir, "state")
	}
	if o.StateDir != "" && !filepath.IsAbs(o.StateDir) {
		errs = append(errs, fmt.Errorf("--state-dir %q: an absolute path is required", o.StateDir))
	} else if o.StateDir != "" {
		o.StateDir = filepath.Clean(o.StateDir)
	}
	for i, r := range o.AllowedBackingRoots {
		if !filepath.IsAbs(r) {
			errs = append(errs, fmt.Errorf("--allowed-backing-root %q: an absolute path is required", r))
			continue
		}
		if filepath.Clean(r) == "/" {
			errs = append(errs, errors.New("--allowed-backing-root /: the whole file system cannot be a backing root"))
			continue
		}
		o.AllowedBackingRoots[i] = filepath.Clean(r)
	}
	if o.OperationTimeout == 0 {
		o.OperationTimeout = DefaultOperationTimeout
	}
	if o.HealthTimeout == 0 {
		o.HealthTimeout = DefaultHealthTimeout
	}
	if o.OperationTimeout < 0 || o.HealthTimeout < 0 {
		errs = append(errs, errors.New("timeouts must be positive"))
	}
	return errors.Join(errs...)
}

// socketPath returns the file system path of a unix:// endpoint.
func socketPath(endpoint string) (string, error) {
	if endpoint == "" {
		return "", errors.New("--endpoint is required (unix:///path/to/csi.sock)")
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", fmt.Errorf("--endpoint %q: %w", endpoint, err)
	}
	if u.Scheme != "unix" {
		return "", fmt.Errorf("--endpoint %q: only unix:// endpoints are supported", endpoint)
	}
	p := u.Path
	if p == "" {
		p = u.Opaque // unix:relative/path
	}
	if u.Host != "" || !filepath.IsAbs(p) {
		return "", fmt.Errorf("--endpoint %q: want unix:///absolute/path", endpoint)
	}
	return filepath.Clean(p), nil
}

// validNodeID accepts names that fit a volume ID: a DNS-1123 subdomain
// (what Kubernetes node names are), at most 63 bytes so IDs stay well under
// the CSI limit of 128 bytes.
func validNodeID(id string) error {
	if id == "" {
		return errors.New("--nodeid is required")
	}
	if len(id) > 63 {
		return fmt.Errorf("--nodeid %q: longer than 63 bytes", id)
	}
	for i, c := range id {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || (c == '-' || c == '.') && i > 0 && i < len(id)-1
		if !ok {
			return fmt.Errorf("--nodeid %q: want lowercase letters, digits, '-' and '.' (a Kubernetes node name)", id)
		}
	}
	return nil
}
