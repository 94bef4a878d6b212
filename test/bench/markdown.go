package bench

import (
	"fmt"
	"strings"
)

// Markdown renders the report as the tables docs/benchmarks.md carries.
func (rep *Report) Markdown() string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	m := rep.Machine
	p("## Results (%s mode, %s)", rep.Mode, rep.Started.Format("2006-01-02 15:04 UTC"))
	p("")
	p("* Machine: %s, %d CPUs, %.0f GiB RAM, kernel %s%s", m.CPU, m.CPUs, m.MemoryGiB, m.Kernel, suffix(", ", m.Virtualize))
	p("* Backing directory: %s, read-ahead %s", m.Backing, m.ReadAhead)
	p("* Tools: %s, %s, %s", m.Go, m.Fio, m.Bindfs)
	p("* Load average (1/5/15 min): %.2f %.2f %.2f at the start, %.2f %.2f %.2f at the end",
		m.LoadStart[0], m.LoadStart[1], m.LoadStart[2], m.LoadEnd[0], m.LoadEnd[1], m.LoadEnd[2])
	if len(rep.Loads) > 0 {
		var others []float64
		for _, l := range rep.Loads {
			others = append(others, l.OthersCPU)
		}
		s := summarize(others)
		p("* CPU used by other processes while the workload groups ran (share of the whole machine, per group): median %.0f%%, %.0f–%.0f%%",
			s.Median, s.Min, s.Max)
	}
	s := rep.Settings
	p("* Rounds: %d, run time %.0f min. fio: %d MiB files, time-based jobs %g s + %g s ramp. Metadata: %d files in %d directories. "+
		"Source tree: %d files in %d directories, %.1f MiB. Scaling: %s files. Hide patterns: %s.",
		s.Rounds, rep.Duration/60, s.FileSizeMiB, s.RuntimeS, s.RampS, s.MetaFiles, s.MetaDirs,
		s.TreeFiles, s.TreeDirs, s.TreeMiB, joinInts(s.ScaleSizes), joinInts(s.PatternCounts))
	p("* Cells: median over rounds (min–max). Ratios are taken within each round, then the median.")
	if rep.Audit.Events > 0 {
		p("* hide-audit: %d audit events drained, %d dropped (ring buffer full).", rep.Audit.Events, rep.Audit.Dropped)
	}
	p("")
	p("| # | configuration | what |")
	p("|---|---|---|")
	for _, c := range rep.Configs {
		p("| %s | `%s` | %s |", strings.Fields(c.Title)[0], c.Name, c.Description)
	}
	p("")
	rep.goalsTable(&b)
	cfgs := make([]string, len(rep.Configs))
	for i, c := range rep.Configs {
		cfgs[i] = c.Name
	}
	sections := []struct{ group, title, note string }{
		{"data", "Data path (fio), MiB/s", "Throughput: higher is better; ratios above 1 are faster."},
		{"latency", "Data path, completion latency (µs)", ""},
		{"cpu", "Daemon CPU during each fio job (% of one core)", "In-process daemons are measured as this process's CPU time, bindfs from /proc."},
		{"meta", "Metadata", "Time per operation: lower is better; ratios above 1 are slower."},
		{"tree", "Small-file source tree (seconds)", ""},
	}
	for _, sec := range sections {
		ms := rep.group(sec.group)
		if len(ms) == 0 {
			continue
		}
		p("### %s", sec.title)
		p("")
		if sec.note != "" {
			p("%s", sec.note)
			p("")
		}
		absTable(&b, ms, cfgs)
		if sec.group != "cpu" {
			ratioTable(&b, ms)
		}
	}
	if ms := rep.group("scale"); len(ms) > 0 {
		p("### Scaling with tree size (µs per operation)")
		p("")
		absTable(&b, ms, cfgs)
		if len(rep.Scaling) > 0 {
			p("Per-operation cost at %d files over the cost at %d files (same round):", rep.Scaling[0].To, rep.Scaling[0].From)
			p("")
			p("| operation | %s |", strings.Join(cfgs, " | "))
			p("|---|%s", strings.Repeat("---|", len(cfgs)))
			for _, k := range scaleKinds {
				row := []string{k}
				for _, c := range cfgs {
					cell := "–"
					for _, f := range rep.Scaling {
						if f.Kind == k && f.Config == c {
							cell = fmtRatio(f.Ratio)
						}
					}
					row = append(row, cell)
				}
				p("| %s |", strings.Join(row, " | "))
			}
			p("")
		}
	}
	rep.patternsTable(&b)
	if ms := rep.group("callbacks"); len(ms) > 0 {
		p("### hide-audit callbacks in the interpreter")
		p("")
		p("| callback | ns/call | Go allocations/call |")
		p("|---|---|---|")
		for _, mr := range ms {
			if strings.HasSuffix(mr.ID, "-allocs") {
				continue
			}
			allocs := "–"
			if a := rep.metric(mr.ID + "-allocs"); a != nil {
				allocs = fmtSummary(a.Values[HideAudit])
			}
			p("| %s | %s | %s |", strings.TrimPrefix(mr.ID, "cb-"), fmtSummary(mr.Values[HideAudit]), allocs)
		}
		p("")
	}
	return b.String()
}

