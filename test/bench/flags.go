package bench

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// parseFlags builds Options from the command line: -short picks the
// defaults, every other flag overrides one setting.
func parseFlags(args []string, stderr io.Writer) (*Options, error) {
	o := FullOptions()
	if slices.ContainsFunc(args, func(a string) bool {
		return a == "-short" || a == "--short" || a == "-short=true" || a == "--short=true"
	}) {
		o = ShortOptions()
	}
	o.OutDir = filepath.Join("/var/tmp", "fusebpf-bench-results", time.Now().UTC().Format("20060102-150405"))
	fl := flag.NewFlagSet("fusebpf-bench", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() {
		fmt.Fprintf(stderr, "usage: fusebpf-bench [-short] [flags]\n\n"+
			"Mounts one backing directory as native, fusebpf allow-all, fusebpf hide+audit,\n"+
			"go-fuse loopback and bindfs, and measures them interleaved. Needs root, fio, bindfs.\n\n")
		fl.PrintDefaults()
	}
	fl.Bool("short", false, "CI mode: small sizes, one round (other flags still override)")
	fl.IntVar(&o.Rounds, "rounds", o.Rounds, "rounds (each measurement runs once per configuration per round)")
	fl.StringVar(&o.WorkDir, "workdir", o.WorkDir, "work directory on the disk to measure (emptied, then removed)")
	fl.StringVar(&o.OutDir, "out", o.OutDir, "output directory for results.json, results.md and raw fio output")
	configs := fl.String("configs", strings.Join(o.Configs, ","), "configurations: "+strings.Join(append(slices.Clone(DefaultConfigs), BindfsMT, Hide, Audit, HideAuditWake, GoFuseNoPT), ","))
	groups := fl.String("groups", strings.Join(o.Groups, ","), "workload groups: "+strings.Join(AllGroups, ","))
	fl.StringVar(&o.HideAuditObject, "hide-audit-object", o.HideAuditObject, "compiled bench_hide_audit policy")
	sizeMiB := fl.Int64("size", o.FileSize>>20, "fio file size, MiB")
	fl.DurationVar(&o.Runtime, "runtime", o.Runtime, "time-based fio jobs: measured time")
	fl.DurationVar(&o.Ramp, "ramp", o.Ramp, "time-based fio jobs: ramp before measuring")
	fl.IntVar(&o.MetaFiles, "meta-files", o.MetaFiles, "metadata: files")
	fl.IntVar(&o.MetaDirs, "meta-dirs", o.MetaDirs, "metadata: directories they are spread over")
	fl.IntVar(&o.TreeFiles, "tree-files", o.TreeFiles, "files in the generated source tree")
	scale := fl.String("scale", joinInts(o.ScaleSizes), "tree sizes for the scaling measurement")
	patterns := fl.String("patterns", joinInts(o.PatternCounts), fmt.Sprintf("hide pattern counts (1..%d)", MaxHidePatterns))
	fl.IntVar(&o.PatternLookups, "pattern-lookups", o.PatternLookups, "patterns: missing-name lookups per mount")
	fl.IntVar(&o.PatternEntries, "pattern-entries", o.PatternEntries, "patterns: directory entries listed per mount")
	fl.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the daemons (labelled config=NAME) to this file")
	if err := fl.Parse(args); err != nil {
		return nil, err
	}
	if fl.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fl.Args())
	}
	o.FileSize = *sizeMiB << 20
	o.Configs = splitList(*configs)
	o.Groups = splitList(*groups)
	var err error
	if o.ScaleSizes, err = parseInts(*scale); err != nil {
		return nil, fmt.Errorf("-scale: %w", err)
	}
	if o.PatternCounts, err = parseInts(*patterns); err != nil {
		return nil, fmt.Errorf("-patterns: %w", err)
	}
	return &o, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range splitList(s) {
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}
