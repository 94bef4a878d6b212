package bench

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// cacheTTL is the entry and attribute lifetime every FUSE configuration
// hands the kernel; waiting a little longer expires all of them.
const cacheTTL = time.Second

// writeDataFile fills path with size bytes of pseudo-random data.
func writeDataFile(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	rng := newRand(uint64(size))
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	for off := int64(0); off < size; off += int64(len(buf)) {
		// Make every MiB differ from the last.
		buf[0], buf[1], buf[2], buf[3] = byte(off>>20), byte(off>>28), byte(off>>36), byte(off>>44)
		n := min(int64(len(buf)), size-off)
		if _, err := f.Write(buf[:n]); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// readFile reads path to the end in another process, to warm the caches
// the way a workload would.
func readFile(ctx context.Context, path string) error {
	_, _, _, err := timedCommand(ctx, "/", "dd", "if="+path, "of=/dev/null", "bs=1M", "status=none")
	return err
}

// runData runs every data job on every configuration, job by job.
func (r *runner) runData(ctx context.Context, round int) error {
	// Read the file once, untimed, so every configuration's "cold" read
	// finds the same state below this machine's page cache: on a virtual
	// disk the host caches what the first reader of a round fetched, and
	// the first configuration would otherwise be the only one reading
	// from the physical disk.
	if err := readFile(ctx, filepath.Join(r.back, "data", "read.dat")); err != nil {
		return err
	}
	for _, j := range dataJobs {
		for _, c := range r.cfgs {
			if err := ctx.Err(); err != nil {
				return err
			}
			path := filepath.Join(c.root, "data", j.file+".dat")
			var passes []fioResult
			var cpus []time.Duration
			for pass := range max(1, j.passes) {
				switch j.prep {
				case "drop":
					if err := dropCaches(); err != nil {
						return err
					}
				case "warm":
					if err := readFile(ctx, path); err != nil {
						return fmt.Errorf("%s: warm %s: %w", c.name, path, err)
					}
				}
				cpu0 := c.cpuNow()
				raw := filepath.Join(r.o.OutDir, "fio", fmt.Sprintf("r%d-%s-%s-p%d.json", round, j.metric, c.name, pass))
				res, err := runFio(ctx, j, path, raw, r.o)
				if err != nil {
					return fmt.Errorf("%s: %w", c.name, err)
				}
				passes = append(passes, res)
				cpus = append(cpus, c.cpuNow()-cpu0)
			}
			mid := medianPass(passes)
			res, cpu := passes[mid], cpus[mid]
			if j.file == "write" {
				unix.Sync()
			}
			r.logf("  %-14s %-11s %9.1f MiB/s  p50 %7.1f µs  p99 %8.1f µs  daemon CPU %5.1f%%",
				j.metric, c.name, res.MiBps, res.P50, res.P99, 100*cpu.Seconds()/res.Wall.Seconds())
			r.res.add(Metric{ID: j.metric, Group: "data", Title: j.title + " — MiB/s", Unit: "MiB/s", Higher: true}, c.name, round, res.MiBps)
			r.res.add(Metric{ID: j.metric + "-p50", Group: "latency", Title: j.title + " — p50 completion latency", Unit: "µs"}, c.name, round, res.P50)
			r.res.add(Metric{ID: j.metric + "-p99", Group: "latency", Title: j.title + " — p99 completion latency", Unit: "µs"}, c.name, round, res.P99)
			if c.cpu != nil {
				r.res.add(Metric{ID: "cpu-" + j.metric, Group: "cpu", Title: j.title + " — daemon CPU, % of one core", Unit: "%"},
					c.name, round, 100*cpu.Seconds()/res.Wall.Seconds())
			}
		}
	}
	return nil
}

// medianPass returns the index of the pass with the median throughput.
func medianPass(passes []fioResult) int {
	idx := make([]int, len(passes))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(passes[a].MiBps, passes[b].MiBps) })
	return idx[len(idx)/2]
}

// cpuNow returns the daemon's CPU time so far (0 for native or when it
// cannot be read).
func (m *mounted) cpuNow() time.Duration {
	if m.cpu == nil {
		return 0
	}
	d, err := m.cpu()
	if err != nil {
		return 0
	}
	return d
}

var metaOrder = []string{"create", "stat-cold", "stat-warm", "stat-expired", "lookup-miss", "readdir", "find", "unlink"}

var metaMetrics = map[string]Metric{
	"create":       {ID: "create", Group: "meta", Title: "create empty file (open O_CREAT|O_EXCL + close)", Unit: "µs/op"},
	"stat-cold":    {ID: "stat-cold", Group: "meta", Title: "stat, cold (after drop_caches)", Unit: "µs/op"},
	"stat-warm":    {ID: "stat-warm", Group: "meta", Title: "stat, warm (cached, within the 1 s TTL)", Unit: "µs/op"},
	"stat-expired": {ID: "stat-expired", Group: "meta", Title: "stat, cache expired (TTL passed; daemon knows the inode)", Unit: "µs/op"},
	"lookup-miss":  {ID: "lookup-miss", Group: "meta", Title: "lookup of a missing name", Unit: "µs/op"},
	"readdir":      {ID: "readdir", Group: "meta", Title: "readdir (open + getdents + close), per entry", Unit: "µs/entry"},
	"find":         {ID: "find", Group: "meta", Title: "find DIR, per entry", Unit: "µs/entry"},
	"unlink":       {ID: "unlink", Group: "meta", Title: "unlink", Unit: "µs/op"},
}

