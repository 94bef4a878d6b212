package kernel

import (
	"fmt"
	"slices"
	"sort"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// Return codes that hand an operation to the FUSE daemon (§1.7).
const (
	retUser           = 1 // BPF_FUSE_USER
	retUserPrefilter  = 2 // BPF_FUSE_USER_PREFILTER
	retUserPostfilter = 4 // BPF_FUSE_USER_POSTFILTER
)

// DaemonNeed is the verdict of [NeedsDaemon].
type DaemonNeed struct {
	// Needed is true unless every callback provably never returns a
	// BPF_FUSE_USER* code.
	Needed bool
	// Reasons name each callback that needs the daemon and why, e.g.
	// "lookup_post: may return 4 (BPF_FUSE_USER_POSTFILTER) at instruction 12".
	Reasons []string
}

// NeedsDaemon decides, by a conservative static scan of the object's
// struct_ops programs, whether a kernel-tier mount needs a FUSE daemon
// (otherwise it is mounted with no_daemon).
//
// The rule: track, for every register along every path of a program from
// its entry (not into called functions), the set of 32-bit constants it can
// hold, where only "mov reg, imm", "mov reg, reg" of such a register and a
// 64-bit immediate load produce constants and anything else (arithmetic,
// loads, calls, more than 8 possible values) is unknown. A callback needs
// the daemon if at some exit r0 may be 1, 2 or 4 (BPF_FUSE_USER,
// USER_PREFILTER, USER_POSTFILTER) or is unknown, or if it makes a tail
// call. Negative errnos, CONTINUE (0), POSTFILTER (3) and CALL_DEFAULT (5)
// as constants are fine. So `return cond ? -ENOENT : BPF_FUSE_CONTINUE;`
// passes, while returning a value computed at run time or obtained from a
// function call needs the daemon even if it never is a USER code.
func NeedsDaemon(spec *ebpf.CollectionSpec) DaemonNeed {
	var need DaemonNeed
	names := make([]string, 0, len(spec.Programs))
	for name, p := range spec.Programs {
		if p.Type == ebpf.StructOps {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		if reason := scanReturns(spec.Programs[name].Instructions); reason != "" {
			need.Needed = true
			need.Reasons = append(need.Reasons, name+": "+reason)
		}
	}
	return need
}

// maxConsts bounds the constants tracked per register.
const maxConsts = 8

// vset is what a register may hold: a small set of 32-bit constants, or
// unknown.
type vset struct {
	unknown bool
	vals    []uint32 // sorted
}

var unknown = vset{unknown: true}

func constant(v uint32) vset { return vset{vals: []uint32{v}} }

func (a vset) join(b vset) vset {
	if a.unknown || b.unknown {
		return unknown
	}
	vals := slices.Clone(a.vals)
	for _, v := range b.vals {
		if i, found := slices.BinarySearch(vals, v); !found {
			vals = slices.Insert(vals, i, v)
		}
	}
	if len(vals) > maxConsts {
		return unknown
	}
	return vset{vals: vals}
}

func (a vset) equal(b vset) bool {
	return a.unknown == b.unknown && slices.Equal(a.vals, b.vals)
}

type regs [asm.R10 + 1]vset

func allUnknown() regs {
	var r regs
	for i := range r {
		r[i] = unknown
	}
	return r
}

// scanReturns returns why a program may hand work to the daemon, or "".
func scanReturns(insns asm.Instructions) string {
	if len(insns) == 0 {
		return "no instructions"
	}
	// Map raw (8-byte slot) offsets to instruction indices for jumps.
	index := map[asm.RawInstructionOffset]int{}
	offsets := make([]asm.RawInstructionOffset, len(insns))
	for it := insns.Iterate(); it.Next(); {
		index[it.Offset] = it.Index
		offsets[it.Index] = it.Offset
	}

	states := make([]*regs, len(insns))
	entry := allUnknown()
	states[0] = &entry
	work := []int{0}
	var findings []string

	propagate := func(to int, r regs) bool {
		if to < 0 || to >= len(insns) {
			return false
		}
		if states[to] == nil {
			cp := r
			states[to] = &cp
			work = append(work, to)
			return true
		}
		changed := false
		for i := range r {
			j := states[to][i].join(r[i])
			if !j.equal(states[to][i]) {
				states[to][i] = j
				changed = true
			}
		}
		if changed {
			work = append(work, to)
		}
		return true
	}

	for len(work) > 0 {
		i := work[len(work)-1]
		work = work[:len(work)-1]
		ins := insns[i]
		r := *states[i]
		op := ins.OpCode
		next := i + 1

		switch {
		case op.JumpOp() == asm.Exit:
			if msg := judgeReturn(r[asm.R0]); msg != "" {
				findings = append(findings, fmt.Sprintf("%s at instruction %d", msg, offsets[i]))
			}
			continue

		case op.JumpOp() == asm.Call:
			if ins.IsBuiltinCall() && asm.BuiltinFunc(ins.Constant) == asm.FnTailCall {
				findings = append(findings, fmt.Sprintf("tail call at instruction %d returns another program's code", offsets[i]))
			}
			for reg := asm.R0; reg <= asm.R5; reg++ {
				r[reg] = unknown
			}

		case op.Class().IsJump():
			target := int64(offsets[i]) + 1 + int64(ins.Offset)
			if op.JumpOp() == asm.Ja && op.Class() == asm.Jump32Class {
				target = int64(offsets[i]) + 1 + ins.Constant
			}
			to, ok := index[asm.RawInstructionOffset(target)]
			if !ok || !propagate(to, r) {
				findings = append(findings, fmt.Sprintf("jump out of the program at instruction %d", offsets[i]))
			}
			if op.JumpOp() == asm.Ja {
				continue // unconditional: no fall-through
			}

		case op.IsDWordLoad():
			if ins.Src == asm.R0 && ins.Reference() == "" {
				r[ins.Dst] = constant(uint32(ins.Constant))
			} else {
				r[ins.Dst] = unknown // map, function or kfunc address
			}

		case op.Class().IsALU():
			switch {
			case op.ALUOp() == asm.Mov && op.Source() == asm.ImmSource:
				r[ins.Dst] = constant(uint32(ins.Constant))
			case op.ALUOp() == asm.Mov && op.Source() == asm.RegSource:
				r[ins.Dst] = r[ins.Src]
			default:
				r[ins.Dst] = unknown
			}

		case op.Class().IsLoad():
			r[ins.Dst] = unknown

		case op.Class() == asm.StXClass && op.Mode() == asm.AtomicMode:
			// Fetching atomics write src; cmpxchg writes r0.
			r[ins.Src] = unknown
			r[asm.R0] = unknown
		}

		if !propagate(next, r) {
			findings = append(findings, fmt.Sprintf("falls off the end after instruction %d", offsets[i]))
		}
	}

	if len(findings) == 0 {
		return ""
	}
	sort.Strings(findings)
	return slices.Compact(findings)[0]
}

// judgeReturn says why a return value in r0 may need the daemon, or "".
func judgeReturn(v vset) string {
	if v.unknown {
		return "return value not a provable constant"
	}
	for _, c := range v.vals {
		switch c {
		case retUser:
			return "may return 1 (BPF_FUSE_USER)"
		case retUserPrefilter:
			return "may return 2 (BPF_FUSE_USER_PREFILTER)"
		case retUserPostfilter:
			return "may return 4 (BPF_FUSE_USER_POSTFILTER)"
		}
	}
	return ""
}
