package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/policy"
)

type runner struct {
	start time.Time
	o     *Options
	res   *results
	back  string
	cfgs  []*mounted
	tree  sourceTree

	// The pattern measurement: allow-all and one hide mount per count.
	patternBase      *mounted
	patternMounts    []*mounted
	patLookups       layout
	patList          layout
	ownedPatternBase bool

	loads []LoadSample
}

// LoadSample describes how busy the machine was during one group of one
// round. The load average counts the benchmark's own processes too;
// OthersCPU does not.
type LoadSample struct {
	Round   int     `json:"round"`
	Group   string  `json:"group"`
	Elapsed float64 `json:"elapsed_s"` // since the run started, at the group's start
	Load1   float64 `json:"load1"`     // 1-minute load average at the group's start
	// OthersCPU is the share of the machine's CPU time (100 = every CPU
	// busy) that went to anything but this process, its children and
	// bindfs during the group: other users, and kernel threads such as
	// writeback.
	OthersCPU float64 `json:"others_cpu_pct"`
}

// ownCPU is the CPU time of the benchmark's processes so far.
func (r *runner) ownCPU() time.Duration {
	own, _ := selfCPU()
	own += childrenCPU()
	for _, m := range r.cfgs {
		if m.external {
			own += m.cpuNow()
		}
	}
	return own
}

func (r *runner) logf(format string, args ...any) {
	if r.o.Log != nil {
		el := time.Since(r.start).Round(time.Second)
		fmt.Fprintf(r.o.Log, "[%02d:%02d] "+format+"\n", append([]any{int(el.Minutes()), int(el.Seconds()) % 60}, args...)...)
	}
}

// Run prepares the work directory, mounts every configuration, runs the
// selected workload groups for o.Rounds rounds, unmounts, and writes
// results.json and results.md to o.OutDir. It needs root (mounts,
// drop_caches) and fio; bindfs for the bindfs configurations.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("the benchmark needs root: it mounts FUSE and drops caches")
	}
	if o.has(GroupData) {
		if _, err := exec.LookPath("fio"); err != nil {
			return nil, fmt.Errorf("fio: %w", err)
		}
	}
	started := time.Now()
	r := &runner{start: started, o: &o, res: newResults()}
	machine := describeMachine(ctx, filepath.Dir(o.WorkDir))
	r.logf("load average %.2f %.2f %.2f on %d CPUs", machine.LoadStart[0], machine.LoadStart[1], machine.LoadStart[2], machine.CPUs)
	if machine.LoadStart[0] > 0.5*float64(machine.CPUs) {
		r.logf("warning: the machine is busy; figures will be noisy")
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, err
	}
	if err := r.prepare(ctx); err != nil {
		return nil, err
	}
	// Detach whatever is still mounted before removing the tree.
	defer cleanWorkDir(o.WorkDir)
	if o.CPUProfile != "" {
		f, err := os.Create(o.CPUProfile)
		if err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, err
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	err := r.mountAll(ctx)
	defer r.unmountAll()
	if err == nil {
		err = r.checkHidden()
	}
	if err == nil {
		err = r.rounds(ctx)
	}
	audit := r.auditStats()
	if uerr := r.unmountAll(); err == nil {
		err = uerr
	}
	if err != nil {
		return nil, err
	}
	if r.hideAudit() != nil && audit.Events == 0 {
		return nil, fmt.Errorf("%w: the hide-audit volume produced no audit events", ErrCheck)
	}
	machine.LoadEnd = loadAvg()
	rep := r.report(started, machine, audit)
	if err := rep.write(o.OutDir); err != nil {
		return rep, err
	}
	return rep, nil
}