// runMeta runs the metadata sequence on every configuration: create,
// stat cold, warm and expired, missing-name lookups, readdir, find,
// unlink, each file system in its own directory of the backing tree.
func (r *runner) runMeta(ctx context.Context, round int) error {
	for _, c := range r.cfgs {
		if err := ctx.Err(); err != nil {
			return err
		}
		l := layout{dir: filepath.Join(c.root, "meta", fmt.Sprintf("%s-r%d", c.name, round)),
			dirs: r.o.MetaDirs, files: r.o.MetaFiles, prefix: "f"}
		vals, err := r.metaSequence(ctx, l)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		r.logf("  meta %-11s create %.1f  stat cold %.1f warm %.2f expired %.1f  miss %.1f  readdir %.2f/entry  find %.2f/entry  unlink %.1f µs",
			c.name, vals["create"], vals["stat-cold"], vals["stat-warm"], vals["stat-expired"], vals["lookup-miss"],
			vals["readdir"], vals["find"], vals["unlink"])
		for _, id := range metaOrder {
			r.res.add(metaMetrics[id], c.name, round, vals[id])
		}
	}
	return nil
}

// listPasses is how many times the metadata sequence lists the tree
// (readdir, find); the median is kept.
const listPasses = 5

func (r *runner) metaSequence(ctx context.Context, l layout) (map[string]float64, error) {
	vals := map[string]float64{}
	step := func(id, op string, l layout, extra ...string) error {
		// Write back what the previous step (or configuration) left
		// dirty, so its journal and inode writeback do not land in
		// this step's time.
		unix.Sync()
		p, err := runProbe(ctx, r.o.Self, op, l, extra...)
		if err != nil {
			return err
		}
		vals[id] = p.usPerOp()
		return nil
	}
	if err := step("create", "create", l); err != nil {
		return nil, err
	}
	if err := dropCaches(); err != nil {
		return nil, err
	}
	if err := step("stat-cold", "stat", l); err != nil {
		return nil, err
	}
	if err := step("stat-warm", "statwarm", l); err != nil {
		return nil, err
	}
	time.Sleep(cacheTTL + 200*time.Millisecond)
	if err := step("stat-expired", "stat", l); err != nil {
		return nil, err
	}
	miss := l
	miss.prefix = "missing"
	if err := step("lookup-miss", "lookupmiss", miss); err != nil {
		return nil, err
	}
	// A listing of every directory takes tens of milliseconds, short
	// enough for one GC cycle or writeback burst to double it: take the
	// median of several passes.
	var ls, finds []float64
	for range listPasses {
		if err := step("readdir", "readdir", l); err != nil {
			return nil, err
		}
		ls = append(ls, vals["readdir"])
	}
	vals["readdir"] = summarize(ls).Median
	unix.Sync()
	for range listPasses {
		wall, lines, _, err := timedCommand(ctx, "/", "find", l.dir)
		if err != nil {
			return nil, err
		}
		if want := 1 + l.dirs + l.files; lines != want {
			return nil, fmt.Errorf("%w: find %s: %d entries, want %d", ErrCheck, l.dir, lines, want)
		}
		finds = append(finds, float64(wall.Nanoseconds())/1e3/float64(lines))
	}
	vals["find"] = summarize(finds).Median
	if err := step("unlink", "unlink", l); err != nil {
		return nil, err
	}
	return vals, os.RemoveAll(l.dir)
}

var treeMetrics = map[string]Metric{
	"untar":     {ID: "untar", Group: "tree", Title: "untar the source tarball (tar -xf)", Unit: "s"},
	"walk-cold": {ID: "walk-cold", Group: "tree", Title: "tree walk, cold (find)", Unit: "s"},
	"read-tree": {ID: "read-tree", Group: "tree", Title: "read every file, cold (tar -cf - | count)", Unit: "s"},
	"rm-tree":   {ID: "rm-tree", Group: "tree", Title: "remove the tree (rm -rf)", Unit: "s"},
}

