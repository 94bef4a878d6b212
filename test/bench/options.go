package bench

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"
)

// Groups of workloads, in the order a round runs them.
const (
	GroupData      = "data"      // fio: sequential and random reads and writes
	GroupMeta      = "meta"      // create, stat, lookup, readdir, find, unlink
	GroupTree      = "tree"      // untar, walk, read back and remove a source tree
	GroupScale     = "scale"     // per-operation cost as the tree grows
	GroupPatterns  = "patterns"  // hide cost as the pattern count grows
	GroupCallbacks = "callbacks" // single policy callbacks in the interpreter
)

// AllGroups lists every workload group.
var AllGroups = []string{GroupData, GroupMeta, GroupTree, GroupScale, GroupPatterns, GroupCallbacks}

// Options configure a run. Start from [FullOptions] or [ShortOptions].
type Options struct {
	// Short marks the CI mode (small sizes, one round); it only labels
	// the report and shortens the interpreter timings.
	Short bool
	// Rounds is how many times every measurement is repeated.
	Rounds int
	// WorkDir holds the backing directory and the mountpoints; it must be
	// on the disk being measured. It is emptied first and removed at the
	// end.
	WorkDir string
	// OutDir receives results.json, results.md and fio's raw output.
	OutDir string
	// Configs and Groups select what runs (defaults: all).
	Configs []string
	Groups  []string
	// HideAuditObject is the compiled bench_hide_audit policy.
	HideAuditObject string
	// FileSize is the size of the fio data files.
	FileSize int64
	// Runtime and Ramp bound each time-based fio job.
	Runtime, Ramp time.Duration
	// MetaFiles empty files in MetaDirs directories for the metadata
	// sequence.
	MetaFiles, MetaDirs int
	// TreeFiles is the size of the generated source tree.
	TreeFiles int
	// ScaleSizes are the tree sizes of the scaling measurement.
	ScaleSizes []int
	// PatternCounts are the hide pattern counts to measure (1..1024).
	PatternCounts []int
	// PatternLookups and PatternEntries size the through-mount pattern
	// measurements: missing-name lookups and entries listed.
	PatternLookups, PatternEntries int
	// CPUProfile, when set, receives a CPU profile of the whole run: the
	// in-process daemons' side, each goroutine labelled config=<name>.
	CPUProfile string
	// Self is the command line that runs [Main] again (the metadata
	// probe runs as `Self... probe ...`).
	Self []string
	// Log receives progress lines (nil: discarded).
	Log io.Writer
}

// FullOptions are the settings of a full run: 1 GiB files, 10 s jobs, trees
// up to 100,000 files, three rounds.
func FullOptions() Options {
	return Options{
		Rounds:          3,
		WorkDir:         "/var/tmp/fusebpf-bench",
		Configs:         slices.Clone(DefaultConfigs),
		Groups:          slices.Clone(AllGroups),
		HideAuditObject: "bpf/testdata/bench_hide_audit.o",
		FileSize:        1 << 30,
		Runtime:         10 * time.Second,
		Ramp:            2 * time.Second,
		MetaFiles:       10000,
		MetaDirs:        20,
		TreeFiles:       10000,
		ScaleSizes:      []int{1000, 10000, 100000},
		PatternCounts:   []int{1, 10, 100, 1000},
		PatternLookups:  5000,
		PatternEntries:  10000,
	}
}

// ShortOptions are the CI settings: every workload at small sizes, one
// round, a couple of minutes.
func ShortOptions() Options {
	o := FullOptions()
	o.Short = true
	o.Rounds = 1
	o.FileSize = 64 << 20
	o.Runtime, o.Ramp = time.Second, 0
	o.MetaFiles, o.MetaDirs = 1000, 10
	o.TreeFiles = 500
	o.ScaleSizes = []int{500, 5000}
	o.PatternCounts = []int{1, 100, 1000}
	o.PatternLookups, o.PatternEntries = 500, 1000
	return o
}

// Validate checks the options before anything is mounted.
func (o *Options) Validate() error {
	var errs []error
	if o.Rounds < 1 {
		errs = append(errs, errors.New("rounds must be at least 1"))
	}
	if o.WorkDir == "" || o.OutDir == "" {
		errs = append(errs, errors.New("work and output directories are required"))
	}
	if len(o.Self) == 0 {
		errs = append(errs, errors.New("self command line is required"))
	}
	for _, c := range o.Configs {
		if _, ok := configTitles[c]; !ok {
			errs = append(errs, fmt.Errorf("%w %q", ErrUnknownConfig, c))
		}
	}
	if len(o.Configs) == 0 {
		errs = append(errs, errors.New("no configurations"))
	}
	for _, g := range o.Groups {
		if !slices.Contains(AllGroups, g) {
			errs = append(errs, fmt.Errorf("unknown workload group %q (groups: %v)", g, AllGroups))
		}
	}
	if o.FileSize < 1<<20 {
		errs = append(errs, errors.New("file size must be at least 1 MiB"))
	}
	if o.MetaFiles < 1 || o.MetaDirs < 1 || o.TreeFiles < 1 || o.PatternLookups < 1 || o.PatternEntries < 1 {
		errs = append(errs, errors.New("file counts must be positive"))
	}
	for _, n := range o.ScaleSizes {
		if n < 1 {
			errs = append(errs, fmt.Errorf("scale size %d", n))
		}
	}
	for _, k := range o.PatternCounts {
		if k < 1 || k > MaxHidePatterns {
			errs = append(errs, fmt.Errorf("pattern count %d: the hide policy takes 1 to %d patterns", k, MaxHidePatterns))
		}
	}
	if slices.Contains(o.Configs, HideAudit) || slices.Contains(o.Configs, HideAuditWake) || slices.Contains(o.Groups, GroupCallbacks) {
		if _, err := os.Stat(o.HideAuditObject); err != nil {
			errs = append(errs, fmt.Errorf("hide-audit policy object: %w (run from the repository root or pass -hide-audit-object)", err))
		}
	}
	return errors.Join(errs...)
}

func (o *Options) has(group string) bool { return slices.Contains(o.Groups, group) }
