package fusebpf

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkAllowAll measures, in one run, sequential read throughput and
// warm and cold stat latency through an allow-all mount next to the same
// workload on the backing directory, interleaved round by round, and
// reports each as a ratio (mount / native for latency, mount / native for
// throughput). Run it with -benchtime=1x; it reports medians of 5 rounds.
//
//	go test -run '^$' -bench AllowAll -benchtime=1x ./pkg/fusebpf/
func BenchmarkAllowAll(b *testing.B) {
	m := mountT(b, MountOptions{})
	const fileSize = 256 << 20
	const nFiles = 2000
	big := filepath.Join(m.backing, "big")
	writeFile(b, big, fileSize)
	dir := filepath.Join(m.backing, "many")
	os.Mkdir(dir, 0o755)
	for i := range nFiles {
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%05d", i)), nil, 0o644)
	}
	roots := map[string]string{"native": m.backing, "mount": m.mnt}
	res := map[string][]float64{}
	for b.Loop() {
		for range 5 {
			for _, cfg := range []string{"native", "mount"} {
				root := roots[cfg]
				dropCaches(b)
				res[cfg+"/seqread-cold-MBps"] = append(res[cfg+"/seqread-cold-MBps"], seqRead(b, filepath.Join(root, "big"), fileSize))
				res[cfg+"/seqread-warm-MBps"] = append(res[cfg+"/seqread-warm-MBps"], seqRead(b, filepath.Join(root, "big"), fileSize))
				dropCaches(b)
				res[cfg+"/stat-cold-us"] = append(res[cfg+"/stat-cold-us"], statAll(b, filepath.Join(root, "many"), nFiles))
				res[cfg+"/stat-warm-us"] = append(res[cfg+"/stat-warm-us"], statAll(b, filepath.Join(root, "many"), nFiles))
			}
		}
	}
	for _, metric := range []string{"seqread-cold-MBps", "seqread-warm-MBps", "stat-cold-us", "stat-warm-us"} {
		nat, mnt := median(res["native/"+metric]), median(res["mount/"+metric])
		b.ReportMetric(nat, "native-"+metric)
		b.ReportMetric(mnt, "mount-"+metric)
		b.ReportMetric(mnt/nat, "ratio-"+metric)
	}
}

func writeFile(b testing.TB, p string, size int) {
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	for off := 0; off < size; off += len(buf) {
		f.Write(buf)
	}
	f.Close()
}

func dropCaches(b testing.TB) {
	unix.Sync()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0); err != nil {
		b.Skipf("cannot drop caches: %v", err)
	}
}

// seqRead reads p in 1 MiB blocks and returns MB/s.
func seqRead(b testing.TB, p string, size int) float64 {
	f, err := os.Open(p)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	start := time.Now()
	n, err := io.CopyBuffer(io.Discard, onlyReader{f}, buf)
	if err != nil || n != int64(size) {
		b.Fatalf("read %d bytes: %v", n, err)
	}
	return float64(size) / 1e6 / time.Since(start).Seconds()
}

type onlyReader struct{ io.Reader }

// statAll lstat()s every file of dir and returns µs per stat.
func statAll(b testing.TB, dir string, n int) float64 {
	var st unix.Stat_t
	start := time.Now()
	for i := range n {
		if err := unix.Lstat(filepath.Join(dir, fmt.Sprintf("f%05d", i)), &st); err != nil {
			b.Fatal(err)
		}
	}
	return float64(time.Since(start).Microseconds()) / float64(n)
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}