// prepare empties the work directory and builds the backing tree: the data
// files, the scaling trees, the pattern listings, the generated tarball.
func (r *runner) prepare(ctx context.Context) error {
	o := r.o
	if err := cleanWorkDir(o.WorkDir); err != nil {
		return err
	}
	r.back = filepath.Join(o.WorkDir, "back")
	for _, d := range []string{"data", "meta", "tree", "hidden"} {
		if err := os.MkdirAll(filepath.Join(r.back, d), 0o755); err != nil {
			return err
		}
	}
	// Names the hide-audit volume must not show, and one it must.
	for _, n := range []string{".env", "id_rsa", "server.key", "visible.txt"} {
		if err := os.WriteFile(filepath.Join(r.back, "hidden", n), []byte("x"), 0o644); err != nil {
			return err
		}
	}
	if o.has(GroupData) {
		r.logf("writing two %d MiB data files", o.FileSize>>20)
		for _, n := range []string{"read", "write"} {
			if err := writeDataFile(filepath.Join(r.back, "data", n+".dat"), o.FileSize); err != nil {
				return err
			}
		}
	}
	if o.has(GroupTree) {
		var err error
		r.tree, err = generateTree(filepath.Join(o.WorkDir, "tree.tar"), o.TreeFiles)
		if err != nil {
			return err
		}
		r.logf("source tree: %d files in %d directories, %.1f MiB", r.tree.files, r.tree.dirs, float64(r.tree.bytes)/(1<<20))
	}
	if o.has(GroupScale) {
		r.logf("building scaling trees %v", o.ScaleSizes)
		if err := buildScaleTrees(r.back, o.ScaleSizes); err != nil {
			return err
		}
	}
	if o.has(GroupPatterns) {
		var err error
		if r.patLookups, r.patList, err = patternBacking(r.back, o.PatternEntries); err != nil {
			return err
		}
	}
	unix.Sync()
	return nil
}

// cleanWorkDir unmounts whatever a previous run left mounted below dir and
// removes it.
func cleanWorkDir(dir string) error {
	dir = filepath.Clean(dir)
	if dir == "/" || dir == "" {
		return fmt.Errorf("work directory %q", dir)
	}
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	var mps []string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			mps = append(mps, f[4])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(mps)))
	for _, mp := range mps {
		if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("unmount leftover %s: %w", mp, err)
		}
	}
	return os.RemoveAll(dir)
}

func (r *runner) mountAll(ctx context.Context) error {
	for _, name := range r.o.Configs {
		mp := filepath.Join(r.o.WorkDir, "mnt", name)
		if err := os.MkdirAll(mp, 0o755); err != nil {
			return err
		}
		m, err := mountConfig(ctx, name, r.back, mp, r.o)
		if err != nil {
			return err
		}
		r.cfgs = append(r.cfgs, m)
	}
	if !r.o.has(GroupPatterns) {
		return nil
	}
	for _, m := range r.cfgs {
		if m.name == AllowAll {
			r.patternBase = m
		}
	}
	if r.patternBase == nil {
		mp := filepath.Join(r.o.WorkDir, "mnt", "pattern-allow-all")
		if err := os.MkdirAll(mp, 0o755); err != nil {
			return err
		}
		m, err := mountConfig(ctx, AllowAll, r.back, mp, r.o)
		if err != nil {
			return err
		}
		r.patternBase, r.ownedPatternBase = m, true
	}
	for _, k := range r.o.PatternCounts {
		name := patternConfig(k)
		mp := filepath.Join(r.o.WorkDir, "mnt", name)
		if err := os.MkdirAll(mp, 0o755); err != nil {
			return err
		}
		var m *mounted
		var err error
		pprof.Do(ctx, pprof.Labels("config", name), func(ctx context.Context) {
			m, err = mountFusebpf(ctx, name, r.back, mp, "hide", policy.Values{"hidePatterns": strings.Join(patternSet(k), ",")})
		})
		if err != nil {
			return err
		}
		r.patternMounts = append(r.patternMounts, m)
	}
	return nil
}

