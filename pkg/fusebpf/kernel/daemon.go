package kernel

import (
	"fmt"
	"math/bits"
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
// The rule: along every path of a program from its entry, track for each
// register the set of constants (at most 8) it can hold. Immediates and
// 64-bit constant loads produce constants; moves copy them; ALU operations
// on constants are evaluated; a call to a local function yields the union
// of what that function returns at its exits, analysed the same way (to
// the kernel's depth of 8, recursion unknown); anything else (memory
// loads, helper and kfunc results, map addresses) is unknown, except that
// an arithmetic right shift by width-1 gives 0 or all ones, a logical one
// 0 or 1, and an AND with a mask of at most three bits its submasks, which
// covers how clang compiles `cond ? -E : 0`. A callback needs the daemon
// if at some exit the low 32 bits of r0 may be 1, 2 or 4 (BPF_FUSE_USER,
// USER_PREFILTER, USER_POSTFILTER) or are unknown, or if it makes a tail
// call. Negative errnos, CONTINUE (0), POSTFILTER (3) and CALL_DEFAULT (5)
// are fine. A verdict read from a parameter or a map is unknown, so such a
// policy keeps its daemon even if it never hands work to it.
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

// vset is what a register may hold: a small set of 64-bit constants, or
// unknown.
type vset struct {
	unknown bool
	vals    []uint64 // sorted
}

var unknown = vset{unknown: true}

func constant(v uint64) vset { return vset{vals: []uint64{v}} }

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

// scanner analyses one program's instructions, summarising the return
// values of the local functions it calls.
type scanner struct {
	insns   asm.Instructions
	index   map[asm.RawInstructionOffset]int // raw offset -> instruction
	offsets []asm.RawInstructionOffset       // instruction -> raw offset
	symbols map[string]int                   // function symbol -> instruction
	// summaries of local functions by entry instruction; nil while one
	// is being computed (recursion: unknown).
	summaries map[int]*vset
}

// scanReturns returns why a program may hand work to the daemon, or "".
func scanReturns(insns asm.Instructions) string {
	if len(insns) == 0 {
		return "no instructions"
	}
	s := &scanner{
		insns:     insns,
		index:     map[asm.RawInstructionOffset]int{},
		offsets:   make([]asm.RawInstructionOffset, len(insns)),
		symbols:   map[string]int{},
		summaries: map[int]*vset{},
	}
	for it := insns.Iterate(); it.Next(); {
		s.index[it.Offset] = it.Index
		s.offsets[it.Index] = it.Offset
		if sym := it.Ins.Symbol(); sym != "" {
			s.symbols[sym] = it.Index
		}
	}
	ret, findings := s.function(0, 0)
	if len(findings) == 0 {
		if msg := judgeReturn(ret); msg != "" {
			findings = append(findings, msg)
		}
	}
	if len(findings) == 0 {
		return ""
	}
	sort.Strings(findings)
	return findings[0]
}

// maxCallDepth bounds nested local calls, as the kernel does (8 frames).
const maxCallDepth = 8

// function runs the analysis from the instruction at entry to every exit
// it reaches, not following calls into local functions (their summaries
// are used instead), and returns what r0 may hold at those exits. For the
// program itself (depth 0) each exit is judged and findings name the
// instruction.
func (s *scanner) function(entry, depth int) (vset, []string) {
	states := make([]*regs, len(s.insns))
	start := allUnknown()
	states[entry] = &start
	work := []int{entry}
	var findings []string
	var ret *vset

	propagate := func(to int, r regs) bool {
		if to < 0 || to >= len(s.insns) {
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
		ins := s.insns[i]
		r := *states[i]
		op := ins.OpCode
		at := s.offsets[i]

		switch {
		case op.JumpOp() == asm.Exit:
			if depth == 0 {
				if msg := judgeReturn(r[asm.R0]); msg != "" {
					findings = append(findings, fmt.Sprintf("%s at instruction %d", msg, at))
				}
			}
			if ret == nil {
				v := r[asm.R0]
				ret = &v
			} else {
				v := ret.join(r[asm.R0])
				ret = &v
			}
			continue

		case op.JumpOp() == asm.Call:
			result := unknown
			switch {
			case ins.IsBuiltinCall() && asm.BuiltinFunc(ins.Constant) == asm.FnTailCall:
				findings = append(findings, fmt.Sprintf("tail call at instruction %d returns another program's code", at))
			case ins.IsFunctionCall():
				result = s.summary(ins.Reference(), depth+1)
			}
			for reg := asm.R1; reg <= asm.R5; reg++ {
				r[reg] = unknown
			}
			r[asm.R0] = result

		case op.Class().IsJump():
			target := int64(at) + 1 + int64(ins.Offset)
			if op.JumpOp() == asm.Ja && op.Class() == asm.Jump32Class {
				target = int64(at) + 1 + ins.Constant
			}
			to, ok := s.index[asm.RawInstructionOffset(target)]
			if !ok || !propagate(to, r) {
				findings = append(findings, fmt.Sprintf("jump out of the program at instruction %d", at))
			}
			if op.JumpOp() == asm.Ja {
				continue // unconditional: no fall-through
			}

		case op.IsDWordLoad():
			if ins.Src == asm.R0 && ins.Reference() == "" {
				r[ins.Dst] = constant(uint64(ins.Constant))
			} else {
				r[ins.Dst] = unknown // map, function or kfunc address
			}

		case op.Class().IsALU():
			src := r[ins.Src]
			if op.Source() == asm.ImmSource {
				src = constant(uint64(ins.Constant)) // sign-extended imm32
			}
			r[ins.Dst] = alu(op, r[ins.Dst], src)

		case op.Class().IsLoad():
			r[ins.Dst] = unknown

		case op.Class() == asm.StXClass && op.Mode() == asm.AtomicMode:
			// Fetching atomics write src; cmpxchg writes r0.
			r[ins.Src] = unknown
			r[asm.R0] = unknown
		}

		if !propagate(i+1, r) {
			findings = append(findings, fmt.Sprintf("falls off the end after instruction %d", at))
		}
	}

	if ret == nil || len(findings) > 0 {
		return unknown, findings
	}
	return *ret, nil
}

// summary returns what the local function sym may return.
func (s *scanner) summary(sym string, depth int) vset {
	entry, ok := s.symbols[sym]
	if !ok || depth > maxCallDepth {
		return unknown
	}
	if v, done := s.summaries[entry]; done {
		if v == nil {
			return unknown // recursion
		}
		return *v
	}
	s.summaries[entry] = nil
	v, _ := s.function(entry, depth)
	s.summaries[entry] = &v
	return v
}

// alu computes what an ALU instruction leaves in dst. Both operands are
// sets of constants; 32-bit operations work on the low halves and
// zero-extend, as the ISA does. A few operations bound an unknown operand:
// an arithmetic right shift by width-1 yields 0 or all ones, a logical one
// 0 or 1, and an AND with a mask of at most three bits its submasks.
func alu(op asm.OpCode, dst, src vset) vset {
	aop := op.ALUOp()
	is32 := op.Class() == asm.ALUClass
	width := uint64(64)
	if is32 {
		width = 32
	}
	trunc := func(v uint64) uint64 {
		if is32 {
			return uint64(uint32(v))
		}
		return v
	}

	if aop == asm.Mov {
		if src.unknown {
			return unknown
		}
		out := vset{}
		for _, v := range src.vals {
			out = out.join(constant(trunc(v)))
		}
		return out
	}

	if dst.unknown && !src.unknown && len(src.vals) == 1 {
		k := trunc(src.vals[0])
		switch {
		case aop == asm.ArSh && k == width-1:
			return vset{vals: []uint64{0, trunc(^uint64(0))}}
		case aop == asm.RSh && k == width-1:
			return vset{vals: []uint64{0, 1}}
		case aop == asm.And && bits.OnesCount64(k) <= 3:
			out := vset{vals: []uint64{0}}
			for sub := k; sub != 0; sub = (sub - 1) & k {
				out = out.join(constant(sub))
			}
			return out
		}
	}
	if dst.unknown || src.unknown || len(dst.vals)*len(src.vals) > maxConsts*maxConsts {
		return unknown
	}

	out := vset{}
	for _, a := range dst.vals {
		for _, b := range src.vals {
			v, ok := aluConst(aop, is32, trunc(a), trunc(b))
			if !ok {
				return unknown
			}
			if out = out.join(constant(trunc(v))); out.unknown {
				return unknown
			}
		}
	}
	return out
}

// aluConst evaluates one ALU operation on constants (operands already
// truncated for 32-bit operations).
func aluConst(op asm.ALUOp, is32 bool, a, b uint64) (uint64, bool) {
	shift := b & 63
	if is32 {
		shift = b & 31
	}
	switch op {
	case asm.Add:
		return a + b, true
	case asm.Sub:
		return a - b, true
	case asm.Mul:
		return a * b, true
	case asm.Div:
		if b == 0 {
			return 0, true
		}
		return a / b, true
	case asm.Mod:
		if b == 0 {
			return a, true
		}
		return a % b, true
	case asm.Or:
		return a | b, true
	case asm.And:
		return a & b, true
	case asm.Xor:
		return a ^ b, true
	case asm.LSh:
		return a << shift, true
	case asm.RSh:
		return a >> shift, true
	case asm.ArSh:
		if is32 {
			return uint64(uint32(int32(a) >> shift)), true
		}
		return uint64(int64(a) >> shift), true
	case asm.Neg:
		return -a, true
	}
	return 0, false // signed division, sign extension, byte swaps
}

// judgeReturn says why a return value in r0 may need the daemon, or "".
// Callbacks return a 32-bit code, so only the low half counts.
func judgeReturn(v vset) string {
	if v.unknown {
		return "return value not a provable constant"
	}
	for _, c := range v.vals {
		switch uint32(c) {
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