// runTree untars the small-file source tree on every configuration, walks
// it and reads it back from cold caches, and removes it.
func (r *runner) runTree(ctx context.Context, round int) error {
	for _, c := range r.cfgs {
		if err := ctx.Err(); err != nil {
			return err
		}
		dir := filepath.Join(c.root, "tree", fmt.Sprintf("%s-r%d", c.name, round))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		vals := map[string]float64{}
		if err := dropCaches(); err != nil {
			return err
		}
		if err := readFile(ctx, r.tree.tarball); err != nil {
			return err
		}
		wall, _, _, err := timedCommand(ctx, "/", "tar", "-xf", r.tree.tarball, "-C", dir)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		vals["untar"] = wall.Seconds()
		if err := dropCaches(); err != nil {
			return err
		}
		wall, lines, _, err := timedCommand(ctx, "/", "find", dir)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		if want := 1 + r.tree.dirs + r.tree.files; lines != want {
			return fmt.Errorf("%w: %s: find %s: %d entries, want %d", ErrCheck, c.name, dir, lines, want)
		}
		vals["walk-cold"] = wall.Seconds()
		if err := dropCaches(); err != nil {
			return err
		}
		wall, _, n, err := timedCommand(ctx, dir, "tar", "-cf", "-", ".")
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		if n < r.tree.bytes {
			return fmt.Errorf("%w: %s: tar of %s: %d bytes, want at least %d", ErrCheck, c.name, dir, n, r.tree.bytes)
		}
		vals["read-tree"] = wall.Seconds()
		unix.Sync()
		wall, _, _, err = timedCommand(ctx, "/", "rm", "-rf", dir)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		vals["rm-tree"] = wall.Seconds()
		r.logf("  tree %-11s untar %.2f s  walk %.3f s  read %.2f s  rm %.2f s",
			c.name, vals["untar"], vals["walk-cold"], vals["read-tree"], vals["rm-tree"])
		for _, id := range []string{"untar", "walk-cold", "read-tree", "rm-tree"} {
			r.res.add(treeMetrics[id], c.name, round, vals[id])
		}
	}
	return nil
}

// scaleLayout is the tree of n empty files used for scaling: 1,000 files
// per directory, so the tree grows in directories, not in directory size.
func scaleLayout(root string, n int) layout {
	return layout{dir: filepath.Join(root, "scale", fmt.Sprintf("n%d", n)), dirs: max(1, n/1000), files: n, prefix: "f"}
}

// scaleMetric names the per-operation figure of one tree size.
func scaleMetric(kind string, n int) Metric {
	titles := map[string]string{
		"stat-cold":    "stat, cold",
		"stat-expired": "stat, cache expired",
		"readdir":      "readdir, per entry",
		"lookup-miss":  "lookup of a missing name",
		"create":       "create (1,000 new files)",
	}
	unit := "µs/op"
	if kind == "readdir" {
		unit = "µs/entry"
	}
	return Metric{ID: fmt.Sprintf("scale-%s@%d", kind, n), Group: "scale",
		Title: fmt.Sprintf("%s, tree of %d files", titles[kind], n), Unit: unit}
}

var scaleKinds = []string{"stat-cold", "stat-expired", "readdir", "lookup-miss", "create"}

// runScale measures per-operation costs on trees of growing size, built
// once on the backing directory.
func (r *runner) runScale(ctx context.Context, round int) error {
	for _, n := range r.o.ScaleSizes {
		for _, c := range r.cfgs {
			if err := ctx.Err(); err != nil {
				return err
			}
			l := scaleLayout(c.root, n)
			vals := map[string]float64{}
			step := func(id, op string, l layout) error {
				unix.Sync()
				p, err := runProbe(ctx, r.o.Self, op, l)
				if err != nil {
					return fmt.Errorf("%s: %w", c.name, err)
				}
				vals[id] = p.usPerOp()
				return nil
			}
			if err := dropCaches(); err != nil {
				return err
			}
			if err := step("stat-cold", "stat", l); err != nil {
				return err
			}
			time.Sleep(cacheTTL + 200*time.Millisecond)
			if err := step("stat-expired", "stat", l); err != nil {
				return err
			}
			if err := step("readdir", "readdir", l); err != nil {
				return err
			}
			miss := l
			miss.files, miss.prefix = min(1000, n), fmt.Sprintf("miss-%s-r%d-", c.name, round)
			if err := step("lookup-miss", "lookupmiss", miss); err != nil {
				return err
			}
			fresh := layout{dir: filepath.Join(l.dir, fmt.Sprintf("new-%s-r%d", c.name, round)), dirs: 1, files: min(1000, n), prefix: "n"}
			if err := step("create", "create", fresh); err != nil {
				return err
			}
			if _, err := runProbe(ctx, r.o.Self, "unlink", fresh); err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			if err := os.RemoveAll(fresh.dir); err != nil {
				return err
			}
			r.logf("  scale %7d %-11s stat cold %.1f expired %.1f  readdir %.2f/entry  miss %.1f  create %.1f µs",
				n, c.name, vals["stat-cold"], vals["stat-expired"], vals["readdir"], vals["lookup-miss"], vals["create"])
			for _, k := range scaleKinds {
				r.res.add(scaleMetric(k, n), c.name, round, vals[k])
			}
		}
	}
	return nil
}

// buildScaleTrees creates the scaling trees on the backing directory.
func buildScaleTrees(back string, sizes []int) error {
	for _, n := range sizes {
		l := scaleLayout(back, n)
		for d := range l.dirs {
			if err := os.MkdirAll(l.subdir(d), 0o755); err != nil {
				return err
			}
		}
		for i := range n {
			fd, err := unix.Open(l.path(i), unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
			if err != nil {
				return err
			}
			unix.Close(fd)
		}
	}
	return nil
}
