package bpfvm

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"sync/atomic"
)

const (
	// StackSize is the stack of one frame in bytes (the kernel's MAX_BPF_STACK).
	StackSize = 512
	// MaxCallDepth is the number of frames a run may have, the entry
	// function included (the kernel's MAX_CALL_FRAMES).
	MaxCallDepth = 8

	stackBytes = StackSize * MaxCallDepth
)

// frame is what a bpf-to-bpf call saves: the return slot and the
// callee-saved registers R6-R9 (R10 is recomputed from the depth).
type frame struct {
	ret            int
	r6, r7, r8, r9 uint64
}

// exec interprets the program from slot entry with R1-R5 = args, turning
// a panic (an interpreter or helper bug) into an ErrInternal error.
//
// run alternates between fastLoop, which executes everything that needs no
// call, and its own switch for the rest (helpers, bpf-to-bpf calls, exit,
// atomics, shared or faulting memory). The executed-slot count is checked
// against the budget only when control moves (taken jumps, calls, exit):
// every loop passes through one of those, so a run that ends has executed
// at most budget slots, and one that does not is stopped within one
// straight-line stretch past the budget.
func (r *Run) exec(entry int, args *[5]uint64) (ret uint64, err error) {
	// A separate frame keeps this defer open-coded (cheap): run has too
	// many returns for that.
	defer func() {
		if p := recover(); p != nil {
			ret, err = 0, fmt.Errorf("%w: %v", ErrInternal, p)
		}
	}()
	return r.run(entry, args)
}

func (r *Run) run(entry int, args *[5]uint64) (uint64, error) {
	code := r.prog.code
	funcs := r.prog.funcs
	stack := &r.stack
	reg := &r.reg
	reg[0], reg[6], reg[7], reg[8], reg[9] = 0, 0, 0, 0, 0
	reg[1], reg[2], reg[3], reg[4], reg[5] = args[0], args[1], args[2], args[3], args[4]
	reg[10] = stackBase + stackBytes
	clear(stack[stackBytes-StackSize:])

	var n uint64
	depth := 0
	pc := entry
	for {
		// Straight-line code executes one slot per pc step, so the count is
		// base+pc; fastLoop adjusts base only on taken jumps.
		next, base := fastLoop(&r.hot, code, pc, n-uint64(pc))
		if next < 0 { // a taken jump to -1-next exhausted the budget
			return r.budgetErr(-1-next, base+uint64(-1-next))
		}
		// The instruction at next-1 is for this loop, and already counted.
		pc, n = next, base+uint64(next)
		if n > r.budget { // checked before every call, exit and slow access
			return r.budgetErr(pc-1, n)
		}
		ins := &code[pc-1]
		switch ins.op {
		case opCall:
			f := &funcs[ins.imm]
			r.pc = pc - 1
			v, ferr := f.fn(r, reg[1], reg[2], reg[3], reg[4], reg[5])
			if ferr != nil {
				r.executed = n
				return 0, r.helperErr(pc-1, f.name, ferr)
			}
			reg[0] = v
		case opCallLocal:
			if depth >= MaxCallDepth-1 {
				r.executed = n
				return 0, &RunError{PC: pc - 1, Err: ErrCallDepth}
			}
			fr := &r.frames[depth]
			fr.ret = pc
			fr.r6, fr.r7, fr.r8, fr.r9 = reg[6], reg[7], reg[8], reg[9]
			depth++
			reg[10] -= StackSize
			top := stackBytes - depth*StackSize
			clear(stack[top-StackSize : top])
			pc = int(ins.off)
		case opExit:
			if depth == 0 {
				r.executed = n
				return reg[0], nil
			}
			depth--
			fr := &r.frames[depth]
			pc = fr.ret
			reg[6], reg[7], reg[8], reg[9] = fr.r6, fr.r7, fr.r8, fr.r9
			reg[10] += StackSize
		// ---- loads ----
		case opLdxDW:
			a := reg[ins.src] + uint64(int64(ins.off))
			if o := a - stackBase; o <= stackBytes-8 {
				reg[ins.dst] = binary.LittleEndian.Uint64(stack[o:])
			} else if v, ok := r.load(a, 8); ok {
				reg[ins.dst] = v
			} else {
				return 0, r.faultErr(pc-1, n)
			}
		case opLdxW:
			a := reg[ins.src] + uint64(int64(ins.off))
			if o := a - stackBase; o <= stackBytes-4 {
				reg[ins.dst] = uint64(binary.LittleEndian.Uint32(stack[o:]))
			} else if v, ok := r.load(a, 4); ok {
				reg[ins.dst] = v
			} else {
				return 0, r.faultErr(pc-1, n)
			}
		case opLdxH:
			a := reg[ins.src] + uint64(int64(ins.off))
			if o := a - stackBase; o <= stackBytes-2 {
				reg[ins.dst] = uint64(binary.LittleEndian.Uint16(stack[o:]))
			} else if v, ok := r.load(a, 2); ok {
				reg[ins.dst] = v
			} else {
				return 0, r.faultErr(pc-1, n)
			}
		case opLdxB:
			a := reg[ins.src] + uint64(int64(ins.off))
			if o := a - stackBase; o < stackBytes {
				reg[ins.dst] = uint64(stack[o])
			} else if v, ok := r.load(a, 1); ok {
				reg[ins.dst] = v
			} else {
				return 0, r.faultErr(pc-1, n)
			}
		case opLdxSW:
			a := reg[ins.src] + uint64(int64(ins.off))
			if v, ok := r.load(a, 4); ok {
				reg[ins.dst] = uint64(int64(int32(v)))
			} else {
				return 0, r.faultErr(pc-1, n)
			}
		case opLdxSH:
			a := reg[ins.src] + uint64(int64(ins.off))
			if v, ok := r.load(a, 2); ok {
				reg[ins.dst] = uint64(int64(int16(v)))
			} else {
				return 0, r.faultErr(pc-1, n)
			}
		case opLdxSB:
			a := reg[ins.src] + uint64(int64(ins.off))
			if v, ok := r.load(a, 1); ok {
				reg[ins.dst] = uint64(int64(int8(v)))
			} else {
				return 0, r.faultErr(pc-1, n)
			}

		// ---- stores ----
		case opStxDW:
			a := reg[ins.dst] + uint64(int64(ins.off))
			if o := a - stackBase; o <= stackBytes-8 {
				binary.LittleEndian.PutUint64(stack[o:], reg[ins.src])
			} else if !r.store(a, 8, reg[ins.src]) {
				return 0, r.faultErr(pc-1, n)
			}
		case opStxW:
			a := reg[ins.dst] + uint64(int64(ins.off))
			if o := a - stackBase; o <= stackBytes-4 {
				binary.LittleEndian.PutUint32(stack[o:], uint32(reg[ins.src]))
			} else if !r.store(a, 4, reg[ins.src]) {
				return 0, r.faultErr(pc-1, n)
			}
		case opStxH:
			a := reg[ins.dst] + uint64(int64(ins.off))
			if !r.store(a, 2, reg[ins.src]) {
				return 0, r.faultErr(pc-1, n)
			}
		case opStxB:
			a := reg[ins.dst] + uint64(int64(ins.off))
			if o := a - stackBase; o < stackBytes {
				stack[o] = byte(reg[ins.src])
			} else if !r.store(a, 1, reg[ins.src]) {
				return 0, r.faultErr(pc-1, n)
			}
		case opStDW:
			a := reg[ins.dst] + uint64(int64(ins.off))
			if o := a - stackBase; o <= stackBytes-8 {
				binary.LittleEndian.PutUint64(stack[o:], uint64(ins.imm))
			} else if !r.store(a, 8, uint64(ins.imm)) {
				return 0, r.faultErr(pc-1, n)
			}
		case opStW:
			a := reg[ins.dst] + uint64(int64(ins.off))
			if !r.store(a, 4, uint64(ins.imm)) {
				return 0, r.faultErr(pc-1, n)
			}
		case opStH:
			a := reg[ins.dst] + uint64(int64(ins.off))
			if !r.store(a, 2, uint64(ins.imm)) {
				return 0, r.faultErr(pc-1, n)
			}
		case opStB:
			a := reg[ins.dst] + uint64(int64(ins.off))
			if !r.store(a, 1, uint64(ins.imm)) {
				return 0, r.faultErr(pc-1, n)
			}

		case opAtomic32, opAtomic64:
			size := uint64(4)
			if ins.op == opAtomic64 {
				size = 8
			}
			a := reg[ins.dst] + uint64(int64(ins.off))
			var old uint64
			var ok bool
			if ins.imm == atomicCMPXCHG {
				old, ok = r.atomic(a, size, uint32(ins.imm), reg[ins.src], reg[0])
			} else {
				old, ok = r.atomic(a, size, uint32(ins.imm), reg[ins.src], 0)
			}
			if !ok {
				return 0, r.faultErr(pc-1, n)
			}
			switch {
			case ins.imm == atomicCMPXCHG:
				reg[0] = old
			case ins.imm&atomicFetch != 0:
				reg[ins.src] = old
			}

		default:
			// ALU and jumps are the fast loop's; it only stops at them
			// when the budget runs out, which was checked above.
			if isFastOp(ins.op) {
				pc--
				n--
				continue
			}
			// opInvalid: unreachable, decode never lets control reach it.
			r.executed = n
			return 0, &RunError{PC: pc - 1, Err: fmt.Errorf("%w: opcode %d at run time", ErrInternal, ins.op)}
		}
	}
}

