package bench

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Report is the outcome of a run, as written to results.json.
type Report struct {
	Mode     string         `json:"mode"` // "full" or "short"
	Started  time.Time      `json:"started"`
	Duration float64        `json:"duration_s"`
	Machine  Machine        `json:"machine"`
	Settings Settings       `json:"settings"`
	Configs  []ConfigInfo   `json:"configs"`
	Metrics  []MetricReport `json:"metrics"`
	Scaling  []Flatness     `json:"scaling,omitempty"`
	Goals    []Goal         `json:"goals"`
	Audit    AuditStats     `json:"audit"`
	Loads    []LoadSample   `json:"loads"`
}

// Settings are the sizes a run used.
type Settings struct {
	Rounds         int      `json:"rounds"`
	FileSizeMiB    int64    `json:"file_size_mib"`
	RuntimeS       float64  `json:"runtime_s"`
	RampS          float64  `json:"ramp_s"`
	MetaFiles      int      `json:"meta_files"`
	MetaDirs       int      `json:"meta_dirs"`
	TreeFiles      int      `json:"tree_files"`
	TreeDirs       int      `json:"tree_dirs"`
	TreeMiB        float64  `json:"tree_mib"`
	ScaleSizes     []int    `json:"scale_sizes"`
	PatternCounts  []int    `json:"pattern_counts"`
	PatternLookups int      `json:"pattern_lookups"`
	PatternEntries int      `json:"pattern_entries"`
	HidePatterns   []string `json:"hide_patterns"`
}

// ConfigInfo names a configuration.
type ConfigInfo struct {
	Name        string `json:"name"`
	Title       string `json:"title"`
	Description string `json:"description"`
}

// MetricReport is one metric's figures: per configuration, the values of
// every round and their summary, and ratios between configurations taken
// within each round. Ratios are value/value: above 1 means more
// throughput for MiB/s metrics and more time for the others.
type MetricReport struct {
	Metric
	Values map[string]Summary   `json:"values"`
	Rounds map[string][]float64 `json:"rounds"`
	Ratios map[string]Summary   `json:"ratios,omitempty"`
}

// Flatness is a per-operation cost at the largest tree over the smallest.
type Flatness struct {
	Kind   string  `json:"kind"`
	Config string  `json:"config"`
	From   int     `json:"from_files"`
	To     int     `json:"to_files"`
	Ratio  Summary `json:"ratio"`
}

// Goal is one target of the benchmark issue and whether the run met it.
type Goal struct {
	Goal     string  `json:"goal"`
	Workload string  `json:"workload"`
	Measured Summary `json:"measured"` // the ratio the target applies to
	Target   string  `json:"target"`
	Met      bool    `json:"met"`
}

// ratioPairs are the comparisons every metric gets, as numerator and
// denominator configurations.
var ratioPairs = [][2]string{
	{AllowAll, Native}, {HideAudit, Native}, {GoFuse, Native}, {Bindfs, Native}, {BindfsMT, Native},
	{AllowAll, GoFuse}, {HideAudit, AllowAll}, {AllowAll, Bindfs},
	{Hide, AllowAll}, {Audit, AllowAll}, {HideAuditWake, AllowAll}, {GoFuse, GoFuseNoPT},
}

var ratioTitles = map[[2]string]string{
	{AllowAll, Native}:        "2 / native",
	{HideAudit, Native}:       "3 / native",
	{GoFuse, Native}:          "4 / native",
	{Bindfs, Native}:          "5 / native",
	{BindfsMT, Native}:        "bindfs-mt / native",
	{AllowAll, GoFuse}:        "2 vs 4",
	{HideAudit, AllowAll}:     "3 vs 2",
	{AllowAll, Bindfs}:        "2 vs 5",
	{Hide, AllowAll}:          "hide vs 2",
	{Audit, AllowAll}:         "audit vs 2",
	{HideAuditWake, AllowAll}: "3 woken per event vs 2",
	{GoFuse, GoFuseNoPT}:      "4 vs 4 without passthrough",
}

