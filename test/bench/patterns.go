package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/bpfvm"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/policy"
)

// MaxHidePatterns is the hide policy's capacity: hidePatterns is a
// const volatile char[1024][64] in the object's .rodata.
const MaxHidePatterns = 1024

// patternSet returns k hide patterns, in turn exact, prefix and suffix,
// of eight different lengths per kind (k >= 24). Every exact and prefix
// pattern starts with "s-" and every suffix pattern ends with 'x', so a
// name starting with "s-" gets past the policy's first-two-bytes bitmap
// and is looked up in its pattern set once per distinct pattern length:
// the slow path. A linear matcher would compare it with all k patterns.
func patternSet(k int) []string {
	p := make([]string, k)
	for i := range p {
		pad := strings.Repeat("e", (i/3)%8)
		switch i % 3 {
		case 0:
			p[i] = fmt.Sprintf("s-exact-%04d%s", i, pad)
		case 1:
			p[i] = fmt.Sprintf("s-pre-%04d%s*", i, pad)
		default:
			p[i] = fmt.Sprintf("*.s%04d%sx", i, pad)
		}
	}
	return p
}

// Names the pattern benchmarks look up.
const (
	fastName = "main.go"          // fails both bitmaps: decided in a few instructions
	slowName = "s-file-00042.txt" // passes a bitmap, matches no pattern
)

// hitName matches only the last pattern of a set: a hidden name found
// after every comparison.
func hitName(pats []string) string {
	p := pats[len(pats)-1]
	switch {
	case strings.HasSuffix(p, "*"):
		return strings.TrimSuffix(p, "*") + "-tail"
	case strings.HasPrefix(p, "*"):
		return "head" + strings.TrimPrefix(p, "*")
	}
	return p
}

func patternConfig(k int) string { return fmt.Sprintf("hide-%d", k) }

// patternBacking prepares the directories the pattern mounts are measured
// on: an empty one for missing-name lookups and a listing of entries whose
// names all take the slow path.
func patternBacking(back string, entries int) (lookups, list layout, err error) {
	lookups = layout{dir: filepath.Join(back, "patterns", "miss"), dirs: 1, files: 1, prefix: "s-miss-"}
	if err := os.MkdirAll(lookups.subdir(0), 0o755); err != nil {
		return lookups, list, err
	}
	list = layout{dir: filepath.Join(back, "patterns", "list"), dirs: max(1, entries/1000), files: entries, prefix: "s-file-"}
	for d := range list.dirs {
		if err := os.MkdirAll(list.subdir(d), 0o755); err != nil {
			return lookups, list, err
		}
	}
	for i := range entries {
		if err := os.WriteFile(list.path(i), nil, 0o644); err != nil {
			return lookups, list, err
		}
	}
	return lookups, list, nil
}