// unmountAll stops every configuration; it may be called more than once.
func (r *runner) unmountAll() error {
	var errs []error
	all := slices.Clone(r.patternMounts)
	if r.ownedPatternBase {
		all = append(all, r.patternBase)
	}
	all = append(all, r.cfgs...)
	for i := len(all) - 1; i >= 0; i-- {
		if err := all[i].stop(); err != nil {
			errs = append(errs, fmt.Errorf("unmount %s: %w", all[i].name, err))
		}
	}
	r.patternMounts, r.cfgs, r.patternBase, r.ownedPatternBase = nil, nil, nil, false
	return errors.Join(errs...)
}

func (r *runner) hideAudit() *mounted {
	for _, m := range r.cfgs {
		if m.name == HideAudit {
			return m
		}
	}
	return nil
}

// checkHidden makes sure the hide-audit volume hides what it must and
// every other configuration shows everything, before anything is timed.
func (r *runner) checkHidden() error {
	all := []string{".env", "id_rsa", "server.key", "visible.txt"}
	for _, m := range r.cfgs {
		want := all
		if m.name == HideAudit || m.name == HideAuditWake || m.name == Hide {
			want = []string{"visible.txt"}
		}
		ents, err := os.ReadDir(filepath.Join(m.root, "hidden"))
		if err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
		var got []string
		for _, e := range ents {
			got = append(got, e.Name())
		}
		sort.Strings(got)
		if !slices.Equal(got, want) {
			return fmt.Errorf("%w: %s lists %v, want %v", ErrCheck, m.name, got, want)
		}
		for _, n := range all {
			_, err := os.Lstat(filepath.Join(m.root, "hidden", n))
			if slices.Contains(want, n) != (err == nil) {
				return fmt.Errorf("%w: %s: stat %s: %v", ErrCheck, m.name, n, err)
			}
		}
	}
	return nil
}

func (r *runner) rounds(ctx context.Context) error {
	type group struct {
		name string
		run  func(context.Context, int) error
	}
	groups := []group{
		{GroupData, r.runData}, {GroupMeta, r.runMeta}, {GroupTree, r.runTree},
		{GroupScale, r.runScale}, {GroupPatterns, r.runPatterns}, {GroupCallbacks, r.runCallbacks},
	}
	for round := 1; round <= r.o.Rounds; round++ {
		for _, g := range groups {
			if !r.o.has(g.name) {
				continue
			}
			la := loadAvg()
			r.logf("round %d/%d: %s (load %.2f)", round, r.o.Rounds, g.name, la[0])
			t0, busy0, own0 := time.Now(), machineBusy(), r.ownCPU()
			if err := g.run(ctx, round); err != nil {
				return fmt.Errorf("round %d: %s: %w", round, g.name, err)
			}
			wall := time.Since(t0).Seconds() * float64(runtime.NumCPU())
			others := max(0, (machineBusy()-busy0-(r.ownCPU()-own0)).Seconds()) / wall * 100
			r.logf("round %d/%d: %s took %s; other processes used %.0f%% of the machine", round, r.o.Rounds, g.name,
				time.Since(t0).Round(time.Second), others)
			r.loads = append(r.loads, LoadSample{Round: round, Group: g.name, Elapsed: t0.Sub(r.start).Seconds(), Load1: la[0], OthersCPU: others})
		}
	}
	return nil
}

// AuditStats counts the hide-audit volume's events.
type AuditStats struct {
	Events  uint64 `json:"events"`  // decoded by the drainer
	Dropped uint64 `json:"dropped"` // reservations that found the ring full
}

func (r *runner) auditStats() AuditStats {
	m := r.hideAudit()
	if m == nil || m.events == nil {
		return AuditStats{}
	}
	return AuditStats{Events: m.events.Load(), Dropped: m.dropped()}
}

// Main is the benchmark command: it parses args and runs, or, when args
// start with "probe", runs the metadata probe. self is the command line
// that reaches Main again (for the probe's process).
func Main(ctx context.Context, self, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "probe" {
		return Probe(args[1:], stdout)
	}
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	o.Self = self
	o.Log = stderr
	rep, err := Run(ctx, *o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\nresults: %s\n", rep.Markdown(), o.OutDir)
	return nil
}
