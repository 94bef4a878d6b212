package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"k8s.io/klog/v2"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/csi"
)

func init() {
	register(&command{name: "serve", summary: "run the CSI driver (identity, controller and/or node services)", run: runServe})
}

func runServe(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := newFlags("serve", "", `Serve the CSI services on a unix socket until SIGINT or SIGTERM.
Filtered mounts are served from this process; when it stops they become
dead until the next start re-serves them (--recover-mounts).`, stderr)
	var o csi.Options
	o.AddFlags(fs)
	// Of klog's flags only the verbosity ones; logs go to stderr.
	kfs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(kfs)
	for _, n := range []string{"v", "vmodule"} {
		f := kfs.Lookup(n)
		fs.Var(f.Value, n, f.Usage)
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{msg: fmt.Sprintf("unexpected arguments %q", fs.Args())}
	}
	if err := o.Validate(); err != nil {
		return usageError{msg: err.Error()}
	}
	defer klog.Flush()
	d, err := csi.New(o)
	if err != nil {
		return err
	}
	return d.Run(ctx)
}