// runPatterns measures, for each pattern count, the hide policy's lookup
// and readdir callbacks in the interpreter, and missing-name lookups and
// readdir through a mount, next to allow-all in the same round.
func (r *runner) runPatterns(ctx context.Context, round int) error {
	budget := 200 * time.Millisecond
	if r.o.Short {
		budget = 20 * time.Millisecond
	}
	for _, k := range r.o.PatternCounts {
		pats := patternSet(k)
		in, err := hideInstance(pats)
		if err != nil {
			return err
		}
		cfg := patternConfig(k)
		for _, c := range []struct{ id, name string }{{"vm-lookup-fast", fastName}, {"vm-lookup-slow", slowName}, {"vm-lookup-hit", hitName(pats)}} {
			want := int32(policy.Continue)
			if c.id == "vm-lookup-hit" {
				want = -2 // ENOENT
			}
			call := &policy.Call{NodeID: 1, Opcode: policy.OpLookup.Opcode() | policy.PrefilterBit, Args: []policy.Arg{{Buf: nameBuffer(c.name)}}}
			ns, err := nsPerOp(budget, func() error {
				ret, err := in.Run(policy.OpLookup, false, call)
				if err == nil && ret != want {
					err = fmt.Errorf("%w: hide lookup of %q with %d patterns = %d, want %d", ErrCheck, c.name, k, ret, want)
				}
				return err
			})
			if err != nil {
				return err
			}
			r.res.add(Metric{ID: c.id, Group: "patterns", Title: "interpreter: hide lookup prefilter, " + strings.TrimPrefix(c.id, "vm-lookup-") + " name", Unit: "ns/call"}, cfg, round, ns)
		}
		names := make([]string, 0, 128)
		for i := 0; len(names) < cap(names); i++ {
			names = append(names, fmt.Sprintf("s-file-%05d.txt", i))
		}
		batch := encodeDirents(names)
		var ri policy.ReadIn
		var ro policy.ReadOut
		buf := &policy.Buffer{Data: batch, MaxSize: len(batch), Flags: policy.BufVariableSize}
		call := &policy.Call{NodeID: 1, Opcode: policy.OpReaddir.Opcode() | policy.PostfilterBit,
			Args: []policy.Arg{policy.StructArg(&ri), policy.StructArg(&ro), {Buf: buf}}}
		ns, err := nsPerOp(budget, func() error {
			_, err := in.Run(policy.OpReaddir, true, call)
			if err == nil && len(buf.Data) != len(batch) {
				err = fmt.Errorf("%w: readdir postfilter dropped entries it should keep", ErrCheck)
			}
			return err
		})
		if err != nil {
			return err
		}
		r.res.add(Metric{ID: "vm-readdir", Group: "patterns", Title: "interpreter: hide readdir postfilter, per entry (slow-path names)", Unit: "ns/entry"},
			cfg, round, ns/float64(len(names)))
	}
	// Through the mounts, allow-all first.
	mounts := append([]*mounted{r.patternBase}, r.patternMounts...)
	for _, m := range mounts {
		cfg := m.name
		miss := r.patLookups
		miss.dir = filepath.Join(m.root, "patterns", "miss")
		miss.files = r.o.PatternLookups
		miss.prefix = fmt.Sprintf("s-miss-r%d-", round)
		unix.Sync()
		p, err := runProbe(ctx, r.o.Self, "lookupmiss", miss)
		if err != nil {
			return fmt.Errorf("%s: %w", cfg, err)
		}
		list := r.patList
		list.dir = filepath.Join(m.root, "patterns", "list")
		q, err := runProbe(ctx, r.o.Self, "readdir", list)
		if err != nil {
			return fmt.Errorf("%s: %w", cfg, err)
		}
		r.logf("  patterns %-10s lookup miss %.1f µs  readdir %.2f µs/entry", cfg, p.usPerOp(), q.usPerOp())
		r.res.add(Metric{ID: "pattern-lookup-miss", Group: "patterns", Title: "mount: lookup of a missing slow-path name", Unit: "µs/op"}, cfg, round, p.usPerOp())
		r.res.add(Metric{ID: "pattern-readdir", Group: "patterns", Title: "mount: readdir of slow-path names, per entry", Unit: "µs/entry"}, cfg, round, q.usPerOp())
	}
	return nil
}

func hideInstance(pats []string) (*policy.Instance, error) {
	p, err := policy.Builtin("hide")
	if err != nil {
		return nil, err
	}
	return p.Instantiate(policy.Values{"hidePatterns": strings.Join(pats, ",")}, policy.InstanceOptions{})
}

// nameBuffer is a name argument as the userspace tier builds it: the
// bytes and their NUL, rewritable up to NAME_MAX.
func nameBuffer(name string) *policy.Buffer {
	return &policy.Buffer{Data: append([]byte(name), 0), MaxSize: 256, Flags: policy.BufVariableSize}
}

// encodeDirents lays names out as struct fuse_dirent records, as a
// readdir postfilter receives them.
func encodeDirents(names []string) []byte {
	var b []byte
	for i, n := range names {
		b = policy.AppendDirent(b, policy.Dirent{Ino: uint64(1000 + i), Off: uint64(i + 1), Type: 8, Name: n}) // DT_REG
	}
	return b
}

// nsPerOp runs f repeatedly for about d and returns nanoseconds per call:
// the median of three such batches.
func nsPerOp(d time.Duration, f func() error) (float64, error) {
	var v []float64
	for range 3 {
		n := 0
		start := time.Now()
		for time.Since(start) < d/3 {
			for range 64 {
				if err := f(); err != nil {
					return 0, err
				}
			}
			n += 64
		}
		v = append(v, float64(time.Since(start).Nanoseconds())/float64(n))
	}
	return summarize(v).Median, nil
}

