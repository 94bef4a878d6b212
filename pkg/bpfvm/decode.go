package bpfvm

import (
	"encoding/binary"
	"fmt"
)

// linker resolves the parts of an instruction stream that refer to things
// outside it: lddw pseudo sources, helper numbers and kfuncs. Errors it
// returns are wrapped into an *InstructionError for the slot.
type linker interface {
	// ldImm64 returns the value an lddw with a non-zero src loads.
	ldImm64(slot int, src uint8, imm, next uint32) (uint64, error)
	// helper returns the index in the function table of helper number num.
	helper(slot int, num int32) (int32, error)
	// kfunc returns the index in the function table of the kfunc called at slot.
	kfunc(slot int, imm int32, off int16) (int32, error)
}

// rawInsn is one 8-byte slot split into its fields (little-endian layout).
type rawInsn struct {
	op  uint8
	dst uint8
	src uint8
	off int16
	imm int32
}

func splitRaw(b []byte) rawInsn {
	return rawInsn{
		op:  b[0],
		dst: b[1] & 0x0f,
		src: b[1] >> 4,
		off: int16(binary.LittleEndian.Uint16(b[2:4])),
		imm: int32(binary.LittleEndian.Uint32(b[4:8])),
	}
}

// maxSlots bounds a program's length (the kernel's BPF_COMPLEXITY_LIMIT_INSNS).
const maxSlots = 1 << 20

// decode checks raw little-endian bytecode and turns it into the compact
// form the interpreter runs (without superinstructions; see fuse). Every check the interpreter relies on for
// memory safety of its own data structures (register numbers, jump and call
// targets, wide-instruction pairs, a terminating last instruction) is made
// here, once.
func decode(code []byte, l linker) ([]insn, error) {
	if len(code)%8 != 0 {
		return nil, fmt.Errorf("%w: bytecode length %d is not a multiple of 8", ErrInvalidProgram, len(code))
	}
	n := len(code) / 8
	if n == 0 {
		return nil, fmt.Errorf("%w: empty program", ErrInvalidProgram)
	}
	if n > maxSlots {
		return nil, fmt.Errorf("%w: %d instructions exceed the limit of %d", ErrInvalidProgram, n, maxSlots)
	}
	prog := make([]insn, n)
	for i := 0; i < n; i++ {
		r := splitRaw(code[i*8:])
		if r.op == opLDDW {
			if i+1 >= n {
				return nil, insnErr(i, r.op, ErrInvalidProgram, "wide instruction lacks its second slot")
			}
			next := splitRaw(code[(i+1)*8:])
			if next.op != 0 || next.dst != 0 || next.src != 0 || next.off != 0 {
				return nil, insnErr(i+1, next.op, ErrInvalidProgram, "second slot of a wide instruction has non-zero opcode, registers or offset")
			}
			d, err := decodeLddw(i, r, uint32(next.imm), l)
			if err != nil {
				return nil, err
			}
			prog[i] = d
			prog[i+1] = insn{op: opInvalid}
			i++
			continue
		}
		d, err := decodeOne(i, r, l)
		if err != nil {
			return nil, err
		}
		prog[i] = d
	}

	// Second pass: targets. Jump and local-call targets were stored as
	// absolute slots by decodeOne; they must land inside the program and not
	// on the second half of an lddw.
	for i := range prog {
		d := &prog[i]
		if !isJumpOp(d.op) && d.op != opCallLocal {
			continue
		}
		t := int64(d.off)
		if t < 0 || t >= int64(n) {
			return nil, insnErr(i, rawOp(code, i), ErrInvalidProgram, fmt.Sprintf("target %d outside the program (0..%d)", t, n-1))
		}
		if prog[t].op == opInvalid {
			return nil, insnErr(i, rawOp(code, i), ErrInvalidProgram, fmt.Sprintf("target %d is the second slot of a wide instruction", t))
		}
	}
	// Falling off the end is impossible if the last instruction does not
	// continue to the next slot.
	if last := prog[n-1]; last.op != opExit && last.op != opJa {
		return nil, insnErr(n-1, rawOp(code, n-1), ErrInvalidProgram, "last instruction is neither exit nor an unconditional jump")
	}
	return prog, nil
}

