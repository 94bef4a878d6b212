package fusebpf

import (
	"context"

	"fmt"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/bpfvm"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/policy"
)

// BenchmarkPolicies measures stat, lookup of a missing name, readdir of
// 10,000 entries, and open+read+close through mounts with hide (20
// patterns) and audit, as ratios to allow-all measured in the same run,
// interleaved round by round (medians of 5 rounds). Goals: hide ≤ 1.1×,
// audit ≤ 1.3× allow-all.
//
//	go test -run '^$' -bench Policies -benchtime=1x ./pkg/fusebpf/
func BenchmarkPolicies(b *testing.B) {
	requireFUSE(b)
	var pats []string
	for i := range 19 {
		pats = append(pats, fmt.Sprintf("*.secret%d", i))
	}
	pats = append(pats, ".git")
	configs := []struct {
		name   string
		policy string
		values policy.Values
	}{
		{"allow-all", "allow-all", nil},
		{"hide", "hide", policy.Values{"hidePatterns": strings.Join(pats, ",")}},
		{"audit", "audit", nil},
	}
	backing := filepath.Join(b.TempDir(), "backing")
	os.MkdirAll(filepath.Join(backing, "big"), 0o755)
	for i := range 10000 {
		os.WriteFile(filepath.Join(backing, "big", fmt.Sprintf("e%05d", i)), nil, 0o644)
	}
	for i := range 1000 {
		os.WriteFile(filepath.Join(backing, fmt.Sprintf("s%04d", i)), []byte("0123456789abcdef"), 0o644)
	}
	mounts := map[string]string{}
	for _, c := range configs {
		p, _ := policy.Builtin(c.policy)
		in, err := p.Instantiate(c.values, policy.InstanceOptions{})
		if err != nil {
			b.Fatal(err)
		}
		m := mountT(b, MountOptions{Backing: backing, Filter: in})
		mounts[c.name] = m.mnt
		if c.policy == "audit" {
			go drain(b, in)
		}
	}
	type wl struct {
		name string
		run  func(mnt string) float64 // µs per operation
	}
	workloads := []wl{
		{"stat-us", func(mnt string) float64 {
			var st unix.Stat_t
			return perOp(1000, func(i int) { unix.Lstat(filepath.Join(mnt, fmt.Sprintf("s%04d", i)), &st) })
		}},
		{"lookup-missing-us", func(mnt string) float64 {
			var st unix.Stat_t
			return perOp(1000, func(i int) {
				unix.Lstat(filepath.Join(mnt, fmt.Sprintf("missing%d-%d", i, time.Now().UnixNano())), &st)
			})
		}},
		{"readdir-10k-us", func(mnt string) float64 {
			return perOp(1, func(int) {
				if ents, err := os.ReadDir(filepath.Join(mnt, "big")); err != nil || len(ents) != 10000 {
					b.Fatalf("readdir: %d, %v", len(ents), err)
				}
			})
		}},
		{"open-read-close-us", func(mnt string) float64 {
			buf := make([]byte, 64)
			return perOp(1000, func(i int) {
				fd, err := unix.Open(filepath.Join(mnt, fmt.Sprintf("s%04d", i)), unix.O_RDONLY, 0)
				if err != nil {
					b.Fatal(err)
				}
				unix.Read(fd, buf)
				unix.Close(fd)
			})
		}},
	}
	res := map[string][]float64{}
	for b.Loop() {
		for range 5 {
			for _, w := range workloads {
				for _, c := range configs {
					// Expire the kernel's caches so every round asks the
					// daemon (the entry/attr TTL is one second).
					dropCaches(b)
					res[c.name+"/"+w.name] = append(res[c.name+"/"+w.name], w.run(mounts[c.name]))
				}
			}
		}
	}
	for _, w := range workloads {
		base := median(res["allow-all/"+w.name])
		b.ReportMetric(base, "allow-all-"+w.name)
		for _, c := range configs[1:] {
			v := median(res[c.name+"/"+w.name])
			b.ReportMetric(v/base, c.name+"-ratio-"+w.name)
		}
	}
}

func perOp(n int, f func(i int)) float64 {
	start := time.Now()
	for i := range n {
		f(i)
	}
	return float64(time.Since(start).Nanoseconds()) / 1e3 / float64(n)
}

// drain consumes the audit events as the node plugin would.
func drain(b testing.TB, in *policy.Instance) {
	rb := in.RingBuffer("events")
	var rec bpfvm.Record
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := rb.Read(ctx, &rec)
		cancel()
		if err != nil {
			return
		}
		policy.DecodeAuditEvent(rec.RawSample)
	}
}
