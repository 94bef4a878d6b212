package kernel

import (
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
	}{
		{"errno", ret(asm.Mov.Imm32(asm.R0, -2), asm.Return()), false},
		{"continue", ret(asm.Mov.Imm(asm.R0, 0), asm.Return()), false},
		{"postfilter and call-default", ret(
			asm.Mov.Imm(asm.R0, 3),
			asm.JEq.Imm(asm.R1, 0, "out"),
			asm.Mov.Imm(asm.R0, 5),
			asm.Return().WithSymbol("out"),
		), false},
		{"user", ret(asm.Mov.Imm(asm.R0, 1), asm.Return()), true},
		{"user prefilter through a register", ret(
			asm.Mov.Imm(asm.R6, 2),
			asm.Mov.Reg(asm.R0, asm.R6),
			asm.Return(),
		), true},
		{"user postfilter on one branch", ret(
			asm.Mov.Imm(asm.R0, 0),
			asm.JEq.Imm(asm.R1, 0, "skip"),
			asm.Mov.Imm(asm.R0, 4),
			asm.Return().WithSymbol("skip"),
		), true},
		{"64-bit immediate", ret(asm.LoadImm(asm.R0, 4, asm.DWord), asm.Return()), true},
		{"arithmetic", ret(asm.Mov.Imm(asm.R0, 0), asm.Add.Imm(asm.R0, 1), asm.Return()), true},
		{"helper result", ret(asm.FnGetPrandomU32.Call(), asm.Return()), true},
		{"constant clobbered by a call", ret(asm.Mov.Imm(asm.R0, 0), asm.FnKtimeGetNs.Call(), asm.Return()), true},
		{"constant kept across a call in r6", ret(
			asm.Mov.Imm(asm.R6, -13),
			asm.FnKtimeGetNs.Call(),
			asm.Mov.Reg(asm.R0, asm.R6),
			asm.Return(),
		), false},
		{"loop", ret(
			asm.Mov.Imm(asm.R0, 0),
			asm.Mov.Imm(asm.R1, 0).WithSymbol("top"),
			asm.JNE.Imm(asm.R2, 0, "top"),
			asm.Return(),
		), false},
		{"tail call", ret(asm.Mov.Imm(asm.R0, 0), asm.FnTailCall.Call(), asm.Mov.Imm(asm.R0, 0), asm.Return()), true},
		{"memory load", ret(asm.LoadMem(asm.R0, asm.R1, 0, asm.Word), asm.Return()), true},
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