func rawOp(code []byte, i int) uint8 { return code[i*8] }

func insnErr(i int, op uint8, sentinel error, reason string) error {
	return &InstructionError{Index: i, Opcode: op, Reason: reason, Err: sentinel}
}

func decodeLddw(i int, r rawInsn, next uint32, l linker) (insn, error) {
	if r.off != 0 {
		return insn{}, insnErr(i, r.op, ErrInvalidProgram, "non-zero offset")
	}
	if r.dst > 9 {
		return insn{}, insnErr(i, r.op, ErrInvalidProgram, dstReason(r.dst))
	}
	d := insn{op: opLddw, dst: r.dst}
	switch r.src {
	case 0:
		d.imm = int64(uint64(next)<<32 | uint64(uint32(r.imm)))
	case pseudoMapFD, pseudoMapValue, pseudoMapIdx, pseudoMapIdxValue, pseudoVarAddr, pseudoFunc:
		if l == nil {
			return insn{}, insnErr(i, r.op, ErrNotSupported, fmt.Sprintf("lddw with src %d needs a collection", r.src))
		}
		v, err := l.ldImm64(i, r.src, uint32(r.imm), next)
		if err != nil {
			return insn{}, &InstructionError{Index: i, Opcode: r.op, Reason: fmt.Sprintf("lddw src %d", r.src), Err: err}
		}
		d.imm = int64(v)
	default:
		return insn{}, insnErr(i, r.op, ErrInvalidProgram, fmt.Sprintf("unknown lddw source %d", r.src))
	}
	return d, nil
}

func dstReason(dst uint8) string {
	if dst == 10 {
		return "write to read-only frame pointer r10"
	}
	return fmt.Sprintf("invalid destination register r%d", dst)
}

func decodeOne(i int, r rawInsn, l linker) (insn, error) {
	bad := func(reason string) (insn, error) { return insn{}, insnErr(i, r.op, ErrInvalidProgram, reason) }
	unsupported := func(reason string) (insn, error) { return insn{}, insnErr(i, r.op, ErrNotSupported, reason) }
	if r.src > 10 {
		return bad(fmt.Sprintf("invalid source register r%d", r.src))
	}
	if r.dst > 10 {
		return bad(fmt.Sprintf("invalid destination register r%d", r.dst))
	}
	class := r.op & 0x07
	switch class {
	case clsALU, clsALU64:
		return decodeALU(i, r)
	case clsJMP, clsJMP32:
		return decodeJump(i, r, l)
	case clsLD:
		switch r.op & 0xe0 {
		case modeABS, modeIND:
			return unsupported("legacy packet access (ABS/IND) is not supported")
		}
		return bad("unknown opcode")
	case clsLDX:
		if r.imm != 0 {
			return bad("non-zero immediate")
		}
		if r.dst > 9 {
			return bad(dstReason(r.dst))
		}
		d := insn{dst: r.dst, src: r.src, off: int32(r.off)}
		switch r.op & 0xe0 {
		case modeMEM:
			d.op = [4]uint8{opLdxW, opLdxH, opLdxB, opLdxDW}[(r.op>>3)&3]
		case modeMEMSX:
			if r.op&0x18 == sizeDW {
				return bad("sign-extending load of 8 bytes")
			}
			d.op = [4]uint8{opLdxSW, opLdxSH, opLdxSB}[(r.op>>3)&3]
		default:
			return bad("unknown load mode")
		}
		return d, nil
	case clsST:
		if r.op&0xe0 != modeMEM {
			return bad("unknown store mode")
		}
		if r.src != 0 {
			return bad("non-zero source register")
		}
		return insn{op: [4]uint8{opStW, opStH, opStB, opStDW}[(r.op>>3)&3], dst: r.dst, off: int32(r.off), imm: int64(r.imm)}, nil
	case clsSTX:
		d := insn{dst: r.dst, src: r.src, off: int32(r.off)}
		switch r.op & 0xe0 {
		case modeMEM:
			if r.imm != 0 {
				return bad("non-zero immediate")
			}
			d.op = [4]uint8{opStxW, opStxH, opStxB, opStxDW}[(r.op>>3)&3]
			return d, nil
		case modeATOMIC:
			switch r.op & 0x18 {
			case sizeW:
				d.op = opAtomic32
			case sizeDW:
				d.op = opAtomic64
			default:
				return bad("atomic operation on 1 or 2 bytes")
			}
			switch r.imm {
			case atomicADD, atomicOR, atomicAND, atomicXOR,
				atomicADD | atomicFetch, atomicOR | atomicFetch, atomicAND | atomicFetch, atomicXOR | atomicFetch:
			case atomicXCHG, atomicCMPXCHG:
			default:
				return bad(fmt.Sprintf("unknown atomic operation %#x", uint32(r.imm)))
			}
			if r.imm&atomicFetch != 0 && r.imm != atomicCMPXCHG && r.src == 10 {
				return bad(dstReason(10))
			}
			d.imm = int64(r.imm)
			return d, nil
		}
		return bad("unknown store mode")
	}
	return bad("unknown opcode")
}

