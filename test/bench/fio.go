package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// dataJob is one fio workload on a 1 GiB (short mode: smaller) file.
type dataJob struct {
	metric  string
	title   string
	file    string // "read" or "write": which of the two data files
	rw      string
	bs      string
	depth   int    // 1: psync; more: io_uring at that queue depth
	oneShot bool   // one pass over the file, not time-based
	prep    string // "drop": drop caches first; "warm": read the file first
	// distinct reads a quarter of the file's blocks, each at most once
	// (fio's random map), so every read is a page-cache miss: a
	// time-based random read of a 1 GiB file warms most of it within
	// seconds on a fast disk and ends up measuring cached reads.
	distinct bool
	// passes runs a one-pass job this many times (each from cold
	// caches) and keeps the pass with the median throughput: a cold
	// sequential read of a virtual disk lasts half a second and swings
	// with the host's cache.
	passes int
}

// The data-path jobs. Every job but the warm read starts from cold caches
// (sync + drop_caches): fio's invalidate=1 would drop only the FUSE
// file's cache, not the backing file's, which serves passthrough reads.
// Writes are buffered and not fsync'ed: they measure the cost of the
// write path per write(), not the disk; a sync follows each write job,
// outside the timed part.
var dataJobs = []dataJob{
	{metric: "seqread-cold", title: "seq read 1 MiB, cold, one pass", file: "read", rw: "read", bs: "1m", depth: 1, oneShot: true, prep: "drop", passes: 3},
	{metric: "seqread-warm", title: "seq read 1 MiB, warm", file: "read", rw: "read", bs: "1m", depth: 1, prep: "warm"},
	{metric: "randread-qd1", title: "rand read 4 KiB QD1, cold (distinct blocks)", file: "read", rw: "randread", bs: "4k", depth: 1, oneShot: true, distinct: true, prep: "drop"},
	{metric: "randread-qd16", title: "rand read 4 KiB QD16 (io_uring), cold (distinct blocks)", file: "read", rw: "randread", bs: "4k", depth: 16, oneShot: true, distinct: true, prep: "drop"},
	{metric: "seqwrite", title: "seq write 1 MiB (buffered)", file: "write", rw: "write", bs: "1m", depth: 1, prep: "drop"},
	{metric: "randwrite-qd1", title: "rand write 4 KiB QD1 (buffered)", file: "write", rw: "randwrite", bs: "4k", depth: 1, prep: "drop"},
	{metric: "randwrite-qd16", title: "rand write 4 KiB QD16 (io_uring, buffered)", file: "write", rw: "randwrite", bs: "4k", depth: 16, prep: "drop"},
}

// fioResult is what a job reports: throughput and completion latency.
type fioResult struct {
	MiBps    float64
	P50, P99 float64 // µs
	Wall     time.Duration
}

func (j dataJob) args(path string, o *Options) []string {
	a := []string{
		"--name=" + j.metric, "--filename=" + path, "--size=" + strconv.FormatInt(o.FileSize, 10),
		"--rw=" + j.rw, "--bs=" + j.bs, "--invalidate=0", "--fadvise_hint=0",
		"--randrepeat=0", "--numjobs=1",
		"--output-format=json", "--clat_percentiles=1", "--percentile_list=50:99",
	}
	if j.distinct {
		a = append(a, "--io_size="+strconv.FormatInt(o.FileSize/4, 10))
	} else {
		a = append(a, "--norandommap=1")
	}
	if j.depth > 1 {
		a = append(a, "--ioengine=io_uring", "--iodepth="+strconv.Itoa(j.depth))
	} else {
		a = append(a, "--ioengine=psync", "--iodepth=1")
	}
	if !j.oneShot {
		a = append(a, "--time_based", fmt.Sprintf("--runtime=%dms", o.Runtime.Milliseconds()))
		if o.Ramp > 0 {
			a = append(a, fmt.Sprintf("--ramp_time=%dms", o.Ramp.Milliseconds()))
		}
	}
	return a
}

// runFio runs one job on path and keeps fio's JSON in rawDir.
func runFio(ctx context.Context, j dataJob, path, raw string, o *Options) (fioResult, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Runtime+o.Ramp+10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "fio", j.args(path, o)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if raw != "" {
		os.MkdirAll(filepath.Dir(raw), 0o755)
		os.WriteFile(raw, out.Bytes(), 0o644)
	}
	if err != nil {
		return fioResult{}, fmt.Errorf("fio %s on %s: %w: %s", j.metric, path, err, bytes.TrimSpace(errb.Bytes()))
	}
	r, err := parseFio(out.Bytes(), j.rw)
	if err != nil {
		return fioResult{}, fmt.Errorf("fio %s on %s: %w", j.metric, path, err)
	}
	r.Wall = wall
	return r, nil
}

// parseFio reads the figures of fio's JSON output for the job's direction.
func parseFio(b []byte, rw string) (fioResult, error) {
	// fio may print notices before the JSON document.
	if i := bytes.IndexByte(b, '{'); i > 0 {
		b = b[i:]
	}
	var doc struct {
		Jobs []struct {
			Error int `json:"error"`
			Read  fioDir
			Write fioDir
		} `json:"jobs"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return fioResult{}, fmt.Errorf("parse output: %w", err)
	}
	if len(doc.Jobs) != 1 {
		return fioResult{}, fmt.Errorf("%d jobs in output, want 1", len(doc.Jobs))
	}
	j := doc.Jobs[0]
	if j.Error != 0 {
		return fioResult{}, fmt.Errorf("job error %d", j.Error)
	}
	d := j.Read
	if rw == "write" || rw == "randwrite" {
		d = j.Write
	}
	if d.IOBytes == 0 || d.BWBytes == 0 {
		return fioResult{}, fmt.Errorf("no %s I/O in output", rw)
	}
	return fioResult{
		MiBps: d.BWBytes / (1 << 20),
		P50:   d.Clat.Percentile["50.000000"] / 1e3,
		P99:   d.Clat.Percentile["99.000000"] / 1e3,
	}, nil
}

type fioDir struct {
	IOBytes float64 `json:"io_bytes"`
	BWBytes float64 `json:"bw_bytes"`
	Clat    struct {
		Percentile map[string]float64 `json:"percentile"`
	} `json:"clat_ns"`
}
