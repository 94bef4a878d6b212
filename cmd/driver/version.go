package main

import (
	"context"
	"fmt"
	"io"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/version"
)

func init() {
	register(&command{name: "version", summary: "print the version and exit", run: runVersion})
}

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("version", "", "Print the build's version (also: fusebpf-csi --version).", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{msg: "version takes no arguments"}
	}
	fmt.Fprintf(stdout, "fusebpf-csi %s\n", version.Get())
	return nil
}
