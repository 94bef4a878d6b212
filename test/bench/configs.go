package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/bpfvm"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/fusebpf"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/policy"
)

// The configurations, in the order every round visits them.
const (
	Native    = "native"
	AllowAll  = "allow-all"
	HideAudit = "hide-audit"
	GoFuse    = "gofuse"
	Bindfs    = "bindfs"
	// Not in the default set: bindfs -o multithreaded, and the two halves
	// of hide-audit on their own, to tell their costs apart.
	BindfsMT = "bindfs-mt"
	Hide     = "hide"
	Audit    = "audit"
	// HideAuditWake is configuration 3 with its ring buffer drained by a
	// blocking Read woken for every event, without the node plugin's
	// linger: what a wake-up per file operation costs.
	HideAuditWake = "hide-audit-wake"
	// GoFuseNoPT is configuration 4 with passthrough refused at INIT:
	// what passthrough adds to metadata operations (file data then goes
	// through the daemon).
	GoFuseNoPT = "gofuse-nopt"
)

// DefaultConfigs are the configurations a run measures unless told
// otherwise.
var DefaultConfigs = []string{Native, AllowAll, HideAudit, GoFuse, Bindfs}

var configTitles = map[string]string{
	Native:        "1 native",
	AllowAll:      "2 fusebpf allow-all",
	HideAudit:     "3 fusebpf hide(20)+audit",
	GoFuse:        "4 go-fuse loopback",
	Bindfs:        "5 bindfs",
	BindfsMT:      "bindfs -o multithreaded",
	Hide:          "fusebpf hide(20)",
	Audit:         "fusebpf audit",
	GoFuseNoPT:    "go-fuse loopback, no passthrough",
	HideAuditWake: "fusebpf hide(20)+audit, woken per event",
}

var configDescriptions = map[string]string{
	Native:        "the backing directory itself",
	AllowAll:      "pkg/fusebpf userspace tier, built-in allow-all policy (no callbacks)",
	HideAudit:     "pkg/fusebpf userspace tier, bpf/testdata/bench_hide_audit.o: 20 hide patterns, one audit event per operation, ring buffer drained during the run",
	GoFuse:        "go-fuse v2 fs.NewLoopbackRoot with the userspace tier's FUSE options (DirectMount, allow_other, default_permissions, nosuid, nodev, 1 s entry/attr/negative TTL, no READDIRPLUS, HANDLE_KILLPRIV_V2, locks, MaxBackground 64); passthrough as go-fuse does it",
	Bindfs:        "bindfs -f -o allow_other (libfuse as the distribution builds it)",
	BindfsMT:      "bindfs -f -o allow_other,multithreaded",
	Hide:          "pkg/fusebpf userspace tier, built-in hide policy with the same 20 patterns",
	Audit:         "pkg/fusebpf userspace tier, built-in audit policy, ring buffer drained during the run",
	GoFuseNoPT:    "configuration 4 with CAP_PASSTHROUGH disabled at INIT: file data through the daemon",
	HideAuditWake: "configuration 3 with the ring buffer drained by a blocking Read woken for every event (no linger)",
}

// HidePatterns are the 20 patterns of the hide-audit configuration: names
// a filtered volume typically keeps from a workload.
var HidePatterns = []string{
	".git", ".env", ".ssh", ".aws", ".kube", ".docker", ".netrc", "secrets",
	"credentials*", "id_rsa*", "id_ed25519*", "*.key", "*.pem", "*.p12",
	"*.pfx", "*.kdbx", "*.gpg", "*.tfstate", "*.tfvars", "*.keystore",
}

// mounted is one configuration, ready for workloads.
type mounted struct {
	name string
	root string   // where workloads run
	cpu  cpuMeter // daemon CPU time, nil for native
	// external is set for a daemon in its own process (bindfs).
	external bool
	stop     func() error

	// hide-audit: the policy instance and its drained events.
	inst    *policy.Instance
	events  *atomic.Uint64
	dropped func() uint64
}

// mountConfig brings up one configuration on backing; mp is its empty
// mountpoint (unused by native). The daemons of in-process mounts carry
// the pprof label config=<name>.
func mountConfig(ctx context.Context, name, backing, mp string, o *Options) (*mounted, error) {
	var m *mounted
	var err error
	pprof.Do(ctx, pprof.Labels("config", name), func(ctx context.Context) {
		switch name {
		case Native:
			m = &mounted{name: name, root: backing, stop: func() error { return nil }}
		case AllowAll:
			m, err = mountFusebpf(ctx, name, backing, mp, "allow-all", nil)
		case HideAudit:
			m, err = mountFusebpf(ctx, name, backing, mp, o.HideAuditObject,
				policy.Values{"hidePatterns": strings.Join(HidePatterns, ",")})
		case HideAuditWake:
			m, err = mountFusebpf(ctx, name, backing, mp, o.HideAuditObject,
				policy.Values{"hidePatterns": strings.Join(HidePatterns, ",")})
		case Hide:
			m, err = mountFusebpf(ctx, name, backing, mp, "hide",
				policy.Values{"hidePatterns": strings.Join(HidePatterns, ",")})
		case Audit:
			m, err = mountFusebpf(ctx, name, backing, mp, "audit", nil)
		case GoFuse:
			m, err = mountGoFuse(name, backing, mp, true)
		case GoFuseNoPT:
			m, err = mountGoFuse(name, backing, mp, false)
		case Bindfs:
			m, err = mountBindfs(ctx, name, backing, mp, "allow_other")
		case BindfsMT:
			m, err = mountBindfs(ctx, name, backing, mp, "allow_other,multithreaded")
		default:
			err = fmt.Errorf("%w: %q", ErrUnknownConfig, name)
		}
	})
	return m, err
}

