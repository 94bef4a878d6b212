package kernel

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// remarshal encodes every type of spec as fresh BTF and loads it back, the
// way a node's BTF reaches the probe.
func remarshal(t testing.TB, spec *btf.Spec) *btf.Spec {
	t.Helper()
	var types []btf.Type
	for typ, err := range spec.All() {
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, typ)
	}
	b, err := btf.NewBuilder(types, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := b.Marshal(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := btf.LoadSpecFromReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func mustStruct(t testing.TB, spec *btf.Spec, name string) *btf.Struct {
	t.Helper()
	s, err := findStruct(spec, name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustFunc(t testing.TB, spec *btf.Spec, name string) *btf.Func {
	t.Helper()
	fn, err := findFunc(spec, name)
	if err != nil {
		t.Fatal(err)
	}
	return fn
}

// abiVariant is the synthetic FUSE-BPF BTF with one edit.
type abiVariant struct {
	name string
	edit func(t testing.TB, spec *btf.Spec)
	// intact: the edit keeps a usable Generation A ABI.
	intact bool
	// reason is a substring of the probe's reason for a broken ABI.
	reason string
}

var abiVariants = []abiVariant{
	{name: "intact", edit: func(testing.TB, *btf.Spec) {}, intact: true},
	{
		name: "callback member missing",
		edit: func(t testing.TB, spec *btf.Spec) {
			ops := mustStruct(t, spec, OpsStruct)
			ops.Members = slices.DeleteFunc(ops.Members, func(m btf.Member) bool { return m.Name == "lookup_postfilter" })
		},
		reason: "fuse_ops has no member lookup_postfilter",
	},
	{
		name: "prototype arity changed",
		edit: func(t testing.TB, spec *btf.Spec) {
			ops := mustStruct(t, spec, OpsStruct)
			i := slices.IndexFunc(ops.Members, func(m btf.Member) bool { return m.Name == "lookup_postfilter" })
			proto, _ := funcPointerProto(ops.Members[i].Type)
			// Prototypes are shared between members: replace, do not edit.
			ops.Members[i].Type = &btf.Pointer{Target: &btf.FuncProto{
				Return: proto.Return, Params: proto.Params[:len(proto.Params)-1],
			}}
		},
		reason: "fuse_ops.lookup_postfilter takes 3 parameters, want 4",
	},
	{
		name: "kfunc missing",
		edit: func(t testing.TB, spec *btf.Spec) {
			mustFunc(t, spec, "bpf_fuse_get_rw_dynptr").Name = "bpf_fuse_get_rw_dynptr_removed"
		},
		reason: "no complete FUSE dynptr kfunc set",
	},
	{
		name: "struct field moved",
		edit: func(t testing.TB, spec *btf.Spec) {
			s := mustStruct(t, spec, "fuse_read_in")
			i := slices.IndexFunc(s.Members, func(m btf.Member) bool { return m.Name == "flags" })
			j := slices.IndexFunc(s.Members, func(m btf.Member) bool { return m.Name == "padding" })
			s.Members[i].Offset, s.Members[j].Offset = s.Members[j].Offset, s.Members[i].Offset
			s.Members[i], s.Members[j] = s.Members[j], s.Members[i]
		},
		reason: "struct fuse_read_in field flags is 4 bytes at offset 36, want 4 at 32",
	},
	{
		name: "value wrapper missing",
		edit: func(t testing.TB, spec *btf.Spec) {
			mustStruct(t, spec, OpsValueStruct).Name = "unrelated_value"
		},
		reason: "no STRUCT bpf_struct_ops_fuse_ops",
	},
	{
		name: "kfuncs renamed as suggested in review",
		edit: func(t testing.TB, spec *btf.Spec) {
			mustFunc(t, spec, "bpf_fuse_get_ro_dynptr").Name = "bpf_dynptr_from_fuse_buffer_ro"
			mustFunc(t, spec, "bpf_fuse_get_rw_dynptr").Name = "bpf_dynptr_from_fuse_buffer_rw"
		},
		intact: true,
	},
}

func (v abiVariant) build(t testing.TB) *btf.Spec {
	spec := syntheticBTF(t)
	v.edit(t, spec)
	return remarshal(t, spec)
}

// TestProbeSyntheticABIs runs the probe against BTF of a FUSE-BPF kernel
// built from the header, and against variants with one thing broken: only
// intact ABIs offer the kernel tier, and every variant has its own
// fingerprint.
func TestProbeSyntheticABIs(t *testing.T) {
	seen := map[string]string{}
	for _, v := range abiVariants {
		t.Run(v.name, func(t *testing.T) {
			spec := v.build(t)
			p, err := ProbeKernel(ProbeOptions{BTF: spec, Release: "6.18.0-fusebpf"})
			if err != nil {
				t.Fatal(err)
			}
			if p.HasTier(TierKernel) != v.intact || p.FuseBPF != v.intact {
				t.Fatalf("tiers %v, FuseBPF %t; want kernel tier %t (reasons %v)", p.Tiers, p.FuseBPF, v.intact, p.KernelTierReasons)
			}
			if v.intact && (len(p.KernelTierReasons) != 0 || p.Tiers[0] != TierKernel) {
				t.Errorf("intact ABI: tiers %v, reasons %v", p.Tiers, p.KernelTierReasons)
			}
			if !v.intact && !slices.ContainsFunc(p.KernelTierReasons, func(r string) bool { return strings.Contains(r, v.reason) }) {
				t.Errorf("reasons %q lack %q", p.KernelTierReasons, v.reason)
			}
			if len(p.ABIFingerprint) != 16 {
				t.Errorf("fingerprint %q is not 16 hex characters", p.ABIFingerprint)
			}
			if other, dup := seen[p.ABIFingerprint]; dup {
				t.Errorf("fingerprint %s equals that of %q", p.ABIFingerprint, other)
			}
			seen[p.ABIFingerprint] = v.name
			if p.Passthrough {
				t.Error("passthrough reported from BTF without fuse_backing_map")
			}
		})
	}
}

// TestFingerprintStable: equal ABIs give equal fingerprints however the
// BTF is laid out: the compiled object, its re-encoding, and the subset.
func TestFingerprintStable(t *testing.T) {
	orig := syntheticBTF(t)
	want := Fingerprint(orig)
	if want == FingerprintNone {
		t.Fatal("synthetic BTF has no fingerprint")
	}
	if got := Fingerprint(remarshal(t, orig)); got != want {
		t.Errorf("re-encoded BTF: %s, want %s", got, want)
	}
	raw, err := Subset(orig)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := btf.LoadSpecFromReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if got := Fingerprint(sub); got != want {
		a, _ := canonicalABI(orig)
		b, _ := canonicalABI(sub)
		t.Errorf("subset: %s, want %s\n--- full\n%s\n--- subset\n%s", got, want, a, b)
	}
	// A policy object carries fuse_ops but not the rest of the ABI.
	policyBTF, err := btf.LoadSpec(testdata(t, "policy_example.o"))
	if err != nil {
		t.Fatal(err)
	}
	if got := Fingerprint(policyBTF); got == want || got == FingerprintNone {
		t.Errorf("policy object's partial ABI fingerprints as %s", got)
	}
}

// TestSubset: the subset round-trips, is small, passes the probe itself,
// and keeps the ABI's structs complete while pruning everything else.
func TestSubset(t *testing.T) {
	for _, v := range abiVariants {
		spec := v.build(t)
		raw, err := Subset(spec)
		if err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		if len(raw) == 0 || len(raw) > MaxSubsetSize {
			t.Fatalf("%s: subset is %d bytes, want 1..%d", v.name, len(raw), MaxSubsetSize)
		}
		sub, err := btf.LoadSpecFromReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%s: subset does not load: %v", v.name, err)
		}
		if got := checkABI(sub).intact(); got != v.intact {
			t.Errorf("%s: subset intact=%t, want %t", v.name, got, v.intact)
		}
		if Fingerprint(sub) != Fingerprint(spec) {
			t.Errorf("%s: subset changes the fingerprint", v.name)
		}
		if v.name == "intact" {
			t.Logf("subset: %d bytes", len(raw))
			// The object's program and globals are not part of the ABI.
			for _, gone := range []string{"abi_kfuncs", "abi_value", "LICENSE"} {
				if _, err := sub.AnyTypeByName(gone); err == nil {
					t.Errorf("subset contains %s", gone)
				}
			}
			var dynptr btf.Type
			if dynptr, err = sub.AnyTypeByName("bpf_dynptr"); err != nil {
				t.Errorf("kfunc parameter type bpf_dynptr missing: %v", err)
			} else if _, fwd := dynptr.(*btf.Fwd); !fwd {
				t.Errorf("bpf_dynptr is %T, want a forward declaration", dynptr)
			}
		}
	}
	if raw, err := Subset(mustKernelSpec(t)); err != nil || (raw != nil) != kernelHasFuseOps(t) {
		t.Errorf("running kernel: subset %d bytes, %v", len(raw), err)
	}
}

// TestSubsetIsCORETarget: a controller relocates a policy against a node's
// subset. Field relocations of a policy resolve against the intact
// subset, follow a moved field, and fail (poison) when a field is gone.
func TestSubsetIsCORETarget(t *testing.T) {
	policySpec := loadCollectionSpec(t, "policy_user_postfilter.o")
	var relos []*btf.CORERelocation
	for _, p := range policySpec.Programs {
		for _, ins := range p.Instructions {
			if r := btf.CORERelocationMetadata(&ins); r != nil {
				relos = append(relos, r)
			}
		}
	}
	if len(relos) < 3 {
		t.Fatalf("policy has %d CO-RE relocations, want at least 3", len(relos))
	}
	relocate := func(spec *btf.Spec) []string {
		t.Helper()
		raw, err := Subset(spec)
		if err != nil {
			t.Fatal(err)
		}
		sub, err := btf.LoadSpecFromReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		fixups, err := btf.CORERelocate(relos, []*btf.Spec{sub}, policySpec.ByteOrder, policySpec.Types.TypeID)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, f := range fixups {
			out = append(out, f.String())
		}
		return out
	}

	for _, f := range relocate(syntheticBTF(t)) {
		if strings.Contains(f, "poison") {
			t.Errorf("intact subset: fixup %s", f)
		}
	}

	// meta->nodeid moved from 0 to 16 (swapped with error_out).
	moved := syntheticBTF(t)
	meta := mustStruct(t, moved, metaStruct)
	meta.Members[0].Offset, meta.Members[3].Offset = meta.Members[3].Offset, meta.Members[0].Offset
	if !slices.ContainsFunc(relocate(remarshal(t, moved)), func(f string) bool { return strings.Contains(f, "0->16") }) {
		t.Error("no relocation followed bpf_fuse_meta_info.nodeid to offset 16")
	}

	gone := syntheticBTF(t)
	attr := mustStruct(t, gone, "fuse_attr")
	attr.Members = slices.DeleteFunc(attr.Members, func(m btf.Member) bool { return m.Name == "mode" })
	if !slices.ContainsFunc(relocate(remarshal(t, gone)), func(f string) bool { return strings.Contains(f, "poison") }) {
		t.Error("relocation of fuse_attr.mode did not fail against a subset without it")
	}
}

func mustKernelSpec(t testing.TB) *btf.Spec {
	t.Helper()
	spec, err := loadKernelBTF()
	if errors.Is(err, ErrNotSupported) || errors.Is(err, os.ErrNotExist) {
		t.Skipf("kernel has no BTF: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

func kernelHasFuseOps(t testing.TB) bool {
	_, err := findStruct(mustKernelSpec(t), OpsStruct)
	return err == nil
}

// kernelConfig returns the value of a CONFIG_ option from /proc/config.gz,
// or ok=false if the config is not readable.
func kernelConfig(t testing.TB, option string) (string, bool) {
	f, err := os.Open("/proc/config.gz")
	if err != nil {
		return "", false
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), option+"="); ok {
			return v, true
		}
	}
	return "n", true
}

// TestProbeRunningKernel probes this machine. On a stock kernel it must
// report no FUSE-BPF and only the userspace tier; passthrough is checked
// against the kernel's own config where that is readable.
func TestProbeRunningKernel(t *testing.T) {
	if !kernelHasFuseOps(t) {
		t.Log("stock kernel: no STRUCT fuse_ops")
	}
	p, err := ProbeKernel(ProbeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", p)

	if kernelHasFuseOps(t) {
		if p.FuseBPF != checkABI(mustKernelSpec(t)).intact() || p.ABIFingerprint == FingerprintNone {
			t.Errorf("FUSE-BPF kernel: FuseBPF %t, fingerprint %s", p.FuseBPF, p.ABIFingerprint)
		}
	} else {
		if p.FuseBPF || p.HasTier(TierKernel) || p.ABIFingerprint != FingerprintNone || p.BTFSubset != nil {
			t.Errorf("stock kernel reported as FUSE-BPF: %+v", p)
		}
		if len(p.KernelTierReasons) == 0 || !strings.Contains(p.KernelTierReasons[0], "fuse_ops") {
			t.Errorf("reasons %q do not name fuse_ops", p.KernelTierReasons)
		}
	}

	fi, err := os.Stat("/dev/fuse")
	hasFuse := err == nil && fi.Mode()&os.ModeCharDevice != 0
	if p.DevFuse != hasFuse || p.HasTier(TierUserspace) != hasFuse {
		t.Errorf("/dev/fuse %t, probe says DevFuse %t, tiers %v", hasFuse, p.DevFuse, p.Tiers)
	}
	if !p.HasTier(TierKernel) && hasFuse && !slices.Equal(p.Tiers, []string{TierUserspace}) {
		t.Errorf("tiers %v, want [userspace]", p.Tiers)
	}

	if cfg, ok := kernelConfig(t, "CONFIG_FUSE_PASSTHROUGH"); ok {
		major, minor, _ := parseRelease(p.KernelRelease)
		want := cfg == "y" && (major > 6 || major == 6 && minor >= 9)
		if p.Passthrough != want {
			t.Errorf("passthrough %t (%s); kernel config says %s on %s", p.Passthrough, p.PassthroughReason, cfg, p.KernelRelease)
		}
	} else {
		t.Log("no /proc/config.gz: passthrough not cross-checked")
	}

	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var back Probe
	if err := json.Unmarshal(raw, &back); err != nil || !slices.Equal(back.Tiers, p.Tiers) || back.ABIFingerprint != p.ABIFingerprint {
		t.Errorf("JSON round trip: %s -> %+v (%v)", raw, back, err)
	}
	for _, key := range []string{`"kernelRelease"`, `"tiers"`, `"abiFingerprint"`, `"passthrough"`} {
		if !bytes.Contains(raw, []byte(key)) {
			t.Errorf("JSON lacks %s: %s", key, raw)
		}
	}
	if s := p.String(); !strings.Contains(s, "tiers:") || !strings.Contains(s, p.KernelRelease) {
		t.Errorf("String() lacks tiers or release:\n%s", s)
	}
}

// TestRegisterFuseOpsOnStockKernel: a fuse_ops policy in the kernel tier
// fails, before anything is loaded, with an error matching both this
// package's and cilium/ebpf's ErrNotSupported and naming what is missing.
func TestRegisterFuseOpsOnStockKernel(t *testing.T) {
	if kernelHasFuseOps(t) {
		t.Skip("kernel has STRUCT fuse_ops: the not-supported path cannot be reached")
	}
	spec := loadCollectionSpec(t, "policy_example.o")
	inst, err := Register(spec, RegisterOptions{VolumeID: "pvc-fuse-ops-stock"})
	if err == nil {
		inst.Close()
		t.Fatal("fuse_ops registered on a kernel without fuse_ops")
	}
	var ue *UnsupportedError
	if !errors.Is(err, ErrNotSupported) || !errors.Is(err, ebpf.ErrNotSupported) || !errors.As(err, &ue) {
		t.Fatalf("error %v (%T) does not match ErrNotSupported", err, err)
	}
	if len(ue.Reasons) == 0 || !strings.Contains(ue.Reasons[0], "fuse_ops") {
		t.Errorf("reasons %q do not name fuse_ops", ue.Reasons)
	}
}

func TestPassthroughSupport(t *testing.T) {
	synthetic := syntheticBTF(t)
	for _, tc := range []struct {
		release string
		spec    *btf.Spec
		want    bool
		reason  string
	}{
		{"6.8.12", nil, false, "older than 6.9"},
		{"5.15.0-91-generic", nil, false, "older than 6.9"},
		{"6.9.0", nil, false, "no kernel BTF"},
		{"6.10.3", synthetic, false, "no STRUCT fuse_backing_map"},
		{"garbage", nil, false, "cannot parse"},
	} {
		got, reason := passthroughSupport(tc.release, tc.spec)
		if got != tc.want || !strings.Contains(reason, tc.reason) {
			t.Errorf("%s: %t (%s), want %t (%s)", tc.release, got, reason, tc.want, tc.reason)
		}
	}
	for release, want := range map[string][2]int{"6.18.44-fc-v782": {6, 18}, "7.0": {7, 0}, "6.9rc1": {6, 9}} {
		if major, minor, ok := parseRelease(release); !ok || major != want[0] || minor != want[1] {
			t.Errorf("parseRelease(%q) = %d.%d %t", release, major, minor, ok)
		}
	}
}
