package kernel

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"
)

// Enforcement tiers (ARCHITECTURE.md §1).
const (
	// TierKernel: the kernel runs the policy (FUSE-BPF Generation A).
	TierKernel = "kernel"
	// TierUserspace: the go-fuse daemon runs the policy in its interpreter.
	TierUserspace = "userspace"
)

const featureFuseOps = "FUSE-BPF struct_ops fuse_ops"

// Paths the probe reads.
const (
	devFusePath = "/dev/fuse"
	// fuseModuleBTF holds fuse's BTF when fuse is a module; fuse_ops itself
	// is registered from kernel/bpf, so vmlinux has it either way [I].
	fuseModuleBTF = "/sys/kernel/btf/fuse"
	// Android (Generation B) feature files, reported only (§2.1).
	androidFeaturePath  = "/sys/fs/fuse/features/fuse_bpf"
	androidProgTypePath = "/sys/fs/fuse/bpf_prog_type_fuse"
)

// Passthrough needs mainline FUSE passthrough (Linux 6.9, protocol 7.40).
const passthroughMajor, passthroughMinor = 6, 9

// Probe is what a node's kernel offers the tiers, as the node plugin
// publishes it and `fusebpf-csi probe` prints it.
type Probe struct {
	// KernelRelease is uname -r.
	KernelRelease string `json:"kernelRelease"`
	// Tiers lists the enforcement tiers available, best first.
	Tiers []string `json:"tiers"`
	// FuseBPF is true when the kernel's BTF has the complete Generation A
	// ABI (struct_ops fuse_ops), the condition for TierKernel.
	FuseBPF bool `json:"fuseBPF"`
	// ABIFingerprint identifies the FUSE-BPF ABI shape (see Fingerprint);
	// FingerprintNone on kernels without fuse_ops.
	ABIFingerprint string `json:"abiFingerprint"`
	// Kfuncs is the FUSE kfunc name set the kernel offers, if any.
	Kfuncs string `json:"kfuncs,omitempty"`
	// KernelTierReasons say why TierKernel is absent.
	KernelTierReasons []string `json:"kernelTierReasons,omitempty"`
	// Passthrough reports mainline FUSE passthrough (see PassthroughReason
	// for the evidence). Using it also needs CAP_SYS_ADMIN.
	Passthrough       bool   `json:"passthrough"`
	PassthroughReason string `json:"passthroughReason"`
	// DevFuse reports /dev/fuse, the condition for TierUserspace.
	DevFuse bool `json:"devFuse"`
	// AndroidFuseBPF and AndroidProgType are the contents of the Android
	// ACK feature files (/sys/fs/fuse/features/fuse_bpf and
	// /sys/fs/fuse/bpf_prog_type_fuse), empty if absent. Reported only:
	// that ABI (Generation B) has no tier yet.
	AndroidFuseBPF  string `json:"androidFuseBPF,omitempty"`
	AndroidProgType string `json:"androidProgType,omitempty"`
	// BTFSubset is the ABI's BTF (see Subset), nil without fuse_ops.
	BTFSubset []byte `json:"btfSubset,omitempty"`
}

// ProbeOptions replace what the probe reads from the running kernel.
type ProbeOptions struct {
	// BTF replaces the kernel's BTF, e.g. a BTF file to check against.
	BTF *btf.Spec
	// Release replaces the kernel release from uname.
	Release string
}

// ProbeKernel examines the running kernel (or what opts substitute): its
// BTF for the FUSE-BPF ABI and FUSE passthrough, /dev/fuse, and the
// Android feature files. A kernel without BTF is reported, not an error;
// errors are for a failing uname or an oversized BTF subset.
func ProbeKernel(opts ProbeOptions) (*Probe, error) {
	p := &Probe{KernelRelease: opts.Release}
	if p.KernelRelease == "" {
		var uts unix.Utsname
		if err := unix.Uname(&uts); err != nil {
			return nil, fmt.Errorf("probe: uname: %w", err)
		}
		p.KernelRelease = unix.ByteSliceToString(uts.Release[:])
	}

	spec := opts.BTF
	if spec == nil {
		var err error
		if spec, err = loadKernelBTF(); err != nil {
			p.KernelTierReasons = []string{"no kernel BTF: " + err.Error()}
		}
	}

	p.ABIFingerprint = FingerprintNone
	if spec != nil {
		c := checkABI(spec)
		p.FuseBPF = c.intact()
		p.Kfuncs = c.kfuncs
		p.KernelTierReasons = c.reasons
		p.ABIFingerprint = Fingerprint(spec)
		subset, err := Subset(spec)
		if err != nil {
			return nil, fmt.Errorf("probe: %w", err)
		}
		p.BTFSubset = subset
	}
	p.Passthrough, p.PassthroughReason = passthroughSupport(p.KernelRelease, spec)

	if fi, err := os.Stat(devFusePath); err == nil && fi.Mode()&fs.ModeCharDevice != 0 {
		p.DevFuse = true
	}
	p.AndroidFuseBPF = readSysfs(androidFeaturePath)
	p.AndroidProgType = readSysfs(androidProgTypePath)

	if p.FuseBPF {
		p.Tiers = append(p.Tiers, TierKernel)
	}
	if p.DevFuse {
		p.Tiers = append(p.Tiers, TierUserspace)
	}
	return p, nil
}