// fastLoop executes instructions that need no call out of the loop: ALU,
// jumps, lddw, and loads and stores that hit the stack or another private,
// unstrided region (embedder buffers, .rodata). The executed slot count is
// base+pc throughout. It returns at the first other instruction, with pc
// just past it, or after a taken jump that exhausted the budget, with
// pc = -1-target.
//
// Keeping calls out of this function lets the compiler keep pc and n in
// registers; for the same reason it spells out little-endian accesses byte
// by byte (the compiler merges them into single loads and stores) rather
// than calling encoding/binary, which it does not inline into a function
// this large, and it never needs the pc from before the increment.
func fastLoop(h *hot, code []insn, pc int, base uint64) (int, uint64) {
	reg, stack := &h.reg, &h.stack
loop:
	for {
		ins := &code[pc]
		pc++
		switch ins.op {
		// ---- ALU64 ----
		case opAdd64K:
			reg[ins.dst] += uint64(ins.imm)
		case opAdd64X:
			reg[ins.dst] += reg[ins.src]
		case opSub64K:
			reg[ins.dst] -= uint64(ins.imm)
		case opSub64X:
			reg[ins.dst] -= reg[ins.src]
		case opMul64K:
			reg[ins.dst] *= uint64(ins.imm)
		case opMul64X:
			reg[ins.dst] *= reg[ins.src]
		case opDiv64K:
			if ins.imm == 0 {
				reg[ins.dst] = 0
			} else {
				reg[ins.dst] /= uint64(ins.imm)
			}
		case opDiv64X:
			if v := reg[ins.src]; v == 0 {
				reg[ins.dst] = 0
			} else {
				reg[ins.dst] /= v
			}
		case opSDiv64K:
			if ins.imm == 0 {
				reg[ins.dst] = 0
			} else {
				reg[ins.dst] = uint64(int64(reg[ins.dst]) / ins.imm)
			}
		case opSDiv64X:
			if v := int64(reg[ins.src]); v == 0 {
				reg[ins.dst] = 0
			} else {
				reg[ins.dst] = uint64(int64(reg[ins.dst]) / v)
			}
		case opMod64K:
			if ins.imm != 0 {
				reg[ins.dst] %= uint64(ins.imm)
			}
		case opMod64X:
			if v := reg[ins.src]; v != 0 {
				reg[ins.dst] %= v
			}
		case opSMod64K:
			if ins.imm != 0 {
				reg[ins.dst] = uint64(int64(reg[ins.dst]) % ins.imm)
			}
		case opSMod64X:
			if v := int64(reg[ins.src]); v != 0 {
				reg[ins.dst] = uint64(int64(reg[ins.dst]) % v)
			}
		case opOr64K:
			reg[ins.dst] |= uint64(ins.imm)
		case opOr64X:
			reg[ins.dst] |= reg[ins.src]
		case opAnd64K:
			reg[ins.dst] &= uint64(ins.imm)
		case opAnd64X:
			reg[ins.dst] &= reg[ins.src]
		case opLsh64K:
			reg[ins.dst] <<= uint64(ins.imm) & 63
		case opLsh64X:
			reg[ins.dst] <<= reg[ins.src] & 63
		case opRsh64K:
			reg[ins.dst] >>= uint64(ins.imm) & 63
		case opRsh64X:
			reg[ins.dst] >>= reg[ins.src] & 63
		case opArsh64K:
			reg[ins.dst] = uint64(int64(reg[ins.dst]) >> (uint64(ins.imm) & 63))
		case opArsh64X:
			reg[ins.dst] = uint64(int64(reg[ins.dst]) >> (reg[ins.src] & 63))
		case opXor64K:
			reg[ins.dst] ^= uint64(ins.imm)
		case opXor64X:
			reg[ins.dst] ^= reg[ins.src]
		case opMov64K:
			reg[ins.dst] = uint64(ins.imm)
		case opMov64X:
			reg[ins.dst] = reg[ins.src]
		case opMovSX8To64:
			reg[ins.dst] = uint64(int64(int8(reg[ins.src])))
		case opMovSX16To64:
			reg[ins.dst] = uint64(int64(int16(reg[ins.src])))
		case opMovSX32To64:
			reg[ins.dst] = uint64(int64(int32(reg[ins.src])))
		case opNeg64:
			reg[ins.dst] = -reg[ins.dst]
		case opBswap16:
			reg[ins.dst] = uint64(bits.ReverseBytes16(uint16(reg[ins.dst])))
		case opBswap32:
			reg[ins.dst] = uint64(bits.ReverseBytes32(uint32(reg[ins.dst])))
		case opBswap64:
			reg[ins.dst] = bits.ReverseBytes64(reg[ins.dst])

		// ---- ALU (32-bit, results zero-extended) ----
		case opAdd32K:
			reg[ins.dst] = uint64(uint32(reg[ins.dst]) + uint32(ins.imm))
		case opAdd32X:
			reg[ins.dst] = uint64(uint32(reg[ins.dst]) + uint32(reg[ins.src]))
		case opSub32K:
			reg[ins.dst] = uint64(uint32(reg[ins.dst]) - uint32(ins.imm))
		case opSub32X:
			reg[ins.dst] = uint64(uint32(reg[ins.dst]) - uint32(reg[ins.src]))
		case opMul32K:
			reg[ins.dst] = uint64(uint32(reg[ins.dst]) * uint32(ins.imm))
		case opMul32X:
			reg[ins.dst] = uint64(uint32(reg[ins.dst]) * uint32(reg[ins.src]))
		case opDiv32K:
			if v := uint32(ins.imm); v == 0 {
				reg[ins.dst] = 0
			} else {
				reg[ins.dst] = uint64(uint32(reg[ins.dst]) / v)
			}
		case opDiv32X:
			if v := uint32(reg[ins.src]); v == 0 {
				reg[ins.dst] = 0
			} else {
				reg[ins.dst] = uint64(uint32(reg[ins.dst]) / v)
			}
		case opSDiv32K:
			if v := int32(ins.imm); v == 0 {
				reg[ins.dst] = 0
			} else {
				reg[ins.dst] = uint64(uint32(int32(reg[ins.dst]) / v))
			}
		case opSDiv32X:
			if v := int32(reg[ins.src]); v == 0 {
				reg[ins.dst] = 0
			} else {
				reg[ins.dst] = uint64(uint32(int32(reg[ins.dst]) / v))
			}
		case opMod32K:
			if v := uint32(ins.imm); v == 0 {
				reg[ins.dst] = uint64(uint32(reg[ins.dst]))
			} else {
				reg[ins.dst] = uint64(uint32(reg[ins.dst]) % v)
			}
		case opMod32X:
			if v := uint32(reg[ins.src]); v == 0 {
				reg[ins.dst] = uint64(uint32(reg[ins.dst]))
			} else {
				reg[ins.dst] = uint64(uint32(reg[ins.dst]) % v)
			}
		case opSMod32K:
			if v := int32(ins.imm); v == 0 {
				reg[ins.dst] = uint64(uint32(reg[ins.dst]))
			} else {
				reg[ins.dst] = uint64(uint32(int32(reg[ins.dst]) % v))
			}
		case opSMod32X:
			if v := int32(reg[ins.src]); v == 0 {
				reg[ins.dst] = uint64(uint32(reg[ins.dst]))
			} else {
				reg[ins.dst] = uint64(uint32(int32(reg[ins.dst]) % v))
			}
		case opOr32K:
			reg[ins.dst] = uint64(uint32(reg[ins.dst]) | uint32(ins.imm))
		case opOr32X:
			reg[ins.dst] = uint64(uint32(reg[ins.dst]) | uint32(reg[ins.src]))
		case opAnd32K:
			reg[ins.dst] = uint64(uint32(reg[ins.dst]) & uint32(ins.imm))
		case opAnd32X:
			reg[ins.dst] = uint64(uint32(reg[ins.dst]) & uint32(reg[ins.src]))
		case opLsh32K:
			reg[ins.dst] = uint64(uint32(reg[ins.dst]) << (uint32(ins.imm) & 31))
		case opLsh32X:
			reg[ins.dst] = uint64(uint32(reg[ins.dst]) << (uint32(reg[ins.src]) & 31))
		case opRsh32K:
			reg[ins.dst] = uint64(uint32(reg[ins.dst]) >> (uint32(ins.imm) & 31))
		case opRsh32X:
			reg[ins.dst] = uint64(uint32(reg[ins.dst]) >> (uint32(reg[ins.src]) & 31))
		case opArsh32K:
			reg[ins.dst] = uint64(uint32(int32(reg[ins.dst]) >> (uint32(ins.imm) & 31)))
		case opArsh32X:
			reg[ins.dst] = uint64(uint32(int32(reg[ins.dst]) >> (uint32(reg[ins.src]) & 31)))
		case opXor32K:
			reg[ins.dst] = uint64(uint32(reg[ins.dst]) ^ uint32(ins.imm))
		case opXor32X:
			reg[ins.dst] = uint64(uint32(reg[ins.dst]) ^ uint32(reg[ins.src]))
		case opMov32K:
			reg[ins.dst] = uint64(uint32(ins.imm))
		case opMov32X:
			reg[ins.dst] = uint64(uint32(reg[ins.src]))
		case opMovSX8To32:
			reg[ins.dst] = uint64(uint32(int32(int8(reg[ins.src]))))
		case opMovSX16To32:
			reg[ins.dst] = uint64(uint32(int32(int16(reg[ins.src]))))
		case opNeg32:
			reg[ins.dst] = uint64(-uint32(reg[ins.dst]))
		case opLe16:
			reg[ins.dst] = uint64(uint16(reg[ins.dst]))
		case opLe32:
			reg[ins.dst] = uint64(uint32(reg[ins.dst]))
		case opLe64:
		case opBe16:
			reg[ins.dst] = uint64(bits.ReverseBytes16(uint16(reg[ins.dst])))
		case opBe32:
			reg[ins.dst] = uint64(bits.ReverseBytes32(uint32(reg[ins.dst])))
		case opBe64:
			reg[ins.dst] = bits.ReverseBytes64(reg[ins.dst])

		// ---- jumps ----
		case opJa:
			base += uint64(pc) - uint64(ins.off)
			pc = int(ins.off)
			if base+uint64(pc) > h.budget {
				return -1 - pc, base
			}
		case opJeqK:
			if reg[ins.dst] == uint64(ins.imm) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJeqX:
			if reg[ins.dst] == reg[ins.src] {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJgtK:
			if reg[ins.dst] > uint64(ins.imm) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJgtX:
			if reg[ins.dst] > reg[ins.src] {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJgeK:
			if reg[ins.dst] >= uint64(ins.imm) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJgeX:
			if reg[ins.dst] >= reg[ins.src] {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJsetK:
			if reg[ins.dst]&uint64(ins.imm) != 0 {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJsetX:
			if reg[ins.dst]&reg[ins.src] != 0 {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJneK:
			if reg[ins.dst] != uint64(ins.imm) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJneX:
			if reg[ins.dst] != reg[ins.src] {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJsgtK:
			if int64(reg[ins.dst]) > ins.imm {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJsgtX:
			if int64(reg[ins.dst]) > int64(reg[ins.src]) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJsgeK:
			if int64(reg[ins.dst]) >= ins.imm {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJsgeX:
			if int64(reg[ins.dst]) >= int64(reg[ins.src]) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJltK:
			if reg[ins.dst] < uint64(ins.imm) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJltX:
			if reg[ins.dst] < reg[ins.src] {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJleK:
			if reg[ins.dst] <= uint64(ins.imm) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJleX:
			if reg[ins.dst] <= reg[ins.src] {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJsltK:
			if int64(reg[ins.dst]) < ins.imm {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJsltX:
			if int64(reg[ins.dst]) < int64(reg[ins.src]) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJsleK:
			if int64(reg[ins.dst]) <= ins.imm {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJsleX:
			if int64(reg[ins.dst]) <= int64(reg[ins.src]) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}

		case opJeq32K:
			if uint32(reg[ins.dst]) == uint32(ins.imm) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJeq32X:
			if uint32(reg[ins.dst]) == uint32(reg[ins.src]) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJgt32K:
			if uint32(reg[ins.dst]) > uint32(ins.imm) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJgt32X:
			if uint32(reg[ins.dst]) > uint32(reg[ins.src]) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJge32K:
			if uint32(reg[ins.dst]) >= uint32(ins.imm) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJge32X:
			if uint32(reg[ins.dst]) >= uint32(reg[ins.src]) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJset32K:
			if uint32(reg[ins.dst])&uint32(ins.imm) != 0 {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJset32X:
			if uint32(reg[ins.dst])&uint32(reg[ins.src]) != 0 {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJne32K:
			if uint32(reg[ins.dst]) != uint32(ins.imm) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJne32X:
			if uint32(reg[ins.dst]) != uint32(reg[ins.src]) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJsgt32K:
			if int32(reg[ins.dst]) > int32(ins.imm) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJsgt32X:
			if int32(reg[ins.dst]) > int32(reg[ins.src]) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJsge32K:
			if int32(reg[ins.dst]) >= int32(ins.imm) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJsge32X:
			if int32(reg[ins.dst]) >= int32(reg[ins.src]) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJlt32K:
			if uint32(reg[ins.dst]) < uint32(ins.imm) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJlt32X:
			if uint32(reg[ins.dst]) < uint32(reg[ins.src]) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJle32K:
			if uint32(reg[ins.dst]) <= uint32(ins.imm) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJle32X:
			if uint32(reg[ins.dst]) <= uint32(reg[ins.src]) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJslt32K:
			if int32(reg[ins.dst]) < int32(ins.imm) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJslt32X:
			if int32(reg[ins.dst]) < int32(reg[ins.src]) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJsle32K:
			if int32(reg[ins.dst]) <= int32(ins.imm) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opJsle32X:
			if int32(reg[ins.dst]) <= int32(reg[ins.src]) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}

		// ---- superinstructions (two slots) ----
		case opAdd64KF:
			reg[ins.dst] = reg[ins.src] + uint64(ins.imm)
			pc++
		case opSub64KF:
			reg[ins.dst] = reg[ins.src] - uint64(ins.imm)
			pc++
		case opOr64KF:
			reg[ins.dst] = reg[ins.src] | uint64(ins.imm)
			pc++
		case opAnd64KF:
			reg[ins.dst] = reg[ins.src] & uint64(ins.imm)
			pc++
		case opLsh64KF:
			reg[ins.dst] = reg[ins.src] << (uint64(ins.imm) & 63)
			pc++
		case opRsh64KF:
			reg[ins.dst] = reg[ins.src] >> (uint64(ins.imm) & 63)
			pc++
		case opArsh64KF:
			reg[ins.dst] = uint64(int64(reg[ins.src]) >> (uint64(ins.imm) & 63))
			pc++
		case opXor64KF:
			reg[ins.dst] = reg[ins.src] ^ uint64(ins.imm)
			pc++
		case opMul64KF:
			reg[ins.dst] = reg[ins.src] * uint64(ins.imm)
			pc++
		case opAdd64XF:
			reg[ins.dst] = reg[ins.src] + reg[uint8(ins.off)]
			pc++
		case opSub64XF:
			reg[ins.dst] = reg[ins.src] - reg[uint8(ins.off)]
			pc++
		case opOr64XF:
			reg[ins.dst] = reg[ins.src] | reg[uint8(ins.off)]
			pc++
		case opAnd64XF:
			reg[ins.dst] = reg[ins.src] & reg[uint8(ins.off)]
			pc++
		case opLsh64XF:
			reg[ins.dst] = reg[ins.src] << (reg[uint8(ins.off)] & 63)
			pc++
		case opRsh64XF:
			reg[ins.dst] = reg[ins.src] >> (reg[uint8(ins.off)] & 63)
			pc++
		case opArsh64XF:
			reg[ins.dst] = uint64(int64(reg[ins.src]) >> (reg[uint8(ins.off)] & 63))
			pc++
		case opXor64XF:
			reg[ins.dst] = reg[ins.src] ^ reg[uint8(ins.off)]
			pc++
		case opMul64XF:
			reg[ins.dst] = reg[ins.src] * reg[uint8(ins.off)]
			pc++
		case opAdd32KF:
			reg[ins.dst] = uint64(uint32(reg[ins.src]) + uint32(ins.imm))
			pc++
		case opSub32KF:
			reg[ins.dst] = uint64(uint32(reg[ins.src]) - uint32(ins.imm))
			pc++
		case opOr32KF:
			reg[ins.dst] = uint64(uint32(reg[ins.src]) | uint32(ins.imm))
			pc++
		case opAnd32KF:
			reg[ins.dst] = uint64(uint32(reg[ins.src]) & uint32(ins.imm))
			pc++
		case opLsh32KF:
			reg[ins.dst] = uint64(uint32(reg[ins.src]) << (uint32(ins.imm) & 31))
			pc++
		case opRsh32KF:
			reg[ins.dst] = uint64(uint32(reg[ins.src]) >> (uint32(ins.imm) & 31))
			pc++
		case opArsh32KF:
			reg[ins.dst] = uint64(uint32(int32(reg[ins.src]) >> (uint32(ins.imm) & 31)))
			pc++
		case opXor32KF:
			reg[ins.dst] = uint64(uint32(reg[ins.src]) ^ uint32(ins.imm))
			pc++
		case opMul32KF:
			reg[ins.dst] = uint64(uint32(reg[ins.src]) * uint32(ins.imm))
			pc++
		case opAdd32XF:
			reg[ins.dst] = uint64(uint32(reg[ins.src]) + uint32(reg[uint8(ins.off)]))
			pc++
		case opSub32XF:
			reg[ins.dst] = uint64(uint32(reg[ins.src]) - uint32(reg[uint8(ins.off)]))
			pc++
		case opOr32XF:
			reg[ins.dst] = uint64(uint32(reg[ins.src]) | uint32(reg[uint8(ins.off)]))
			pc++
		case opAnd32XF:
			reg[ins.dst] = uint64(uint32(reg[ins.src]) & uint32(reg[uint8(ins.off)]))
			pc++
		case opLsh32XF:
			reg[ins.dst] = uint64(uint32(reg[ins.src]) << (uint32(reg[uint8(ins.off)]) & 31))
			pc++
		case opRsh32XF:
			reg[ins.dst] = uint64(uint32(reg[ins.src]) >> (uint32(reg[uint8(ins.off)]) & 31))
			pc++
		case opArsh32XF:
			reg[ins.dst] = uint64(uint32(int32(reg[ins.src]) >> (uint32(reg[uint8(ins.off)]) & 31)))
			pc++
		case opXor32XF:
			reg[ins.dst] = uint64(uint32(reg[ins.src]) ^ uint32(reg[uint8(ins.off)]))
			pc++
		case opMul32XF:
			reg[ins.dst] = uint64(uint32(reg[ins.src]) * uint32(reg[uint8(ins.off)]))
			pc++
		case opLshRshF:
			reg[ins.dst] = reg[ins.dst] << uint64(ins.imm) >> uint64(ins.off)
			pc++
		case opLshArshF:
			reg[ins.dst] = uint64(int64(reg[ins.dst]<<uint64(ins.imm)) >> uint64(ins.off))
			pc++
		case opAddJeqKF:
			v := reg[ins.dst] + uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if v == uint64(int64(int32(ins.imm))) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAddJeqXF:
			v := reg[ins.dst] + uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if v == reg[ins.src] {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAddJgtKF:
			v := reg[ins.dst] + uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if v > uint64(int64(int32(ins.imm))) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAddJgtXF:
			v := reg[ins.dst] + uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if v > reg[ins.src] {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAddJgeKF:
			v := reg[ins.dst] + uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if v >= uint64(int64(int32(ins.imm))) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAddJgeXF:
			v := reg[ins.dst] + uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if v >= reg[ins.src] {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAddJsetKF:
			v := reg[ins.dst] + uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if v&uint64(int64(int32(ins.imm))) != 0 {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAddJsetXF:
			v := reg[ins.dst] + uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if v&reg[ins.src] != 0 {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAddJneKF:
			v := reg[ins.dst] + uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if v != uint64(int64(int32(ins.imm))) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAddJneXF:
			v := reg[ins.dst] + uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if v != reg[ins.src] {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAddJsgtKF:
			v := reg[ins.dst] + uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if int64(v) > int64(uint64(int64(int32(ins.imm)))) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAddJsgtXF:
			v := reg[ins.dst] + uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if int64(v) > int64(reg[ins.src]) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAddJsgeKF:
			v := reg[ins.dst] + uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if int64(v) >= int64(uint64(int64(int32(ins.imm)))) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAddJsgeXF:
			v := reg[ins.dst] + uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if int64(v) >= int64(reg[ins.src]) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAddJltKF:
			v := reg[ins.dst] + uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if v < uint64(int64(int32(ins.imm))) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAddJltXF:
			v := reg[ins.dst] + uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if v < reg[ins.src] {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAddJleKF:
			v := reg[ins.dst] + uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if v <= uint64(int64(int32(ins.imm))) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAddJleXF:
			v := reg[ins.dst] + uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if v <= reg[ins.src] {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAddJsltKF:
			v := reg[ins.dst] + uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if int64(v) < int64(uint64(int64(int32(ins.imm)))) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAddJsltXF:
			v := reg[ins.dst] + uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if int64(v) < int64(reg[ins.src]) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAddJsleKF:
			v := reg[ins.dst] + uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if int64(v) <= int64(uint64(int64(int32(ins.imm)))) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAddJsleXF:
			v := reg[ins.dst] + uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if int64(v) <= int64(reg[ins.src]) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAndJeqKF:
			v := reg[ins.dst] & uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if v == uint64(int64(int32(ins.imm))) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAndJeqXF:
			v := reg[ins.dst] & uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if v == reg[ins.src] {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAndJgtKF:
			v := reg[ins.dst] & uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if v > uint64(int64(int32(ins.imm))) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAndJgtXF:
			v := reg[ins.dst] & uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if v > reg[ins.src] {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAndJgeKF:
			v := reg[ins.dst] & uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if v >= uint64(int64(int32(ins.imm))) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAndJgeXF:
			v := reg[ins.dst] & uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if v >= reg[ins.src] {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAndJsetKF:
			v := reg[ins.dst] & uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if v&uint64(int64(int32(ins.imm))) != 0 {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAndJsetXF:
			v := reg[ins.dst] & uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if v&reg[ins.src] != 0 {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAndJneKF:
			v := reg[ins.dst] & uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if v != uint64(int64(int32(ins.imm))) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAndJneXF:
			v := reg[ins.dst] & uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if v != reg[ins.src] {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAndJsgtKF:
			v := reg[ins.dst] & uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if int64(v) > int64(uint64(int64(int32(ins.imm)))) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAndJsgtXF:
			v := reg[ins.dst] & uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if int64(v) > int64(reg[ins.src]) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAndJsgeKF:
			v := reg[ins.dst] & uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if int64(v) >= int64(uint64(int64(int32(ins.imm)))) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAndJsgeXF:
			v := reg[ins.dst] & uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if int64(v) >= int64(reg[ins.src]) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAndJltKF:
			v := reg[ins.dst] & uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if v < uint64(int64(int32(ins.imm))) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAndJltXF:
			v := reg[ins.dst] & uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if v < reg[ins.src] {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAndJleKF:
			v := reg[ins.dst] & uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if v <= uint64(int64(int32(ins.imm))) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAndJleXF:
			v := reg[ins.dst] & uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if v <= reg[ins.src] {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAndJsltKF:
			v := reg[ins.dst] & uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if int64(v) < int64(uint64(int64(int32(ins.imm)))) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAndJsltXF:
			v := reg[ins.dst] & uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if int64(v) < int64(reg[ins.src]) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAndJsleKF:
			v := reg[ins.dst] & uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if int64(v) <= int64(uint64(int64(int32(ins.imm)))) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opAndJsleXF:
			v := reg[ins.dst] & uint64(ins.imm>>32)
			reg[ins.dst] = v
			pc++
			if int64(v) <= int64(reg[ins.src]) {
				base += uint64(pc) - uint64(ins.off)
				pc = int(ins.off)
				if base+uint64(pc) > h.budget {
					return -1 - pc, base
				}
			}
		case opLshAdd3F:
			reg[ins.dst] = (reg[ins.src] << (uint64(ins.imm) & 63)) + reg[uint8(ins.off)]
			pc += 2
		case opLshOr3F:
			reg[ins.dst] = (reg[ins.src] << (uint64(ins.imm) & 63)) | reg[uint8(ins.off)]
			pc += 2
		case opLshXor3F:
			reg[ins.dst] = (reg[ins.src] << (uint64(ins.imm) & 63)) ^ reg[uint8(ins.off)]
			pc += 2
		case opLshAnd3F:
			reg[ins.dst] = (reg[ins.src] << (uint64(ins.imm) & 63)) & reg[uint8(ins.off)]
			pc += 2
		case opLshSub3F:
			reg[ins.dst] = (reg[ins.src] << (uint64(ins.imm) & 63)) - reg[uint8(ins.off)]
			pc += 2
		case opRshAdd3F:
			reg[ins.dst] = (reg[ins.src] >> (uint64(ins.imm) & 63)) + reg[uint8(ins.off)]
			pc += 2
		case opRshOr3F:
			reg[ins.dst] = (reg[ins.src] >> (uint64(ins.imm) & 63)) | reg[uint8(ins.off)]
			pc += 2
		case opRshXor3F:
			reg[ins.dst] = (reg[ins.src] >> (uint64(ins.imm) & 63)) ^ reg[uint8(ins.off)]
			pc += 2
		case opRshAnd3F:
			reg[ins.dst] = (reg[ins.src] >> (uint64(ins.imm) & 63)) & reg[uint8(ins.off)]
			pc += 2
		case opRshSub3F:
			reg[ins.dst] = (reg[ins.src] >> (uint64(ins.imm) & 63)) - reg[uint8(ins.off)]
			pc += 2
		case opArshAdd3F:
			reg[ins.dst] = (uint64(int64(reg[ins.src]) >> (uint64(ins.imm) & 63))) + reg[uint8(ins.off)]
			pc += 2
		case opArshOr3F:
			reg[ins.dst] = (uint64(int64(reg[ins.src]) >> (uint64(ins.imm) & 63))) | reg[uint8(ins.off)]
			pc += 2
		case opArshXor3F:
			reg[ins.dst] = (uint64(int64(reg[ins.src]) >> (uint64(ins.imm) & 63))) ^ reg[uint8(ins.off)]
			pc += 2
		case opArshAnd3F:
			reg[ins.dst] = (uint64(int64(reg[ins.src]) >> (uint64(ins.imm) & 63))) & reg[uint8(ins.off)]
			pc += 2
		case opArshSub3F:
			reg[ins.dst] = (uint64(int64(reg[ins.src]) >> (uint64(ins.imm) & 63))) - reg[uint8(ins.off)]
			pc += 2
		case opAndAdd3F:
			reg[ins.dst] = (reg[ins.src] & uint64(ins.imm)) + reg[uint8(ins.off)]
			pc += 2
		case opAndOr3F:
			reg[ins.dst] = (reg[ins.src] & uint64(ins.imm)) | reg[uint8(ins.off)]
			pc += 2
		case opAndXor3F:
			reg[ins.dst] = (reg[ins.src] & uint64(ins.imm)) ^ reg[uint8(ins.off)]
			pc += 2
		case opAndAnd3F:
			reg[ins.dst] = (reg[ins.src] & uint64(ins.imm)) & reg[uint8(ins.off)]
			pc += 2
		case opAndSub3F:
			reg[ins.dst] = (reg[ins.src] & uint64(ins.imm)) - reg[uint8(ins.off)]
			pc += 2
		case opMulAdd3F:
			reg[ins.dst] = (reg[ins.src] * uint64(ins.imm)) + reg[uint8(ins.off)]
			pc += 2
		case opMulOr3F:
			reg[ins.dst] = (reg[ins.src] * uint64(ins.imm)) | reg[uint8(ins.off)]
			pc += 2
		case opMulXor3F:
			reg[ins.dst] = (reg[ins.src] * uint64(ins.imm)) ^ reg[uint8(ins.off)]
			pc += 2
		case opMulAnd3F:
			reg[ins.dst] = (reg[ins.src] * uint64(ins.imm)) & reg[uint8(ins.off)]
			pc += 2
		case opMulSub3F:
			reg[ins.dst] = (reg[ins.src] * uint64(ins.imm)) - reg[uint8(ins.off)]
			pc += 2
		case opAddAdd3F:
			reg[ins.dst] = (reg[ins.src] + uint64(ins.imm)) + reg[uint8(ins.off)]
			pc += 2
		case opAddOr3F:
			reg[ins.dst] = (reg[ins.src] + uint64(ins.imm)) | reg[uint8(ins.off)]
			pc += 2
		case opAddXor3F:
			reg[ins.dst] = (reg[ins.src] + uint64(ins.imm)) ^ reg[uint8(ins.off)]
			pc += 2
		case opAddAnd3F:
			reg[ins.dst] = (reg[ins.src] + uint64(ins.imm)) & reg[uint8(ins.off)]
			pc += 2
		case opAddSub3F:
			reg[ins.dst] = (reg[ins.src] + uint64(ins.imm)) - reg[uint8(ins.off)]
			pc += 2
		case opLddw:
			reg[ins.dst] = uint64(ins.imm)
			pc++
		case opLdxDW:
			a := reg[ins.src] + uint64(int64(ins.off))
			var b []byte
			if o := a - stackBase; o <= stackBytes-8 {
				b = stack[o : o+8]
			} else if id := a >> 32; id < uint64(len(h.regions)) && h.regions[id].flags&flagFastRead != 0 &&
				a&0xffffffff+8 <= uint64(len(h.regions[id].data)) {
				b = h.regions[id].data[a&0xffffffff:][:8]
			} else {
				break loop
			}
			reg[ins.dst] = uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 | uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
		case opLdxW:
			a := reg[ins.src] + uint64(int64(ins.off))
			var b []byte
			if o := a - stackBase; o <= stackBytes-4 {
				b = stack[o : o+4]
			} else if id := a >> 32; id < uint64(len(h.regions)) && h.regions[id].flags&flagFastRead != 0 &&
				a&0xffffffff+4 <= uint64(len(h.regions[id].data)) {
				b = h.regions[id].data[a&0xffffffff:][:4]
			} else {
				break loop
			}
			reg[ins.dst] = uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24
		case opLdxH:
			a := reg[ins.src] + uint64(int64(ins.off))
			var b []byte
			if o := a - stackBase; o <= stackBytes-2 {
				b = stack[o : o+2]
			} else if id := a >> 32; id < uint64(len(h.regions)) && h.regions[id].flags&flagFastRead != 0 &&
				a&0xffffffff+2 <= uint64(len(h.regions[id].data)) {
				b = h.regions[id].data[a&0xffffffff:][:2]
			} else {
				break loop
			}
			reg[ins.dst] = uint64(b[0]) | uint64(b[1])<<8
		case opLdxB:
			a := reg[ins.src] + uint64(int64(ins.off))
			var b []byte
			if o := a - stackBase; o <= stackBytes-1 {
				b = stack[o : o+1]
			} else if id := a >> 32; id < uint64(len(h.regions)) && h.regions[id].flags&flagFastRead != 0 &&
				a&0xffffffff+1 <= uint64(len(h.regions[id].data)) {
				b = h.regions[id].data[a&0xffffffff:][:1]
			} else {
				break loop
			}
			reg[ins.dst] = uint64(b[0])
		case opLdxSW:
			a := reg[ins.src] + uint64(int64(ins.off))
			var b []byte
			if o := a - stackBase; o <= stackBytes-4 {
				b = stack[o : o+4]
			} else if id := a >> 32; id < uint64(len(h.regions)) && h.regions[id].flags&flagFastRead != 0 &&
				a&0xffffffff+4 <= uint64(len(h.regions[id].data)) {
				b = h.regions[id].data[a&0xffffffff:][:4]
			} else {
				break loop
			}
			reg[ins.dst] = uint64(int64(int32((uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24))))
		case opLdxSH:
			a := reg[ins.src] + uint64(int64(ins.off))
			var b []byte
			if o := a - stackBase; o <= stackBytes-2 {
				b = stack[o : o+2]
			} else if id := a >> 32; id < uint64(len(h.regions)) && h.regions[id].flags&flagFastRead != 0 &&
				a&0xffffffff+2 <= uint64(len(h.regions[id].data)) {
				b = h.regions[id].data[a&0xffffffff:][:2]
			} else {
				break loop
			}
			reg[ins.dst] = uint64(int64(int16((uint64(b[0]) | uint64(b[1])<<8))))
		case opLdxSB:
			a := reg[ins.src] + uint64(int64(ins.off))
			var b []byte
			if o := a - stackBase; o <= stackBytes-1 {
				b = stack[o : o+1]
			} else if id := a >> 32; id < uint64(len(h.regions)) && h.regions[id].flags&flagFastRead != 0 &&
				a&0xffffffff+1 <= uint64(len(h.regions[id].data)) {
				b = h.regions[id].data[a&0xffffffff:][:1]
			} else {
				break loop
			}
			reg[ins.dst] = uint64(int64(int8((uint64(b[0])))))
		case opStxDW:
			a := reg[ins.dst] + uint64(int64(ins.off))
			var b []byte
			if o := a - stackBase; o <= stackBytes-8 {
				b = stack[o : o+8]
			} else if id := a >> 32; id < uint64(len(h.regions)) && h.regions[id].flags&flagFastWrite != 0 &&
				a&0xffffffff+8 <= uint64(len(h.regions[id].data)) {
				b = h.regions[id].data[a&0xffffffff:][:8]
			} else {
				break loop
			}
			v := reg[ins.src]
			_ = b[7]
			b[0] = byte(v)
			b[1] = byte(v >> 8)
			b[2] = byte(v >> 16)
			b[3] = byte(v >> 24)
			b[4] = byte(v >> 32)
			b[5] = byte(v >> 40)
			b[6] = byte(v >> 48)
			b[7] = byte(v >> 56)
		case opStxW:
			a := reg[ins.dst] + uint64(int64(ins.off))
			var b []byte
			if o := a - stackBase; o <= stackBytes-4 {
				b = stack[o : o+4]
			} else if id := a >> 32; id < uint64(len(h.regions)) && h.regions[id].flags&flagFastWrite != 0 &&
				a&0xffffffff+4 <= uint64(len(h.regions[id].data)) {
				b = h.regions[id].data[a&0xffffffff:][:4]
			} else {
				break loop
			}
			v := reg[ins.src]
			_ = b[3]
			b[0] = byte(v)
			b[1] = byte(v >> 8)
			b[2] = byte(v >> 16)
			b[3] = byte(v >> 24)
		case opStxH:
			a := reg[ins.dst] + uint64(int64(ins.off))
			var b []byte
			if o := a - stackBase; o <= stackBytes-2 {
				b = stack[o : o+2]
			} else if id := a >> 32; id < uint64(len(h.regions)) && h.regions[id].flags&flagFastWrite != 0 &&
				a&0xffffffff+2 <= uint64(len(h.regions[id].data)) {
				b = h.regions[id].data[a&0xffffffff:][:2]
			} else {
				break loop
			}
			v := reg[ins.src]
			_ = b[1]
			b[0] = byte(v)
			b[1] = byte(v >> 8)
		case opStxB:
			a := reg[ins.dst] + uint64(int64(ins.off))
			var b []byte
			if o := a - stackBase; o <= stackBytes-1 {
				b = stack[o : o+1]
			} else if id := a >> 32; id < uint64(len(h.regions)) && h.regions[id].flags&flagFastWrite != 0 &&
				a&0xffffffff+1 <= uint64(len(h.regions[id].data)) {
				b = h.regions[id].data[a&0xffffffff:][:1]
			} else {
				break loop
			}
			v := reg[ins.src]
			b[0] = byte(v)
		case opStDW:
			a := reg[ins.dst] + uint64(int64(ins.off))
			var b []byte
			if o := a - stackBase; o <= stackBytes-8 {
				b = stack[o : o+8]
			} else if id := a >> 32; id < uint64(len(h.regions)) && h.regions[id].flags&flagFastWrite != 0 &&
				a&0xffffffff+8 <= uint64(len(h.regions[id].data)) {
				b = h.regions[id].data[a&0xffffffff:][:8]
			} else {
				break loop
			}
			v := uint64(ins.imm)
			_ = b[7]
			b[0] = byte(v)
			b[1] = byte(v >> 8)
			b[2] = byte(v >> 16)
			b[3] = byte(v >> 24)
			b[4] = byte(v >> 32)
			b[5] = byte(v >> 40)
			b[6] = byte(v >> 48)
			b[7] = byte(v >> 56)
		case opStW:
			a := reg[ins.dst] + uint64(int64(ins.off))
			var b []byte
			if o := a - stackBase; o <= stackBytes-4 {
				b = stack[o : o+4]
			} else if id := a >> 32; id < uint64(len(h.regions)) && h.regions[id].flags&flagFastWrite != 0 &&
				a&0xffffffff+4 <= uint64(len(h.regions[id].data)) {
				b = h.regions[id].data[a&0xffffffff:][:4]
			} else {
				break loop
			}
			v := uint64(ins.imm)
			_ = b[3]
			b[0] = byte(v)
			b[1] = byte(v >> 8)
			b[2] = byte(v >> 16)
			b[3] = byte(v >> 24)
		case opStH:
			a := reg[ins.dst] + uint64(int64(ins.off))
			var b []byte
			if o := a - stackBase; o <= stackBytes-2 {
				b = stack[o : o+2]
			} else if id := a >> 32; id < uint64(len(h.regions)) && h.regions[id].flags&flagFastWrite != 0 &&
				a&0xffffffff+2 <= uint64(len(h.regions[id].data)) {
				b = h.regions[id].data[a&0xffffffff:][:2]
			} else {
				break loop
			}
			v := uint64(ins.imm)
			_ = b[1]
			b[0] = byte(v)
			b[1] = byte(v >> 8)
		case opStB:
			a := reg[ins.dst] + uint64(int64(ins.off))
			var b []byte
			if o := a - stackBase; o <= stackBytes-1 {
				b = stack[o : o+1]
			} else if id := a >> 32; id < uint64(len(h.regions)) && h.regions[id].flags&flagFastWrite != 0 &&
				a&0xffffffff+1 <= uint64(len(h.regions[id].data)) {
				b = h.regions[id].data[a&0xffffffff:][:1]
			} else {
				break loop
			}
			v := uint64(ins.imm)
			b[0] = byte(v)
		case opInvalid:
			break loop
		default: // everything that needs the slow path
			break loop
		}
	}
	// The instruction at pc-1 needs the slow path.
	return pc, base
}

// isFastOp reports whether fastLoop always executes op itself (memory
// accesses it may hand to the slow path).
func isFastOp(op uint8) bool {
	return op >= opAdd64K && op <= opJsle32X || op == opLddw || isFusedOp(op)
}

func (r *Run) budgetErr(pc int, n uint64) (uint64, error) {
	r.executed = n
	return 0, &RunError{PC: pc, Err: ErrBudget}
}

func (r *Run) helperErr(pc int, name string, err error) error {
	var re *RunError
	if asRunError(err, &re) {
		// A nested memory fault raised by a Run method: keep its details.
		return &RunError{PC: pc, Addr: re.Addr, Size: re.Size, Err: &HelperError{Name: name, Err: re.Err}}
	}
	return &RunError{PC: pc, Err: &HelperError{Name: name, Err: err}}
}

func asRunError(err error, re **RunError) bool {
	e, ok := err.(*RunError)
	if ok {
		*re = e
	}
	return ok
}

// faultErr turns the fault recorded by load/store/atomic into an error.
func (r *Run) faultErr(pc int, n uint64) error {
	r.executed = n
	return &RunError{PC: pc, Addr: r.faultAddr, Size: int(r.faultSize), Err: r.faultCause}
}

func (r *Run) fault(addr, size uint64, cause error) bool {
	r.faultAddr, r.faultSize, r.faultCause = addr, size, cause
	return false
}

// translate finds the region and offset for an access of size bytes at
// addr, or records a fault and returns nil.
func (r *Run) translate(addr, size uint64, write bool) (*region, uint64) {
	id := addr >> 32
	if id >= uint64(len(r.regions)) {
		r.fault(addr, size, ErrOutOfBounds)
		return nil, 0
	}
	rg := &r.regions[id]
	off := addr & 0xffffffff
	if off+size > uint64(len(rg.data)) || (rg.mask != 0 && uint64(uint32(off)&rg.mask)+size > uint64(rg.elem)) {
		r.fault(addr, size, ErrOutOfBounds)
		return nil, 0
	}
	if write && rg.flags&flagWrite == 0 {
		r.fault(addr, size, ErrReadOnly)
		return nil, 0
	}
	return rg, off
}

func (r *Run) load(addr, size uint64) (uint64, bool) {
	rg, off := r.translate(addr, size, false)
	if rg == nil {
		return 0, false
	}
	if rg.flags&flagShared != 0 {
		return sharedLoad(rg.data, off, size), true
	}
	return loadLE(rg.data[off:], size), true
}

func (r *Run) store(addr, size, v uint64) bool {
	rg, off := r.translate(addr, size, true)
	if rg == nil {
		return false
	}
	if rg.flags&flagShared != 0 {
		sharedStore(rg.data, off, size, v)
	} else {
		storeLE(rg.data[off:], size, v)
	}
	return true
}

// atomic performs an RFC 9669 atomic operation and returns the old value
// (zero-extended for 32-bit operations). Shared regions use sync/atomic;
// private regions belong to this run alone, so a plain read-modify-write is
// atomic with respect to everything that can observe it.
func (r *Run) atomic(addr, size uint64, op uint32, src, cmp uint64) (uint64, bool) {
	if addr&(size-1) != 0 {
		return 0, r.fault(addr, size, ErrMisaligned)
	}
	rg, off := r.translate(addr, size, true)
	if rg == nil {
		return 0, false
	}
	if rg.flags&flagShared == 0 {
		b := rg.data[off:]
		old := loadLE(b, size)
		var nv uint64
		switch op &^ atomicFetch {
		case atomicADD:
			nv = old + src
		case atomicOR:
			nv = old | src
		case atomicAND:
			nv = old & src
		case atomicXOR:
			nv = old ^ src
		case atomicXCHG &^ atomicFetch:
			nv = src
		case atomicCMPXCHG &^ atomicFetch:
			nv = old
			if size == 4 && uint32(old) == uint32(cmp) || size == 8 && old == cmp {
				nv = src
			}
		}
		storeLE(b, size, nv)
		return old, true
	}
	p := hostPtr(rg.data, off)
	if uintptr(p)&uintptr(size-1) != 0 {
		// Only an alias of a shared region at an odd offset gets here.
		return 0, r.fault(addr, size, ErrMisaligned)
	}
	if size == 4 {
		w := (*uint32)(p)
		s := uint32(src)
		var old uint32
		switch op &^ atomicFetch {
		case atomicADD:
			old = atomic.AddUint32(w, s) - s
		case atomicOR:
			old = atomic.OrUint32(w, s)
		case atomicAND:
			old = atomic.AndUint32(w, s)
		case atomicXOR:
			for {
				old = atomic.LoadUint32(w)
				if atomic.CompareAndSwapUint32(w, old, old^s) {
					break
				}
			}
		case atomicXCHG &^ atomicFetch:
			old = atomic.SwapUint32(w, s)
		case atomicCMPXCHG &^ atomicFetch:
			for {
				old = atomic.LoadUint32(w)
				if old != uint32(cmp) || atomic.CompareAndSwapUint32(w, old, s) {
					break
				}
			}
		}
		return uint64(old), true
	}
	w := (*uint64)(p)
	var old uint64
	switch op &^ atomicFetch {
	case atomicADD:
		old = atomic.AddUint64(w, src) - src
	case atomicOR:
		old = atomic.OrUint64(w, src)
	case atomicAND:
		old = atomic.AndUint64(w, src)
	case atomicXOR:
		for {
			old = atomic.LoadUint64(w)
			if atomic.CompareAndSwapUint64(w, old, old^src) {
				break
			}
		}
	case atomicXCHG &^ atomicFetch:
		old = atomic.SwapUint64(w, src)
	case atomicCMPXCHG &^ atomicFetch:
		for {
			old = atomic.LoadUint64(w)
			if old != cmp || atomic.CompareAndSwapUint64(w, old, src) {
				break
			}
		}
	}
	return old, true
}
