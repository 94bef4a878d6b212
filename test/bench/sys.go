package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// dropCaches writes back dirty data and drops the page, dentry and inode
// caches, so the next access of every configuration starts cold. FUSE
// mounts forget their inodes too, which the daemons see as FORGETs.
func dropCaches() error {
	unix.Sync()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0); err != nil {
		return fmt.Errorf("drop caches: %w", err)
	}
	return nil
}

// cpuMeter measures the CPU time a daemon used between start and stop:
// this process's for the daemons it serves in-process, a child's from
// /proc for bindfs, nothing for native.
type cpuMeter func() (time.Duration, error)

func selfCPU() (time.Duration, error) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// clockTick is USER_HZ, the unit of /proc/<pid>/stat times; it is 100 on
// every Linux architecture Go supports.
const clockTick = 100

func pidCPU(pid int) cpuMeter {
	return func() (time.Duration, error) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0, err
		}
		// Fields after the command name, which may contain spaces.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 13 {
			return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
		}
		// utime and stime are fields 14 and 15 of the line, 12 and 13
		// after the command.
		ut, err1 := strconv.ParseUint(f[11], 10, 64)
		st, err2 := strconv.ParseUint(f[12], 10, 64)
		if err1 != nil || err2 != nil {
			return 0, fmt.Errorf("/proc/%d/stat: malformed times", pid)
		}
		return time.Duration(ut+st) * time.Second / clockTick, nil
	}
}

// machineBusy returns the CPU time all CPUs together have spent busy
// since boot: user, nice, system, irq and softirq (not idle, iowait or
// steal).
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var busy uint64
	for _, i := range []int{1, 2, 3, 6, 7} { // user nice system irq softirq
		v, _ := strconv.ParseUint(f[i], 10, 64)
		busy += v
	}
	return time.Duration(busy) * time.Second / clockTick
}

// childrenCPU is the CPU time of this process's terminated, waited-for
// children (fio, the probes, find, tar).
func childrenCPU() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_CHILDREN, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadAvg returns the 1, 5 and 15 minute load averages.
func loadAvg() [3]float64 {
	var la [3]float64
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return la
	}
	f := strings.Fields(string(b))
	for i := 0; i < 3 && i < len(f); i++ {
		la[i], _ = strconv.ParseFloat(f[i], 64)
	}
	return la
}

// Machine describes where a run happened.
type Machine struct {
	Hostname   string     `json:"hostname"`
	Kernel     string     `json:"kernel"`
	CPU        string     `json:"cpu"`
	CPUs       int        `json:"cpus"`
	MemoryGiB  float64    `json:"memory_gib"`
	Backing    string     `json:"backing"`     // device, fstype and options of the backing directory
	ReadAhead  string     `json:"read_ahead"`  // read_ahead_kb of the backing device
	Go         string     `json:"go"`          // toolchain that built this program
	Fio        string     `json:"fio"`         // fio --version
	Bindfs     string     `json:"bindfs"`      // bindfs --version, first line
	LoadStart  [3]float64 `json:"load_start"`  // load averages when the run started
	LoadEnd    [3]float64 `json:"load_end"`    // and when it ended
	Governor   string     `json:"governor"`    // cpufreq governor, if the machine exposes one
	Virtualize string     `json:"virtualized"` // systemd-detect-virt, if available
}

func describeMachine(ctx context.Context, dir string) Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), LoadStart: loadAvg()}
	m.Hostname, _ = os.Hostname()
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Release[:]) + " " + unix.ByteSliceToString(u.Machine[:])
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil {
		m.MemoryGiB = float64(si.Totalram) * float64(si.Unit) / (1 << 30)
	}
	if dev, fstype, opts, ok := mountOf(dir); ok {
		m.Backing = fmt.Sprintf("%s %s (%s)", dev, fstype, opts)
		if ra, err := os.ReadFile(filepath.Join("/sys/class/block", filepath.Base(dev), "queue/read_ahead_kb")); err == nil {
			m.ReadAhead = strings.TrimSpace(string(ra)) + " KiB"
		}
	}
	m.Fio = firstLine(ctx, "fio", "--version")
	m.Bindfs = firstLine(ctx, "bindfs", "--version")
	m.Virtualize = firstLine(ctx, "systemd-detect-virt")
	if b, err := os.ReadFile("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"); err == nil {
		m.Governor = strings.TrimSpace(string(b))
	}
	return m
}

func firstLine(ctx context.Context, name string, args ...string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil && len(out) == 0 {
		return ""
	}
	l, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(l)
}

// mountOf finds the mount that holds dir: its source, type and options.
func mountOf(dir string) (dev, fstype, opts string, ok bool) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", "", "", false
	}
	defer f.Close()
	best := -1
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint options ... - fstype source superopts
		pre, post, found := strings.Cut(sc.Text(), " - ")
		if !found {
			continue
		}
		pf, sf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 6 || len(sf) < 3 {
			continue
		}
		mp := pf[4]
		if (dir == mp || strings.HasPrefix(dir, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > best {
			best = len(mp)
			dev, fstype, opts, ok = sf[1], sf[0], pf[5], true
		}
	}
	return dev, fstype, opts, ok
}
