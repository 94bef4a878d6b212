package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/fusebpf"
)

func init() {
	register(&command{name: "mount", summary: "mount a filtered view of a directory in the foreground", run: runMount})
}

func runMount(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("mount", "BACKING MOUNTPOINT", `Mount a filtered view of the directory BACKING on MOUNTPOINT, without
Kubernetes, and serve it until SIGINT or SIGTERM, which unmount it.`, stderr)
	policy := fs.String("policy", "allow-all", "policy that filters the view (available: allow-all)")
	readOnly := fs.Bool("read-only", false, "mount read-only (MS_RDONLY)")
	debug := fs.Bool("debug", false, "log every FUSE request to stderr")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return usageError{msg: "want BACKING and MOUNTPOINT"}
	}
	backing, mountpoint := fs.Arg(0), fs.Arg(1)
	if *policy != "allow-all" {
		return usageError{msg: fmt.Sprintf("unknown policy %q (available: allow-all)", *policy)}
	}
	if err := preflight(backing, mountpoint); err != nil {
		return err
	}
	srv, err := fusebpf.Mount(ctx, fusebpf.MountOptions{
		Backing: backing, Mountpoint: mountpoint, ReadOnly: *readOnly, Source: "fusebpf", Debug: *debug,
	})
	if errors.Is(err, fusebpf.ErrBusy) {
		return fmt.Errorf("mountpoint %s is busy: something is already mounted there", mountpoint)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "mounted %s on %s (policy %s, userspace tier, passthrough %v, read-only %v); SIGINT or SIGTERM unmounts\n",
		backing, mountpoint, *policy, srv.Passthrough(), *readOnly)
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