// callbackCase is one callback of the hide-audit policy, with arguments
// as the userspace tier passes them.
type callbackCase struct {
	id   string
	op   policy.Op
	post bool
	args func() []policy.Arg
}

func callbackCases() []callbackCase {
	name := func() policy.Arg { return policy.Arg{Buf: nameBuffer("f0001234")} }
	dirents := make([]string, 0, 128)
	for i := 0; len(dirents) < cap(dirents); i++ {
		dirents = append(dirents, fmt.Sprintf("f%07d", i))
	}
	batch := encodeDirents(dirents)
	return []callbackCase{
		{"lookup-pre", policy.OpLookup, false, func() []policy.Arg { return []policy.Arg{name()} }},
		{"lookup-post", policy.OpLookup, true, func() []policy.Arg {
			return []policy.Arg{name(), policy.StructArg(&policy.EntryOut{}), {Buf: &policy.Buffer{MaxSize: 48, Flags: policy.BufVariableSize}}}
		}},
		{"getattr-pre", policy.OpGetattr, false, func() []policy.Arg { return []policy.Arg{policy.StructArg(&policy.GetattrIn{})} }},
		{"getattr-post", policy.OpGetattr, true, func() []policy.Arg {
			return []policy.Arg{policy.StructArg(&policy.GetattrIn{}), policy.StructArg(&policy.AttrOut{})}
		}},
		{"open-post", policy.OpOpen, true, func() []policy.Arg {
			return []policy.Arg{policy.StructArg(&policy.OpenIn{}), policy.StructArg(&policy.OpenOut{})}
		}},
		{"readdir-post-128", policy.OpReaddir, true, func() []policy.Arg {
			b := append([]byte(nil), batch...)
			return []policy.Arg{policy.StructArg(&policy.ReadIn{}), policy.StructArg(&policy.ReadOut{}),
				{Buf: &policy.Buffer{Data: b, MaxSize: len(b), Flags: policy.BufVariableSize}}}
		}},
	}
}

// runCallbacks measures what single callbacks of the hide-audit policy
// cost in the interpreter, with its ring buffer drained as in a mount:
// time and Go heap allocations per call.
func (r *runner) runCallbacks(ctx context.Context, round int) error {
	p, err := policy.Open(r.o.HideAuditObject)
	if err != nil {
		return err
	}
	in, err := p.Instantiate(policy.Values{"hidePatterns": strings.Join(HidePatterns, ",")}, policy.InstanceOptions{})
	if err != nil {
		return err
	}
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		var rec bpfvm.Record
		rb := in.RingBuffer("events")
		for rb.Read(dctx, &rec) == nil {
		}
	}()
	budget := 200 * time.Millisecond
	if r.o.Short {
		budget = 20 * time.Millisecond
	}
	for _, c := range callbackCases() {
		opcode := c.op.Opcode() | policy.PrefilterBit
		if c.post {
			opcode = c.op.Opcode() | policy.PostfilterBit
		}
		call := &policy.Call{NodeID: 5, Opcode: opcode, Args: c.args()}
		run := func() error {
			_, err := in.Run(c.op, c.post, call)
			return err
		}
		ns, err := nsPerOp(budget, run)
		if err != nil {
			return fmt.Errorf("callback %s: %w", c.id, err)
		}
		allocs := testing.AllocsPerRun(200, func() { run() })
		r.res.add(Metric{ID: "cb-" + c.id, Group: "callbacks", Title: "hide-audit " + c.id + " in the interpreter", Unit: "ns/call"}, HideAudit, round, ns)
		r.res.add(Metric{ID: "cb-" + c.id + "-allocs", Group: "callbacks", Title: "hide-audit " + c.id + ", Go heap allocations", Unit: "allocs/call"}, HideAudit, round, allocs)
		r.logf("  callback %-18s %8.0f ns  %.0f allocs", c.id, ns, allocs)
	}
	return nil
}