func decodeALU(i int, r rawInsn) (insn, error) {
	bad := func(reason string) (insn, error) { return insn{}, insnErr(i, r.op, ErrInvalidProgram, reason) }
	is64 := r.op&0x07 == clsALU64
	x := r.op&srcX != 0
	code := r.op & 0xf0
	if r.dst > 9 {
		return bad(dstReason(r.dst))
	}
	d := insn{dst: r.dst, src: r.src}

	// Operand-field rules shared by the regular ops.
	checkOperands := func() (insn, error, bool) {
		if x {
			if r.imm != 0 {
				e, err := bad("non-zero immediate in register form")
				return e, err, false
			}
		} else if r.src != 0 {
			e, err := bad("non-zero source register in immediate form")
			return e, err, false
		}
		return insn{}, nil, true
	}

	switch code {
	case aluNEG:
		if x || r.src != 0 || r.imm != 0 || r.off != 0 {
			return bad("neg takes no operand")
		}
		d.op = opNeg32
		if is64 {
			d.op = opNeg64
		}
		return d, nil
	case aluEND:
		if r.src != 0 || r.off != 0 {
			return bad("non-zero source register or offset in byte swap")
		}
		var k int
		switch r.imm {
		case 16:
			k = 0
		case 32:
			k = 1
		case 64:
			k = 2
		default:
			return bad(fmt.Sprintf("byte swap width %d", r.imm))
		}
		switch {
		case is64 && !x:
			d.op = opBswap16 + uint8(k)
		case is64:
			return bad("unknown opcode")
		case x: // to big endian
			d.op = opBe16 + uint8(k)
		default:
			d.op = opLe16 + uint8(k)
		}
		return d, nil
	}

	if e, err, ok := checkOperands(); !ok {
		return e, err
	}
	base := aluOps64[code>>4]
	if base == 0 {
		return bad("unknown opcode")
	}
	switch code {
	case aluDIV, aluMOD:
		switch r.off {
		case 0:
		case 1:
			base += 2 // SDIV/SMOD follow DIV/MOD
		default:
			return bad(fmt.Sprintf("offset %d in division (0 or 1)", r.off))
		}
	case aluMOV:
		if r.off != 0 {
			if !x {
				return bad("non-zero offset in mov immediate")
			}
			switch {
			case r.off == 8 && is64:
				d.op = opMovSX8To64
			case r.off == 16 && is64:
				d.op = opMovSX16To64
			case r.off == 32 && is64:
				d.op = opMovSX32To64
			case r.off == 8:
				d.op = opMovSX8To32
			case r.off == 16:
				d.op = opMovSX16To32
			default:
				return bad(fmt.Sprintf("mov offset %d (0, 8, 16 or 32 for 64-bit)", r.off))
			}
			return d, nil
		}
	default:
		if r.off != 0 {
			return bad("non-zero offset")
		}
	}
	if x {
		base++
	}
	if !is64 {
		base += alu32Delta
	}
	d.op = base
	if !x {
		if is64 {
			d.imm = int64(r.imm) // sign-extended; unsigned ops use uint64(imm)
		} else {
			d.imm = int64(uint32(r.imm))
		}
	}
	return d, nil
}

