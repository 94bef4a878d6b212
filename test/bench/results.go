package bench

import (
	"math"
	"slices"
	"sort"
	"strconv"
	"sync"
)

// Metric is one measured quantity.
type Metric struct {
	ID     string `json:"id"`
	Group  string `json:"group"` // data, cpu, meta, tree, scale, patterns
	Title  string `json:"title"`
	Unit   string `json:"unit"`
	Higher bool   `json:"higher_is_better"`
}

// Summary is a median over rounds with its spread.
type Summary struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	N      int     `json:"n"`
}

func summarize(v []float64) Summary {
	if len(v) == 0 {
		return Summary{}
	}
	s := slices.Clone(v)
	sort.Float64s(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Summary{Median: m, Min: s[0], Max: s[len(s)-1], N: len(s)}
}

// results collects values by metric, configuration and round. It is safe
// for concurrent use.
type results struct {
	mu      sync.Mutex
	metrics []Metric
	byID    map[string]int
	vals    map[string]map[string]map[int]float64
}

func newResults() *results {
	return &results{byID: map[string]int{}, vals: map[string]map[string]map[int]float64{}}
}

func (r *results) add(m Metric, config string, round int, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.byID[m.ID]; !ok {
		r.byID[m.ID] = len(r.metrics)
		r.metrics = append(r.metrics, m)
		r.vals[m.ID] = map[string]map[int]float64{}
	}
	byCfg := r.vals[m.ID]
	if byCfg[config] == nil {
		byCfg[config] = map[int]float64{}
	}
	byCfg[config][round] = v
}

func (r *results) metric(id string) (Metric, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i, ok := r.byID[id]
	if !ok {
		return Metric{}, false
	}
	return r.metrics[i], true
}

// rounds returns the per-round values of a metric for a configuration,
// in round order.
func (r *results) rounds(id, config string) []float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.vals[id][config]
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	out := make([]float64, len(keys))
	for i, k := range keys {
		out[i] = m[k]
	}
	return out
}

func (r *results) summary(id, config string) (Summary, bool) {
	v := r.rounds(id, config)
	return summarize(v), len(v) > 0
}

// ratio is a/b computed within each round that has both, then summarized:
// the ratio of two configurations (same metric) or of two metrics (same
// configuration).
func (r *results) ratio(idA, cfgA, idB, cfgB string) (Summary, bool) {
	r.mu.Lock()
	a, b := r.vals[idA][cfgA], r.vals[idB][cfgB]
	var v []float64
	for round, x := range a {
		if y, ok := b[round]; ok && y != 0 {
			v = append(v, x/y)
		}
	}
	r.mu.Unlock()
	return summarize(v), len(v) > 0
}

func (r *results) all() []Metric {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.metrics)
}

// fmtNum prints a figure with three significant digits, without an
// exponent.
func fmtNum(v float64) string {
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0"
	case a >= 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		d := int(math.Ceil(-math.Log10(a))) + 2
		return strconv.FormatFloat(v, 'f', min(d, 9), 64)
	}
}

func fmtSummary(s Summary) string {
	if s.N == 0 {
		return "–"
	}
	if s.N == 1 {
		return fmtNum(s.Median)
	}
	return fmtNum(s.Median) + " (" + fmtNum(s.Min) + "–" + fmtNum(s.Max) + ")"
}

func fmtRatio(s Summary) string {
	if s.N == 0 {
		return "–"
	}
	if s.N == 1 {
		return fmtNum(s.Median) + "×"
	}
	return fmtNum(s.Median) + "× (" + fmtNum(s.Min) + "–" + fmtNum(s.Max) + ")"
}