func suffix(sep, s string) string {
	if s == "" {
		return ""
	}
	return sep + s
}

func (rep *Report) group(g string) []MetricReport {
	var out []MetricReport
	for _, m := range rep.Metrics {
		if m.Group == g {
			out = append(out, m)
		}
	}
	return out
}

func absTable(b *strings.Builder, ms []MetricReport, cfgs []string) {
	var used []string
	for _, c := range cfgs {
		for _, m := range ms {
			if _, ok := m.Values[c]; ok {
				used = append(used, c)
				break
			}
		}
	}
	fmt.Fprintf(b, "| workload | unit | %s |\n|---|---|%s\n", strings.Join(used, " | "), strings.Repeat("---|", len(used)))
	for _, m := range ms {
		row := []string{m.Title, m.Unit}
		for _, c := range used {
			if s, ok := m.Values[c]; ok {
				row = append(row, fmtSummary(s))
			} else {
				row = append(row, "–")
			}
		}
		fmt.Fprintf(b, "| %s |\n", strings.Join(row, " | "))
	}
	b.WriteString("\n")
}

func ratioTable(b *strings.Builder, ms []MetricReport) {
	var pairs [][2]string
	for _, p := range ratioPairs {
		for _, m := range ms {
			if _, ok := m.Ratios[ratioKey(p)]; ok {
				pairs = append(pairs, p)
				break
			}
		}
	}
	if len(pairs) == 0 {
		return
	}
	head := make([]string, len(pairs))
	for i, p := range pairs {
		head[i] = ratioTitles[p]
	}
	fmt.Fprintf(b, "| ratio | %s |\n|---|%s\n", strings.Join(head, " | "), strings.Repeat("---|", len(pairs)))
	for _, m := range ms {
		row := []string{m.Title}
		for _, p := range pairs {
			if s, ok := m.Ratios[ratioKey(p)]; ok {
				row = append(row, fmtRatio(s))
			} else {
				row = append(row, "–")
			}
		}
		fmt.Fprintf(b, "| %s |\n", strings.Join(row, " | "))
	}
	b.WriteString("\n")
}

func (rep *Report) goalsTable(b *strings.Builder) {
	if len(rep.Goals) == 0 {
		return
	}
	met := 0
	for _, g := range rep.Goals {
		if g.Met {
			met++
		}
	}
	fmt.Fprintf(b, "### Goals (%d of %d met)\n\n", met, len(rep.Goals))
	b.WriteString("Ratios of configuration 2 unless stated; for throughput the ratio is 2/native, for \"time\" targets it is how many times longer 2 (or 3) takes.\n\n")
	b.WriteString("| goal | workload | measured | target | met |\n|---|---|---|---|---|\n")
	for _, g := range rep.Goals {
		ok := "yes"
		if !g.Met {
			ok = "**no**"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", g.Goal, g.Workload, fmtRatio(g.Measured), g.Target, ok)
	}
	b.WriteString("\n")
}

func (rep *Report) patternsTable(b *strings.Builder) {
	ids := []string{"vm-lookup-fast", "vm-lookup-slow", "vm-lookup-hit", "vm-readdir", "pattern-lookup-miss", "pattern-readdir"}
	var ms []*MetricReport
	for _, id := range ids {
		if m := rep.metric(id); m != nil {
			ms = append(ms, m)
		}
	}
	if len(ms) == 0 {
		return
	}
	b.WriteString("### Hide cost by pattern count\n\n")
	b.WriteString("Interpreter figures run the built-in hide policy's callbacks directly; mount figures go through a FUSE mount with that many patterns " +
		"(ratio to allow-all in the same round). Slow-path names pass the policy's first-two-bytes bitmap and are looked up in its pattern set once per distinct pattern length (eight per kind from 24 patterns on); a linear matcher would compare them with every pattern.\n\n")
	head := []string{"patterns"}
	for _, m := range ms {
		head = append(head, fmt.Sprintf("%s (%s)", m.Title, m.Unit))
	}
	fmt.Fprintf(b, "| %s |\n|%s\n", strings.Join(head, " | "), strings.Repeat("---|", len(head)))
	rows := []string{AllowAll}
	for _, k := range rep.Settings.PatternCounts {
		rows = append(rows, patternConfig(k))
	}
	for _, cfg := range rows {
		row := []string{strings.TrimPrefix(cfg, "hide-")}
		if cfg == AllowAll {
			row[0] = "allow-all"
		}
		for _, m := range ms {
			s, ok := m.Values[cfg]
			cell := "–"
			if ok {
				cell = fmtSummary(s)
				if r, ok := m.Ratios[cfg+"/"+AllowAll]; ok {
					cell += ", " + fmtNum(r.Median) + "×"
				}
			}
			row = append(row, cell)
		}
		fmt.Fprintf(b, "| %s |\n", strings.Join(row, " | "))
	}
	b.WriteString("\n")
}
