package kernel

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

func TestNeedsDaemonObjects(t *testing.T) {
	for _, tc := range []struct {
		object string
		needed bool
		reason string
	}{
		// -ENOENT or CONTINUE only.
		{"policy_example.o", false, ""},
		// up_lookup_post returns BPF_FUSE_USER_POSTFILTER.
		{"policy_user_postfilter.o", true, "up_lookup_post: may return 4 (BPF_FUSE_USER_POSTFILTER)"},
		// The verdict is a parameter, not a constant of the code.
		{"policy_param_verdict.o", true, "pv_unlink_pre: return value not a provable constant"},
	} {
		need := NeedsDaemon(loadCollectionSpec(t, tc.object))
		if need.Needed != tc.needed {
			t.Errorf("%s: needed %t (%v), want %t", tc.object, need.Needed, need.Reasons, tc.needed)
		}
		if tc.reason != "" && (len(need.Reasons) != 1 || !strings.HasPrefix(need.Reasons[0], tc.reason)) {
			t.Errorf("%s: reasons %q, want one starting %q", tc.object, need.Reasons, tc.reason)
		}
	}
}

func TestNeedsDaemonScan(t *testing.T) {
	ret := func(insns ...asm.Instruction) asm.Instructions { return asm.Instructions(insns) }
	for _, tc := range []struct {
		name   string
		insns  asm.Instructions
		needed bool
		reason string // the finding, when needed
	}{
		{"errno", ret(asm.Mov.Imm32(asm.R0, -2), asm.Return()), false, ""},
		{"continue", ret(asm.Mov.Imm(asm.R0, 0), asm.Return()), false, ""},
		{"postfilter and call-default", ret(
			asm.Mov.Imm(asm.R0, 3),
			asm.JEq.Imm(asm.R1, 0, "out"),
			asm.Mov.Imm(asm.R0, 5),
			asm.Return().WithSymbol("out"),
		), false, ""},
		{"user", ret(asm.Mov.Imm(asm.R0, 1), asm.Return()), true, "may return 1"},
		{"user prefilter through a register", ret(
			asm.Mov.Imm(asm.R6, 2),
			asm.Mov.Reg(asm.R0, asm.R6),
			asm.Return(),
		), true, "may return 2"},
		{"user postfilter on one branch", ret(
			asm.Mov.Imm(asm.R0, 0),
			asm.JEq.Imm(asm.R1, 0, "skip"),
			asm.Mov.Imm(asm.R0, 4),
			asm.Return().WithSymbol("skip"),
		), true, "may return 4"},
		{"64-bit immediate", ret(asm.LoadImm(asm.R0, 4, asm.DWord), asm.Return()), true, "may return 4"},
		{"arithmetic", ret(asm.Mov.Imm(asm.R0, 0), asm.Add.Imm(asm.R0, 1), asm.Return()), true, "may return 1"},
		{"helper result", ret(asm.FnGetPrandomU32.Call(), asm.Return()), true, "not a provable constant"},
		{"constant clobbered by a call", ret(asm.Mov.Imm(asm.R0, 0), asm.FnKtimeGetNs.Call(), asm.Return()), true, "not a provable constant"},
		{"constant kept across a call in r6", ret(
			asm.Mov.Imm(asm.R6, -13),
			asm.FnKtimeGetNs.Call(),
			asm.Mov.Reg(asm.R0, asm.R6),
			asm.Return(),
		), false, ""},
		{"loop", ret(
			asm.Mov.Imm(asm.R0, 0),
			asm.Mov.Imm(asm.R1, 0).WithSymbol("top"),
			asm.JNE.Imm(asm.R2, 0, "top"),
			asm.Return(),
		), false, ""},
		{"tail call", ret(asm.Mov.Imm(asm.R0, 0), asm.FnTailCall.Call(), asm.Mov.Imm(asm.R0, 0), asm.Return()), true, "tail call"},
		{"memory load", ret(asm.LoadMem(asm.R0, asm.R1, 0, asm.Word), asm.Return()), true, "not a provable constant"},
		// clang's `flag ? -EPERM : 0`: smear the tested bit into 0 or -1.
		{"sign smear", ret(
			asm.LoadMem(asm.R0, asm.R1, 0, asm.Word),
			asm.LSh.Imm32(asm.R0, 28),
			asm.ArSh.Imm32(asm.R0, 31),
			asm.Return(),
		), false, ""},
		// clang's `flag ? 0 : -1`: isolate one bit, subtract one.
		{"bit minus one", ret(
			asm.LoadMem(asm.R0, asm.R1, 0, asm.Word),
			asm.RSh.Imm32(asm.R0, 10),
			asm.And.Imm32(asm.R0, 1),
			asm.Add.Imm32(asm.R0, -1),
			asm.Return(),
		), false, ""},
		{"bit plus one can be 1 or 2", ret(
			asm.LoadMem(asm.R0, asm.R1, 0, asm.Word),
			asm.And.Imm32(asm.R0, 1),
			asm.Add.Imm32(asm.R0, 1),
			asm.Return(),
		), true, "may return 1"},
		{"logical shift by 31 can be 1", ret(
			asm.LoadMem(asm.R0, asm.R1, 0, asm.Word),
			asm.RSh.Imm32(asm.R0, 31),
			asm.Return(),
		), true, "may return 1"},
		{"wide mask", ret(
			asm.LoadMem(asm.R0, asm.R1, 0, asm.Word),
			asm.And.Imm32(asm.R0, 0xf0),
			asm.Return(),
		), true, "not a provable constant"},
		{"local function returning errnos", ret(
			asm.Call.Label("gate"),
			asm.Return(),
			asm.Mov.Imm(asm.R0, 0).WithSymbol("gate"),
			asm.JEq.Imm(asm.R1, 0, "done"),
			asm.Mov.Imm32(asm.R0, -13),
			asm.Return().WithSymbol("done"),
		), false, ""},
		{"local function returning user", ret(
			asm.Call.Label("gate"),
			asm.Return(),
			asm.Mov.Imm(asm.R0, 0).WithSymbol("gate"),
			asm.JEq.Imm(asm.R1, 0, "done"),
			asm.Mov.Imm(asm.R0, 1),
			asm.Return().WithSymbol("done"),
		), true, "may return 1"},
		{"recursive local function", ret(
			asm.Call.Label("rec"),
			asm.Return(),
			asm.Call.Label("rec").WithSymbol("rec"),
			asm.Return(),
		), true, "not a provable constant"},
	} {
		insns := tc.insns
		// Resolve symbolic jumps the way the ELF reader leaves them: as offsets.
		if err := resolveJumps(insns); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		spec := &ebpf.CollectionSpec{Programs: map[string]*ebpf.ProgramSpec{
			"cb": {Name: "cb", Type: ebpf.StructOps, Instructions: insns},
		}}
		need := NeedsDaemon(spec)
		if need.Needed != tc.needed {
			t.Errorf("%s: needed %t (%v), want %t", tc.name, need.Needed, need.Reasons, tc.needed)
		}
		if tc.needed && (len(need.Reasons) != 1 || !strings.Contains(need.Reasons[0], tc.reason)) {
			t.Errorf("%s: reasons %q, want one with %q", tc.name, need.Reasons, tc.reason)
		}
	}
}

