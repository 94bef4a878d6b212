package main

import (
	"context"
	"fmt"
	"io"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/fusebpf/kernel"
)

func init() {
	register(&command{name: "probe", summary: "show what this node's kernel offers, as the node plugin publishes it", run: runProbe})
}

func runProbe(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("probe", "", `Probe this kernel: enforcement tiers, the FUSE-BPF ABI and its
fingerprint, FUSE passthrough, /dev/fuse. The node plugin publishes the
same facts in this node's FuseBPFNode.`, stderr)
	out := fs.String("o", "text", "output format: text or json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{msg: fmt.Sprintf("unexpected arguments %q", fs.Args())}
	}
	if *out != "text" && *out != "json" {
		return usageError{msg: fmt.Sprintf("-o %q: want text or json", *out)}
	}
	p, err := kernel.ProbeKernel(kernel.ProbeOptions{})
	if err != nil {
		return err
	}
	if *out == "json" {
		return writeJSON(stdout, p)
	}
	_, err = io.WriteString(stdout, p.String())
	return err
}