// HasTier reports whether tier is available.
func (p *Probe) HasTier(tier string) bool {
	for _, t := range p.Tiers {
		if t == tier {
			return true
		}
	}
	return false
}

// String formats the probe for people, one fact per line.
func (p *Probe) String() string {
	var b strings.Builder
	line := func(k, format string, args ...any) {
		fmt.Fprintf(&b, "%-18s %s\n", k+":", fmt.Sprintf(format, args...))
	}
	yes := func(v bool) string {
		if v {
			return "yes"
		}
		return "no"
	}
	line("kernel", "%s", p.KernelRelease)
	tiers := strings.Join(p.Tiers, ", ")
	if tiers == "" {
		tiers = "none"
	}
	line("tiers", "%s", tiers)
	line("FUSE-BPF (gen A)", "%s", yes(p.FuseBPF))
	for _, r := range p.KernelTierReasons {
		line("  kernel tier", "%s", r)
	}
	if p.Kfuncs != "" {
		line("  kfuncs", "%s_*", p.Kfuncs)
	}
	line("ABI fingerprint", "%s", p.ABIFingerprint)
	line("BTF subset", "%d bytes", len(p.BTFSubset))
	line("passthrough", "%s (%s)", yes(p.Passthrough), p.PassthroughReason)
	line("/dev/fuse", "%s", yes(p.DevFuse))
	android := "absent"
	if p.AndroidFuseBPF != "" {
		android = p.AndroidFuseBPF
		if p.AndroidProgType != "" {
			android += ", prog type " + p.AndroidProgType
		}
	}
	line("android fuse-bpf", "%s (not used)", android)
	return b.String()
}

// loadKernelBTF returns the running kernel's BTF, with fuse's module BTF
// on top when fuse is a module.
func loadKernelBTF() (*btf.Spec, error) {
	base, err := btf.LoadKernelSpec()
	if err != nil {
		return nil, err
	}
	f, err := os.Open(fuseModuleBTF)
	if errors.Is(err, fs.ErrNotExist) {
		return base, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	spec, err := btf.LoadSplitSpecFromReader(f, base)
	if err != nil {
		return nil, fmt.Errorf("fuse module BTF: %w", err)
	}
	return spec, nil
}

// passthroughSupport decides whether the kernel has mainline FUSE
// passthrough: release 6.9 or later, and BTF that has the ioctl's struct
// fuse_backing_map and a function of fs/fuse/passthrough.c, which is only
// built with CONFIG_FUSE_PASSTHROUGH. Without BTF it cannot be confirmed.
func passthroughSupport(release string, spec *btf.Spec) (bool, string) {
	major, minor, ok := parseRelease(release)
	if !ok {
		return false, fmt.Sprintf("cannot parse kernel release %q", release)
	}
	if major < passthroughMajor || major == passthroughMajor && minor < passthroughMinor {
		return false, fmt.Sprintf("Linux %d.%d is older than %d.%d", major, minor, passthroughMajor, passthroughMinor)
	}
	if spec == nil {
		return false, "no kernel BTF to confirm CONFIG_FUSE_PASSTHROUGH"
	}
	if _, err := findStruct(spec, "fuse_backing_map"); err != nil {
		return false, "no STRUCT fuse_backing_map in BTF"
	}
	if _, err := findFunc(spec, "fuse_passthrough_open"); err != nil {
		return false, "no FUNC fuse_passthrough_open in BTF: CONFIG_FUSE_PASSTHROUGH is off"
	}
	return true, fmt.Sprintf("Linux %d.%d, BTF has fuse_backing_map and fuse_passthrough_open", major, minor)
}

// parseRelease reads major and minor from a release like "6.18.44-foo".
func parseRelease(release string) (major, minor int, ok bool) {
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(parts[0])
	minorDigits := parts[1]
	if i := strings.IndexFunc(minorDigits, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		minorDigits = minorDigits[:i]
	}
	minor, err2 := strconv.Atoi(minorDigits)
	return major, minor, err1 == nil && err2 == nil
}

func readSysfs(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
