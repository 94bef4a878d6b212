package bench

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/bpfvm"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/policy"
)

const hideAuditObject = "../../bpf/testdata/bench_hide_audit.o"

func hideAuditInstance(t *testing.T, pats []string) *policy.Instance {
	t.Helper()
	p, err := policy.Open(hideAuditObject)
	if err != nil {
		t.Fatal(err)
	}
	in, err := p.Instantiate(policy.Values{"hidePatterns": strings.Join(pats, ",")}, policy.InstanceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// events drains what the instance's ring buffer holds.
func events(t *testing.T, in *policy.Instance) []policy.AuditEvent {
	t.Helper()
	var out []policy.AuditEvent
	var rec bpfvm.Record
	for in.RingBuffer("events").TryRead(&rec) {
		ev, err := policy.DecodeAuditEvent(rec.RawSample)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

func TestHideAuditLookup(t *testing.T) {
	in := hideAuditInstance(t, HidePatterns)
	caller := policy.Caller{UID: 1000, GID: 100, PID: 42}
	for _, name := range []string{".env", "id_rsa.pub", "tls.key", "secrets", "main.go", "secrets2", "key", ".environment"} {
		hidden := policy.HideMatches(HidePatterns, name)
		c := &policy.Call{NodeID: 9, Opcode: policy.OpLookup.Opcode() | policy.PrefilterBit, Caller: caller,
			Args: []policy.Arg{{Buf: nameBuffer(name)}}}
		ret, err := in.Run(policy.OpLookup, false, c)
		if err != nil {
			t.Fatal(err)
		}
		evs := events(t, in)
		if hidden {
			if ret != -2 {
				t.Errorf("lookup %q = %d, want -ENOENT", name, ret)
			}
			if len(evs) != 1 || evs[0].Result != -2 || evs[0].Name != name || evs[0].UID != 1000 || evs[0].PID != 42 || evs[0].NodeID != 9 {
				t.Errorf("lookup %q: events %+v, want one ENOENT event for it", name, evs)
			}
			continue
		}
		if ret != policy.Postfilter || len(evs) != 0 {
			t.Errorf("lookup %q = %d with %d events, want POSTFILTER and none yet", name, ret, len(evs))
		}
		c.Opcode = policy.OpLookup.Opcode() | policy.PostfilterBit
		c.ErrorIn = -2
		c.Args = append(c.Args, policy.StructArg(&policy.EntryOut{}), policy.Arg{Buf: &policy.Buffer{MaxSize: 48, Flags: policy.BufVariableSize}})
		if ret, err := in.Run(policy.OpLookup, true, c); err != nil || ret != policy.Continue {
			t.Fatalf("lookup postfilter %q = %d, %v", name, ret, err)
		}
		if evs := events(t, in); len(evs) != 1 || evs[0].Result != -2 || evs[0].Name != name {
			t.Errorf("lookup postfilter %q: events %+v, want one carrying the backing result", name, evs)
		}
	}
}

func TestHideAuditCreateRefused(t *testing.T) {
	in := hideAuditInstance(t, HidePatterns)
	for name, want := range map[string]int32{"server.pem": -13, "server.go": policy.Postfilter} {
		ci := policy.CreateIn{Mode: 0o644}
		c := &policy.Call{Opcode: policy.OpCreateOpen.Opcode() | policy.PrefilterBit,
			Args: []policy.Arg{policy.StructArg(&ci), {Buf: nameBuffer(name)}}}
		if ret, err := in.Run(policy.OpCreateOpen, false, c); err != nil || ret != want {
			t.Errorf("create %q = %d, %v; want %d", name, ret, err, want)
		}
	}
	if evs := events(t, in); len(evs) != 1 || evs[0].Name != "server.pem" || evs[0].Result != -13 {
		t.Errorf("events %+v, want one EACCES event for server.pem", evs)
	}
}

func TestHideAuditReaddirDropsHidden(t *testing.T) {
	in := hideAuditInstance(t, HidePatterns)
	names := []string{"a.go", ".git", "b.go", "id_ed25519", "c.key", "README.md"}
	buf := &policy.Buffer{Data: encodeDirents(names), Flags: policy.BufVariableSize}
	buf.MaxSize = len(buf.Data)
	var ri policy.ReadIn
	var ro policy.ReadOut
	c := &policy.Call{Opcode: policy.OpReaddir.Opcode() | policy.PostfilterBit,
		Args: []policy.Arg{policy.StructArg(&ri), policy.StructArg(&ro), {Buf: buf}}}
	if ret, err := in.Run(policy.OpReaddir, true, c); err != nil || ret != policy.Continue {
		t.Fatalf("readdir postfilter = %d, %v", ret, err)
	}
	var want []string
	for _, n := range names {
		if !policy.HideMatches(HidePatterns, n) {
			want = append(want, n)
		}
	}
	if got := decodeNames(buf.Data); !slices.Equal(got, want) {
		t.Errorf("readdir left %v, want %v", got, want)
	}
	if evs := events(t, in); len(evs) != 1 {
		t.Errorf("readdir: %d events, want 1", len(evs))
	}
}

func decodeNames(b []byte) []string {
	var out []string
	for _, d := range policy.ParseDirents(b) {
		out = append(out, d.Name)
	}
	return out
}

// The pattern sets take the paths they are meant to: the hit name is
// hidden by the last pattern only, the slow and fast names by none.
func TestPatternSets(t *testing.T) {
	for _, k := range []int{1, 2, 3, 8, 31, 1000, MaxHidePatterns} {
		pats := patternSet(k)
		in, err := hideInstance(pats)
		if err != nil {
			t.Fatal(err)
		}
		hit := hitName(pats)
		if !policy.HideMatches(pats[k-1:], hit) || policy.HideMatches(pats[:k-1], hit) {
			t.Errorf("k=%d: %q is not hidden by the last pattern alone", k, hit)
		}
		for name, want := range map[string]int32{hit: -2, slowName: policy.Continue, fastName: policy.Continue} {
			c := &policy.Call{Opcode: policy.OpLookup.Opcode() | policy.PrefilterBit, Args: []policy.Arg{{Buf: nameBuffer(name)}}}
			if ret, err := in.Run(policy.OpLookup, false, c); err != nil || ret != want {
				t.Errorf("k=%d: lookup %q = %d, %v; want %d", k, name, ret, err, want)
			}
		}
	}
}

func TestGenerateTree(t *testing.T) {
	dir := t.TempDir()
	a, err := generateTree(filepath.Join(dir, "a.tar"), 700)
	if err != nil {
		t.Fatal(err)
	}
	b, err := generateTree(filepath.Join(dir, "b.tar"), 700)
	if err != nil {
		t.Fatal(err)
	}
	ab, _ := os.ReadFile(a.tarball)
	bb, _ := os.ReadFile(b.tarball)
	if !bytes.Equal(ab, bb) {
		t.Error("two trees of the same size differ")
	}
	files, dirs, size := 0, 0, int64(0)
	tr := tar.NewReader(bytes.NewReader(ab))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if policy.HideMatches(HidePatterns, filepath.Base(h.Name)) {
			t.Errorf("%s is hidden by the hide-audit patterns", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeReg:
			files++
			size += h.Size
		case tar.TypeDir:
			dirs++
		}
	}
	if files != 700 || files != a.files || dirs != a.dirs || size != a.bytes {
		t.Errorf("tarball holds %d files, %d dirs, %d bytes; generator said %d, %d, %d", files, dirs, size, a.files, a.dirs, a.bytes)
	}
}

func TestProbeOnPlainDirectory(t *testing.T) {
	l := layout{dir: t.TempDir(), dirs: 3, files: 31, prefix: "f"}
	run := func(op string, l layout, extra ...string) (probeResult, error) {
		var out bytes.Buffer
		args := append([]string{"-op", op, "-dir", l.dir, "-dirs", fmt.Sprint(l.dirs), "-files", fmt.Sprint(l.files), "-prefix", l.prefix}, extra...)
		if err := Probe(args, &out); err != nil {
			return probeResult{}, err
		}
		var r probeResult
		_, err := fmt.Sscanf(out.String(), `{"ops":%d,"ns":%d}`, &r.Ops, &r.NS)
		return r, err
	}
	for _, op := range []string{"create", "stat", "statwarm", "readdir"} {
		r, err := run(op, l, "-chunk", "7")
		if err != nil || r.Ops != 31 || r.NS <= 0 {
			t.Fatalf("%s: %+v, %v", op, r, err)
		}
	}
	miss := l
	miss.prefix = "m"
	if r, err := run("lookupmiss", miss); err != nil || r.Ops != 31 {
		t.Fatalf("lookupmiss: %+v, %v", r, err)
	}
	if _, err := run("lookupmiss", l); err == nil {
		t.Error("lookupmiss of existing names succeeded")
	}
	os.WriteFile(filepath.Join(l.subdir(0), "extra"), nil, 0o644)
	if _, err := run("readdir", l); !errors.Is(err, ErrCheck) {
		t.Errorf("readdir with an extra entry: %v, want ErrCheck", err)
	}
	os.Remove(filepath.Join(l.subdir(0), "extra"))
	if r, err := run("unlink", l); err != nil || r.Ops != 31 {
		t.Fatalf("unlink: %+v, %v", r, err)
	}
	if _, err := run("stat", l); err == nil {
		t.Error("stat after unlink succeeded")
	}
}

func TestParseFio(t *testing.T) {
	out := `note: both iodepth >= 1 and synchronous I/O engine are selected
{"jobs": [{"error": 0,
  "read": {"io_bytes": 1048576, "bw_bytes": 2097152, "clat_ns": {"percentile": {"50.000000": 1500, "99.000000": 9000}}},
  "write": {"io_bytes": 0, "bw_bytes": 0, "clat_ns": {}}}]}`
	r, err := parseFio([]byte(out), "randread")
	if err != nil || r.MiBps != 2 || r.P50 != 1.5 || r.P99 != 9 {
		t.Errorf("randread: %+v, %v", r, err)
	}
	if _, err := parseFio([]byte(out), "randwrite"); err == nil {
		t.Error("randwrite with no write I/O parsed")
	}
}

func TestRatiosWithinRounds(t *testing.T) {
	res := newResults()
	m := Metric{ID: "x", Group: "meta", Unit: "µs/op"}
	for round, v := range map[int][2]float64{1: {10, 5}, 2: {30, 10}, 3: {12, 4}} {
		res.add(m, AllowAll, round, v[0])
		res.add(m, GoFuse, round, v[1])
	}
	res.add(m, AllowAll, 4, 1000) // no partner in round 4
	s, ok := res.ratio("x", AllowAll, "x", GoFuse)
	if !ok || s.N != 3 || s.Median != 3 || s.Min != 2 || s.Max != 3 {
		t.Errorf("ratio %+v, want median 3 of 2, 3, 3", s)
	}
	if s, _ := res.summary("x", AllowAll); s.Median != 21 || s.N != 4 {
		t.Errorf("summary %+v, want median 21 of four rounds", s)
	}
}

func TestGoals(t *testing.T) {
	r := &runner{o: &Options{Configs: DefaultConfigs, ScaleSizes: []int{1000, 100000}, PatternCounts: []int{1, 32}}, res: newResults()}
	add := func(id string, higher bool, vals map[string]float64) {
		for c, v := range vals {
			r.res.add(Metric{ID: id, Group: "data", Title: id, Higher: higher}, c, 1, v)
		}
	}
	add("seqread-warm", true, map[string]float64{Native: 100, AllowAll: 96, HideAudit: 80, Bindfs: 97})
	add("seqwrite", true, map[string]float64{Native: 100, AllowAll: 70, HideAudit: 70, Bindfs: 5})
	for _, k := range []int{1, 32} {
		r.res.add(Metric{ID: "vm-lookup-slow", Group: "patterns"}, patternConfig(k), 1, float64(100+10*k))
	}
	rep := r.report(time.Now(), Machine{}, AuditStats{})
	want := map[string]bool{
		"2 sequential read vs native/seqread-warm": true,
		"2 sequential write vs native/seqwrite":    false,
		"3 vs 2 (policy cost)/seqread-warm":        false, // 96/80 = 1.2× the time
		"3 vs 2 (policy cost)/seqwrite":            true,
		"2 faster than bindfs/seqread-warm":        false,
		"2 faster than bindfs/seqwrite":            true,
	}
	for _, g := range rep.Goals {
		key := g.Goal + "/" + g.Workload
		if strings.HasPrefix(g.Goal, "hide cost") {
			if !g.Met || g.Measured.Median != 420.0/110 {
				t.Errorf("%s: %+v", key, g)
			}
			continue
		}
		w, ok := want[key]
		if !ok {
			t.Errorf("unexpected goal %s", key)
			continue
		}
		if g.Met != w {
			t.Errorf("%s: met %v (%+v), want %v", key, g.Met, g.Measured, w)
		}
		delete(want, key)
	}
	for k := range want {
		t.Errorf("goal %s missing", k)
	}
	if md := rep.Markdown(); !strings.Contains(md, "Goals (4 of 7 met)") {
		t.Errorf("markdown does not count the goals:\n%s", md)
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-short", "-rounds", "2", "-scale", "10,20", "-configs", "native,allow-all"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !o.Short || o.Rounds != 2 || o.FileSize != 64<<20 || !slices.Equal(o.ScaleSizes, []int{10, 20}) ||
		!slices.Equal(o.Configs, []string{Native, AllowAll}) {
		t.Errorf("options %+v", o)
	}
	o.Self, o.HideAuditObject = []string{"x"}, hideAuditObject
	if err := o.Validate(); err != nil {
		t.Error(err)
	}
	o.PatternCounts = []int{MaxHidePatterns + 1}
	if err := o.Validate(); err == nil {
		t.Error("1025 patterns validated")
	}
	if _, err := parseFlags([]string{"-configs", "nfs"}, io.Discard); err != nil {
		t.Fatal(err)
	}
}

func TestMainRefusesBadFlags(t *testing.T) {
	err := Main(context.Background(), []string{"x"}, []string{"-configs", "nfs"}, io.Discard, io.Discard)
	if !errors.Is(err, ErrUnknownConfig) {
		t.Errorf("Main with an unknown configuration: %v", err)
	}
}

func TestMedianPass(t *testing.T) {
	p := []fioResult{{MiBps: 900}, {MiBps: 3000}, {MiBps: 1200}}
	if i := medianPass(p); i != 2 {
		t.Errorf("medianPass = %d, want 2 (1200 MiB/s)", i)
	}
	if i := medianPass(p[:1]); i != 0 {
		t.Errorf("medianPass of one pass = %d", i)
	}
}
