// Command fusebpf-bench compares filtered volumes with the directory they
// show, a plain go-fuse loopback and bindfs, in one interleaved run.
//
//	fusebpf-bench [-short] [-rounds N] [-out DIR] [-cpuprofile FILE] ...
//
// Run it as root from the repository root (it reads the hide-audit policy
// from bpf/testdata); see docs/benchmarks.md and test/bench/run.sh.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/fusebpf-csi/fusebpf-csi/test/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "fusebpf-bench:", err)
		os.Exit(1)
	}
	if err := bench.Main(ctx, []string{self}, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "fusebpf-bench:", err)
		os.Exit(1)
	}
}