func ratioKey(p [2]string) string { return p[0] + "/" + p[1] }

func (r *runner) report(started time.Time, m Machine, audit AuditStats) *Report {
	o := r.o
	rep := &Report{
		Mode: "full", Started: started.UTC(), Duration: time.Since(started).Seconds(), Machine: m, Audit: audit, Loads: r.loads,
		Settings: Settings{
			Rounds: o.Rounds, FileSizeMiB: o.FileSize >> 20, RuntimeS: o.Runtime.Seconds(), RampS: o.Ramp.Seconds(),
			MetaFiles: o.MetaFiles, MetaDirs: o.MetaDirs, TreeFiles: r.tree.files, TreeDirs: r.tree.dirs,
			TreeMiB: float64(r.tree.bytes) / (1 << 20), ScaleSizes: o.ScaleSizes, PatternCounts: o.PatternCounts,
			PatternLookups: o.PatternLookups, PatternEntries: o.PatternEntries, HidePatterns: HidePatterns,
		},
	}
	if o.Short {
		rep.Mode = "short"
	}
	for _, c := range o.Configs {
		rep.Configs = append(rep.Configs, ConfigInfo{Name: c, Title: configTitles[c], Description: configDescriptions[c]})
	}
	for _, met := range r.res.all() {
		mr := MetricReport{Metric: met, Values: map[string]Summary{}, Rounds: map[string][]float64{}, Ratios: map[string]Summary{}}
		r.res.mu.Lock()
		var cfgs []string
		for c := range r.res.vals[met.ID] {
			cfgs = append(cfgs, c)
		}
		r.res.mu.Unlock()
		slices.Sort(cfgs)
		for _, c := range cfgs {
			mr.Rounds[c] = r.res.rounds(met.ID, c)
			mr.Values[c], _ = r.res.summary(met.ID, c)
		}
		switch met.Group {
		case "data", "latency", "meta", "tree", "scale":
			for _, p := range ratioPairs {
				if s, ok := r.res.ratio(met.ID, p[0], met.ID, p[1]); ok {
					mr.Ratios[ratioKey(p)] = s
				}
			}
		case "patterns":
			for _, c := range cfgs {
				if strings.HasPrefix(met.ID, "pattern-") && c != AllowAll {
					if s, ok := r.res.ratio(met.ID, c, met.ID, AllowAll); ok {
						mr.Ratios[c+"/"+AllowAll] = s
					}
				}
			}
		}
		rep.Metrics = append(rep.Metrics, mr)
	}
	if n := len(o.ScaleSizes); n >= 2 {
		lo, hi := slices.Min(o.ScaleSizes), slices.Max(o.ScaleSizes)
		for _, k := range scaleKinds {
			for _, c := range o.Configs {
				if s, ok := r.res.ratio(scaleMetric(k, hi).ID, c, scaleMetric(k, lo).ID, c); ok {
					rep.Scaling = append(rep.Scaling, Flatness{Kind: k, Config: c, From: lo, To: hi, Ratio: s})
				}
			}
		}
	}
	rep.Goals = r.goals(rep)
	return rep
}

func (rep *Report) metric(id string) *MetricReport {
	for i := range rep.Metrics {
		if rep.Metrics[i].ID == id {
			return &rep.Metrics[i]
		}
	}
	return nil
}

// cost turns a ratio into "how many times slower": ratios of throughput
// are inverted.
func cost(m Metric, s Summary) Summary {
	if !m.Higher || s.N == 0 {
		return s
	}
	return Summary{Median: 1 / s.Median, Min: 1 / s.Max, Max: 1 / s.Min, N: s.N}
}