// resolveJumps turns jump references into raw offsets.
func resolveJumps(insns asm.Instructions) error {
	offsets, err := insns.SymbolOffsets()
	if err != nil {
		return err
	}
	for it := insns.Iterate(); it.Next(); {
		ins := it.Ins
		if ins.OpCode.Class().IsJump() && ins.OpCode.JumpOp() != asm.Call && ins.OpCode.JumpOp() != asm.Exit && ins.Reference() != "" {
			ins.Offset = int16(offsets[ins.Reference()] - int(it.Offset) - 1)
		}
	}
	return nil
}

// TestBuiltinsNeedNoDaemon: every built-in policy returns only constants
// other than the BPF_FUSE_USER* codes, so the kernel tier mounts it with
// no_daemon and its volumes survive a node plugin restart.
func TestBuiltinsNeedNoDaemon(t *testing.T) {
	objects, err := filepath.Glob(filepath.Join(filepath.Dir(testdata(t, "")), "..", "pkg", "policy", "builtin", "*.bpf.o"))
	if err != nil || len(objects) == 0 {
		t.Fatalf("no built-in objects found (%v)", err)
	}
	for _, obj := range objects {
		spec, err := ebpf.LoadCollectionSpec(obj)
		if err != nil {
			t.Fatal(err)
		}
		if need := NeedsDaemon(spec); need.Needed {
			t.Errorf("%s needs a daemon in the kernel tier: %v", filepath.Base(obj), need.Reasons)
		}
	}
}
