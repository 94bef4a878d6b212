package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/fusebpf"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/policy"
)

func init() {
	register(&command{name: "mount", summary: "mount a filtered view of a directory in the foreground", run: runMount})
}

func runMount(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("mount", "BACKING MOUNTPOINT", `Mount a filtered view of the directory BACKING on MOUNTPOINT, without
Kubernetes, and serve it until SIGINT or SIGTERM, which unmount it.`, stderr)
	policyRef := fs.String("policy", "allow-all", "policy that filters the view: a built-in ("+strings.Join(policy.Builtins(), ", ")+") or a policy object file")
	var params paramFlags
	fs.Var(&params, "param", "policy parameter NAME=VALUE (repeatable; see fusebpf-csi policy inspect)")
	readOnly := fs.Bool("read-only", false, "mount read-only (MS_RDONLY)")
	debug := fs.Bool("debug", false, "log every FUSE request to stderr")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return usageError{msg: "want BACKING and MOUNTPOINT"}
	}
	backing, mountpoint := fs.Arg(0), fs.Arg(1)
	// The policy is loaded and checked before anything is mounted.
	p, err := policy.Open(*policyRef)
	if err != nil {
		return fmt.Errorf("policy %s: %w", *policyRef, err)
	}
	in, err := p.Instantiate(params.values(), policy.InstanceOptions{
		Trace: func(msg string) { fmt.Fprintln(stderr, "bpf_printk:", msg) },
	})
	if err != nil {
		return fmt.Errorf("policy %s: %w", *policyRef, err)
	}
	if err := preflight(backing, mountpoint); err != nil {
		return err
	}
	srv, err := fusebpf.Mount(ctx, fusebpf.MountOptions{
		Backing: backing, Mountpoint: mountpoint, ReadOnly: *readOnly, Source: "fusebpf", Debug: *debug,
		Filter: in,
	})
	if errors.Is(err, fusebpf.ErrBusy) {
		return fmt.Errorf("mountpoint %s is busy: something is already mounted there", mountpoint)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "mounted %s on %s (policy %s, userspace tier, passthrough %v, read-only %v); SIGINT or SIGTERM unmounts\n",
		backing, mountpoint, *policyRef, srv.Passthrough(), *readOnly)
	ended := make(chan struct{})
	go func() {
		srv.Wait()
		close(ended)
	}()
	select {
	case <-ctx.Done():
	case <-ended:
		return fmt.Errorf("%s was unmounted from outside", mountpoint)
	}
	if err := srv.Unmount(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "unmounted %s\n", mountpoint)
	return nil
}

// preflight turns the usual mistakes into one clear line each.
func preflight(backing, mountpoint string) error {
	if os.Geteuid() != 0 {
		return errors.New("must run as root: a filtered mount needs CAP_SYS_ADMIN")
	}
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("cannot open /dev/fuse (is the fuse module loaded?): %w", err)
	}
	f.Close()
	for _, p := range []struct{ what, path string }{{"backing", backing}, {"mountpoint", mountpoint}} {
		fi, err := os.Stat(p.path)
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s %s: no such directory", p.what, p.path)
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", p.what, p.path, err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s %s: not a directory", p.what, p.path)
		}
	}
	return nil
}

// paramFlags collects repeated --param NAME=VALUE flags.
type paramFlags []string

func (p *paramFlags) String() string { return strings.Join(*p, ",") }

func (p *paramFlags) Set(v string) error {
	if name, _, ok := strings.Cut(v, "="); !ok || name == "" {
		return fmt.Errorf("%q is not NAME=VALUE", v)
	}
	*p = append(*p, v)
	return nil
}

func (p paramFlags) values() policy.Values {
	v := policy.Values{}
	for _, kv := range p {
		name, val, _ := strings.Cut(kv, "=")
		v[name] = val
	}
	return v
}