func (r *runner) goals(rep *Report) []Goal {
	var goals []Goal
	add := func(goal, id, pair string, atLeast bool, target float64) {
		m := rep.metric(id)
		if m == nil {
			return
		}
		s, ok := m.Ratios[pair]
		if !ok {
			return
		}
		g := Goal{Goal: goal, Workload: m.Title, Measured: s}
		if atLeast {
			g.Target, g.Met = "≥ "+fmtNum(target)+"×", s.Median >= target
		} else {
			g.Target, g.Met = "≤ "+fmtNum(target)+"×", s.Median <= target
		}
		goals = append(goals, g)
	}
	nat := ratioKey([2]string{AllowAll, Native})
	for _, id := range []string{"seqread-cold", "seqread-warm"} {
		add("2 sequential read vs native", id, nat, true, 0.95)
	}
	for _, id := range []string{"randread-qd1", "randread-qd16"} {
		add("2 random read 4 KiB vs native", id, nat, true, 0.8)
	}
	add("2 sequential write vs native", "seqwrite", nat, true, 0.8)
	for _, id := range []string{"randwrite-qd1", "randwrite-qd16"} {
		add("2 random write 4 KiB vs native", id, nat, true, 0.7)
	}
	add("2 warm stat vs native", "stat-warm", nat, false, 1.2)
	vs4 := ratioKey([2]string{AllowAll, GoFuse})
	for _, id := range []string{"stat-cold", "lookup-miss", "readdir", "create"} {
		add("2 vs 4 (go-fuse loopback)", id, vs4, false, 1.05)
	}
	// Every workload: 3 within 15 % of 2, and 2 faster than bindfs.
	for _, m := range rep.Metrics {
		if m.Group != "data" && m.Group != "meta" && m.Group != "tree" {
			continue
		}
		if s, ok := m.Ratios[ratioKey([2]string{HideAudit, AllowAll})]; ok {
			c := cost(m.Metric, s)
			goals = append(goals, Goal{Goal: "3 vs 2 (policy cost)", Workload: m.Title, Measured: c, Target: "≤ 1.15× time", Met: c.Median <= 1.15})
		}
	}
	for _, m := range rep.Metrics {
		if m.Group != "data" && m.Group != "meta" && m.Group != "tree" {
			continue
		}
		if s, ok := m.Ratios[ratioKey([2]string{AllowAll, Bindfs})]; ok {
			c := cost(m.Metric, s)
			goals = append(goals, Goal{Goal: "2 faster than bindfs", Workload: m.Title, Measured: c, Target: "< 1× time", Met: c.Median < 1})
		}
	}
	for _, f := range rep.Scaling {
		if f.Config != AllowAll {
			continue
		}
		goals = append(goals, Goal{Goal: "2 per-op cost flat with tree size", Workload: fmt.Sprintf("%s, %d → %d files", f.Kind, f.From, f.To),
			Measured: f.Ratio, Target: "≤ 1.10×", Met: f.Ratio.Median <= 1.10})
	}
	// Sub-linear in the pattern count: from kmin to kmax patterns the cost
	// may grow by at most 1 + log2(kmax/kmin) (what a tree or a per-length
	// hash lookup allows), far below the kmax/kmin of a linear scan.
	if ks := r.o.PatternCounts; len(ks) >= 2 {
		lo, hi := slices.Min(ks), slices.Max(ks)
		bound := 1 + math.Log2(float64(hi)/float64(lo))
		for _, id := range []string{"vm-lookup-slow", "vm-readdir", "pattern-lookup-miss", "pattern-readdir"} {
			s, ok := r.res.ratio(id, patternConfig(hi), id, patternConfig(lo))
			if !ok {
				continue
			}
			m, _ := r.res.metric(id)
			goals = append(goals, Goal{Goal: "hide cost sub-linear in pattern count", Workload: fmt.Sprintf("%s, %d → %d patterns", m.Title, lo, hi),
				Measured: s, Target: fmt.Sprintf("≤ %.1f× (1+log2 %d; linear: %d×)", bound, hi/lo, hi/lo), Met: s.Median <= bound})
		}
	}
	return goals
}

func (rep *Report) write(dir string) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "results.md"), []byte(rep.Markdown()), 0o644)
}
