package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// layout names the files of a metadata tree: files spread in equal blocks
// over dirs directories, dir/dNNN/<prefix>NNNNNNN.
type layout struct {
	dir    string
	dirs   int
	files  int
	prefix string
}

func (l layout) subdir(d int) string { return filepath.Join(l.dir, fmt.Sprintf("d%03d", d)) }

func (l layout) path(i int) string {
	per := (l.files + l.dirs - 1) / l.dirs
	return filepath.Join(l.subdir(i/per), fmt.Sprintf("%s%07d", l.prefix, i))
}

// probeResult is what one probe run reports.
type probeResult struct {
	Ops int   `json:"ops"`
	NS  int64 `json:"ns"` // time spent in the timed operations
}

func (r probeResult) usPerOp() float64 {
	if r.Ops == 0 {
		return 0
	}
	return float64(r.NS) / 1e3 / float64(r.Ops)
}

// Probe is the metadata client: the benchmark starts this program again
// (Main's "probe" subcommand) for each metadata phase, so the client never
// shares a Go runtime with the daemons it measures. It prints one JSON
// object: how many operations it timed and how long they took.
//
//	probe -op create|stat|statwarm|lookupmiss|readdir|unlink -dir D -dirs K -files N [-prefix P] [-chunk C]
func Probe(args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("probe", flag.ContinueOnError)
	op := fl.String("op", "", "create, stat, statwarm, lookupmiss, readdir or unlink")
	var l layout
	fl.StringVar(&l.dir, "dir", "", "tree root")
	fl.IntVar(&l.dirs, "dirs", 1, "directories")
	fl.IntVar(&l.files, "files", 0, "files")
	fl.StringVar(&l.prefix, "prefix", "f", "file name prefix")
	chunk := fl.Int("chunk", 250, "statwarm: files stat'ed twice in a row (the second pass is timed)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if l.dir == "" || l.dirs < 1 || l.files < 1 {
		return errors.New("probe: -dir, -dirs and -files are required")
	}
	var r probeResult
	var err error
	switch *op {
	case "create":
		r, err = probeCreate(l)
	case "stat":
		r, err = probeStat(l, 0)
	case "statwarm":
		r, err = probeStat(l, *chunk)
	case "lookupmiss":
		r, err = probeLookupMiss(l)
	case "readdir":
		r, err = probeReaddir(l)
	case "unlink":
		r, err = probeUnlink(l)
	default:
		return fmt.Errorf("probe: unknown -op %q", *op)
	}
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(r)
}

func probeCreate(l layout) (probeResult, error) {
	for d := range l.dirs {
		if err := os.MkdirAll(l.subdir(d), 0o755); err != nil {
			return probeResult{}, err
		}
	}
	start := time.Now()
	for i := range l.files {
		fd, err := unix.Open(l.path(i), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return probeResult{}, fmt.Errorf("create %s: %w", l.path(i), err)
		}
		unix.Close(fd)
	}
	return probeResult{Ops: l.files, NS: time.Since(start).Nanoseconds()}, nil
}

// probeStat lstat()s every file. With chunk > 0, it goes chunk files at a
// time, twice in a row, and times only the second pass: what a cached
// stat costs while the kernel's entry and attribute TTL still holds (a
// full second pass over 10,000 files through FUSE outlasts a 1 s TTL).
func probeStat(l layout, chunk int) (probeResult, error) {
	var st unix.Stat_t
	statRange := func(from, to int) error {
		for i := from; i < to; i++ {
			if err := unix.Lstat(l.path(i), &st); err != nil {
				return fmt.Errorf("stat %s: %w", l.path(i), err)
			}
		}
		return nil
	}
	if chunk <= 0 {
		start := time.Now()
		if err := statRange(0, l.files); err != nil {
			return probeResult{}, err
		}
		return probeResult{Ops: l.files, NS: time.Since(start).Nanoseconds()}, nil
	}
	var total time.Duration
	for from := 0; from < l.files; from += chunk {
		to := min(from+chunk, l.files)
		if err := statRange(from, to); err != nil {
			return probeResult{}, err
		}
		start := time.Now()
		if err := statRange(from, to); err != nil {
			return probeResult{}, err
		}
		total += time.Since(start)
	}
	return probeResult{Ops: l.files, NS: total.Nanoseconds()}, nil
}

