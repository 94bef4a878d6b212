// Command fusebpf-csi is the fusebpf-csi CSI driver and its tools.
//
//	fusebpf-csi serve --endpoint unix:///csi/csi.sock --nodeid NODE --data-dir DIR
//	fusebpf-csi mount [--policy allow-all] [--read-only] BACKING MOUNTPOINT
//	fusebpf-csi version
//
// Each subcommand lives in its own file and registers itself in init.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/version"
)

// command is one subcommand of fusebpf-csi.
type command struct {
	name    string
	summary string // one line for the command list
	// run parses args (everything after the command name) and runs;
	// ctx ends on SIGINT or SIGTERM.
	run func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = map[string]*command{}

// register adds a subcommand; called from the init of its file.
func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("duplicate command " + c.name)
	}
	commands[c.name] = c
}

// usageError is a bad command line: exit status 2, with the usage hint
// unless the flag package has printed the usage already.
type usageError struct {
	msg     string
	printed bool
}

func (e usageError) Error() string { return e.msg }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return 0
	case "-version", "--version":
		args = []string{"version"}
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "fusebpf-csi: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := c.run(ctx, args[1:], stdout, stderr)
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue) && ue.printed:
		return 2
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "fusebpf-csi %s: %v (see fusebpf-csi %s --help)\n", c.name, err, c.name)
		return 2
	default:
		fmt.Fprintf(stderr, "fusebpf-csi %s: %v\n", c.name, err)
		return 1
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "fusebpf-csi %s: filtered volumes for Kubernetes (CSI driver %q)\n\n", version.Version, "fusebpf.csi.io")
	fmt.Fprintf(w, "Usage: fusebpf-csi COMMAND [FLAGS] [ARGS]\n\nCommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "\nRun 'fusebpf-csi COMMAND --help' for the flags of a command.\n")
}

// parseFlags parses a subcommand's flags; a bad flag is a usage error that
// the flag package has already reported.
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return err
	}
	return usageError{msg: err.Error(), printed: true}
}

// newFlags returns a flag set for a subcommand that prints its usage to
// stderr.
func newFlags(name, argsUsage, description string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: fusebpf-csi %s\n\n%s\n\nFlags:\n", strings.TrimSpace(name+" [FLAGS] "+argsUsage), description)
		fs.PrintDefaults()
	}
	return fs
}