func decodeJump(i int, r rawInsn, l linker) (insn, error) {
	bad := func(reason string) (insn, error) { return insn{}, insnErr(i, r.op, ErrInvalidProgram, reason) }
	is32 := r.op&0x07 == clsJMP32
	x := r.op&srcX != 0
	code := r.op & 0xf0
	switch code {
	case jmpJA:
		if x || r.src != 0 || r.dst != 0 {
			return bad("non-zero register fields in ja")
		}
		if is32 { // gotol: 32-bit offset in imm
			if r.off != 0 {
				return bad("non-zero offset in ja32")
			}
			return insn{op: opJa, off: clampTarget(int64(i) + 1 + int64(r.imm))}, nil
		}
		if r.imm != 0 {
			return bad("non-zero immediate in ja")
		}
		return insn{op: opJa, off: clampTarget(int64(i) + 1 + int64(r.off))}, nil
	case jmpCALL:
		if is32 {
			return bad("call in JMP32 class")
		}
		if x {
			return insn{}, insnErr(i, r.op, ErrNotSupported, "indirect call (callx) is not supported")
		}
		if r.dst != 0 {
			return bad("non-zero destination register in call")
		}
		switch r.src {
		case callHelper:
			if r.off != 0 {
				return bad("non-zero offset in helper call")
			}
			if l == nil {
				return insn{}, insnErr(i, r.op, ErrUnknownHelper, fmt.Sprintf("helper %d", r.imm))
			}
			idx, err := l.helper(i, r.imm)
			if err != nil {
				return insn{}, &InstructionError{Index: i, Opcode: r.op, Reason: fmt.Sprintf("helper %d", r.imm), Err: err}
			}
			return insn{op: opCall, imm: int64(idx)}, nil
		case callLocal:
			if r.off != 0 {
				return bad("non-zero offset in local call")
			}
			return insn{op: opCallLocal, off: clampTarget(int64(i) + 1 + int64(r.imm))}, nil
		case callKfunc:
			if l == nil {
				return insn{}, insnErr(i, r.op, ErrUnknownKfunc, fmt.Sprintf("kfunc with BTF id %d", r.imm))
			}
			idx, err := l.kfunc(i, r.imm, r.off)
			if err != nil {
				return insn{}, &InstructionError{Index: i, Opcode: r.op, Reason: "kfunc call", Err: err}
			}
			return insn{op: opCall, imm: int64(idx)}, nil
		}
		return bad(fmt.Sprintf("unknown call kind (src %d)", r.src))
	case jmpEXIT:
		if is32 || x || r.src != 0 || r.dst != 0 || r.off != 0 || r.imm != 0 {
			return bad("exit with non-zero fields")
		}
		return insn{op: opExit}, nil
	}
	base := jmpOps64[code>>4]
	if base == 0 {
		return bad("unknown opcode")
	}
	d := insn{dst: r.dst, src: r.src, off: clampTarget(int64(i) + 1 + int64(r.off))}
	if x {
		if r.imm != 0 {
			return bad("non-zero immediate in register form")
		}
		base++
	} else {
		if r.src != 0 {
			return bad("non-zero source register in immediate form")
		}
		if is32 {
			d.imm = int64(uint32(r.imm))
		} else {
			d.imm = int64(r.imm)
		}
	}
	if is32 {
		base += jmp32Delta
	}
	d.op = base
	return d, nil
}

// clampTarget keeps an out-of-range target recognisably out of range when
// it is narrowed to int32 for the second decoding pass.
func clampTarget(t int64) int32 {
	if t < -1 || t > maxSlots {
		return -1
	}
	return int32(t)
}