// probeLookupMiss looks up names that do not exist, each once, so every
// one is a negative lookup that reaches the file system.
func probeLookupMiss(l layout) (probeResult, error) {
	var st unix.Stat_t
	start := time.Now()
	for i := range l.files {
		if err := unix.Lstat(l.path(i), &st); err != unix.ENOENT {
			return probeResult{}, fmt.Errorf("stat %s: %v, want ENOENT", l.path(i), err)
		}
	}
	return probeResult{Ops: l.files, NS: time.Since(start).Nanoseconds()}, nil
}

// probeReaddir lists every directory (open, getdents to the end, close)
// and checks that it holds its share of the files. Ops counts entries.
func probeReaddir(l layout) (probeResult, error) {
	buf := make([]byte, 32<<10)
	var total time.Duration
	entries := 0
	for d := range l.dirs {
		start := time.Now()
		fd, err := unix.Open(l.subdir(d), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return probeResult{}, err
		}
		n := 0
		for {
			sz, err := unix.Getdents(fd, buf)
			if err != nil {
				unix.Close(fd)
				return probeResult{}, fmt.Errorf("getdents %s: %w", l.subdir(d), err)
			}
			if sz == 0 {
				break
			}
			_, c, _ := unix.ParseDirent(buf[:sz], -1, nil)
			n += c
		}
		unix.Close(fd)
		total += time.Since(start)
		entries += n
	}
	if entries != l.files {
		return probeResult{}, fmt.Errorf("%w: readdir of %s: %d entries, want %d", ErrCheck, l.dir, entries, l.files)
	}
	return probeResult{Ops: entries, NS: total.Nanoseconds()}, nil
}

func probeUnlink(l layout) (probeResult, error) {
	start := time.Now()
	for i := range l.files {
		if err := unix.Unlink(l.path(i)); err != nil {
			return probeResult{}, fmt.Errorf("unlink %s: %w", l.path(i), err)
		}
	}
	return probeResult{Ops: l.files, NS: time.Since(start).Nanoseconds()}, nil
}

// runProbe starts the probe in a new process.
func runProbe(ctx context.Context, self []string, op string, l layout, extra ...string) (probeResult, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	args := append(append([]string{}, self[1:]...), "probe", "-op", op, "-dir", l.dir,
		"-dirs", fmt.Sprint(l.dirs), "-files", fmt.Sprint(l.files), "-prefix", l.prefix)
	args = append(args, extra...)
	cmd := exec.CommandContext(ctx, self[0], args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return probeResult{}, fmt.Errorf("probe %s %s: %w: %s", op, l.dir, err, bytes.TrimSpace(errb.Bytes()))
	}
	var r probeResult
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		return probeResult{}, fmt.Errorf("probe %s %s: %w", op, l.dir, err)
	}
	return r, nil
}

// timedCommand runs a command and returns its wall time and how many
// lines and bytes it wrote to stdout.
func timedCommand(ctx context.Context, dir string, name string, args ...string) (time.Duration, int, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, 0, 0, err
	}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, 0, err
	}
	lines, nbytes := 0, int64(0)
	rd := bufio.NewReaderSize(stdout, 1<<20)
	buf := make([]byte, 1<<20)
	for {
		n, err := rd.Read(buf)
		nbytes += int64(n)
		lines += bytes.Count(buf[:n], []byte{'\n'})
		if err != nil {
			break
		}
	}
	err = cmd.Wait()
	wall := time.Since(start)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("%s %v: %w: %s", name, args, err, bytes.TrimSpace(errb.Bytes()))
	}
	return wall, lines, nbytes, nil
}