// mountFusebpf mounts the userspace tier with a policy (a built-in name or
// an object file) and, when the policy has an "events" ring buffer,
// drains it the way the node plugin does.
func mountFusebpf(ctx context.Context, name, backing, mp, ref string, values policy.Values) (*mounted, error) {
	p, err := policy.Open(ref)
	if err != nil {
		return nil, fmt.Errorf("%s: policy %s: %w", name, ref, err)
	}
	in, err := p.Instantiate(values, policy.InstanceOptions{})
	if err != nil {
		return nil, fmt.Errorf("%s: policy %s: %w", name, ref, err)
	}
	mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	srv, err := fusebpf.Mount(mctx, fusebpf.MountOptions{
		Backing: backing, Mountpoint: mp, Filter: in, Source: "bench-" + name,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if !srv.Passthrough() {
		srv.Unmount()
		return nil, fmt.Errorf("%s: %w", name, ErrNoPassthrough)
	}
	m := &mounted{name: name, root: mp, cpu: selfCPU, inst: in}
	stopDrain := func() {}
	if rb := in.RingBuffer("events"); rb != nil {
		m.events = new(atomic.Uint64)
		m.dropped = rb.Dropped
		dctx, dcancel := context.WithCancel(ctx)
		done := make(chan struct{})
		decode := func(rec *bpfvm.Record) {
			if _, err := policy.DecodeAuditEvent(rec.RawSample); err == nil {
				m.events.Add(1)
			}
		}
		go func() {
			defer close(done)
			var rec bpfvm.Record
			if name == HideAuditWake {
				for rb.Read(dctx, &rec) == nil {
					decode(&rec)
				}
				return
			}
			// As the node plugin drains (pkg/csi's auditLinger).
			rb.Drain(dctx, 10*time.Millisecond, decode)
		}()
		stopDrain = func() { dcancel(); <-done }
	}
	m.stop = func() error {
		err := srv.Unmount()
		stopDrain()
		return err
	}
	return m, nil
}

// mountGoFuse mounts go-fuse's own loopback file system with the FUSE
// options pkg/fusebpf uses, so the two differ only in their node code.
func mountGoFuse(name, backing, mp string, passthrough bool) (*mounted, error) {
	root, err := fs.NewLoopbackRoot(backing)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	ttl := time.Second
	var disabled uint64
	if !passthrough {
		disabled = fuse.CAP_PASSTHROUGH
	}
	srv, err := fs.Mount(mp, root, &fs.Options{
		EntryTimeout:    &ttl,
		AttrTimeout:     &ttl,
		NegativeTimeout: &ttl,
		MountOptions: fuse.MountOptions{
			AllowOther:           true,
			Options:              []string{"default_permissions"},
			FsName:               "bench-" + name,
			Name:                 "loopback",
			DirectMountStrict:    true,
			DirectMountFlags:     unix.MS_NOSUID | unix.MS_NODEV,
			DisableReadDirPlus:   true,
			ExtraCapabilities:    fuse.CAP_HANDLE_KILLPRIV_V2,
			EnableLocks:          true,
			MaxBackground:        64,
			DisabledCapabilities: disabled,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if got := srv.KernelSettings().Flags64()&fuse.CAP_PASSTHROUGH != 0; got != passthrough {
		srv.Unmount()
		if !passthrough {
			return nil, fmt.Errorf("%s: passthrough negotiated although disabled", name)
		}
		return nil, fmt.Errorf("%s: %w", name, ErrNoPassthrough)
	}
	return &mounted{name: name, root: mp, cpu: selfCPU, stop: srv.Unmount}, nil
}

// mountBindfs starts bindfs in the foreground (so its PID is known) and
// waits for the mount to appear.
func mountBindfs(ctx context.Context, name, backing, mp, opts string) (*mounted, error) {
	if _, err := exec.LookPath("bindfs"); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var stat0 unix.Stat_t
	if err := unix.Stat(mp, &stat0); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	cmd := exec.Command("bindfs", "-f", "-o", opts, backing, mp)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	kill := func() {
		cmd.Process.Kill()
		<-exited
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var st unix.Stat_t
		if err := unix.Stat(mp, &st); err == nil && st.Dev != stat0.Dev {
			break
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("%s: exited before mounting: %v", name, err)
		case <-ctx.Done():
			kill()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			kill()
			return nil, fmt.Errorf("%s: not mounted after 20 s", name)
		}
	}
	stop := func() error {
		err := unix.Unmount(mp, 0)
		if err != nil {
			err = unix.Unmount(mp, unix.MNT_DETACH)
		}
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			kill()
		}
		return err
	}
	return &mounted{name: name, root: mp, cpu: pidCPU(cmd.Process.Pid), external: true, stop: stop}, nil
}
