package bpfvm

// Raw encoding constants of RFC 9669 (opcode byte = specific | class).
const (
	clsLD    = 0x00
	clsLDX   = 0x01
	clsST    = 0x02
	clsSTX   = 0x03
	clsALU   = 0x04
	clsJMP   = 0x05
	clsJMP32 = 0x06
	clsALU64 = 0x07

	srcX = 0x08 // ALU/JMP: operand is src_reg (K: imm)

	aluADD  = 0x00
	aluSUB  = 0x10
	aluMUL  = 0x20
	aluDIV  = 0x30
	aluOR   = 0x40
	aluAND  = 0x50
	aluLSH  = 0x60
	aluRSH  = 0x70
	aluNEG  = 0x80
	aluMOD  = 0x90
	aluXOR  = 0xa0
	aluMOV  = 0xb0
	aluARSH = 0xc0
	aluEND  = 0xd0

	jmpJA   = 0x00
	jmpJEQ  = 0x10
	jmpJGT  = 0x20
	jmpJGE  = 0x30
	jmpJSET = 0x40
	jmpJNE  = 0x50
	jmpJSGT = 0x60
	jmpJSGE = 0x70
	jmpCALL = 0x80
	jmpEXIT = 0x90
	jmpJLT  = 0xa0
	jmpJLE  = 0xb0
	jmpJSLT = 0xc0
	jmpJSLE = 0xd0

	sizeW  = 0x00
	sizeH  = 0x08
	sizeB  = 0x10
	sizeDW = 0x18

	modeIMM    = 0x00
	modeABS    = 0x20
	modeIND    = 0x40
	modeMEM    = 0x60
	modeMEMSX  = 0x80
	modeATOMIC = 0xc0

	atomicFetch   = 0x01
	atomicADD     = 0x00
	atomicOR      = 0x40
	atomicAND     = 0x50
	atomicXOR     = 0xa0
	atomicXCHG    = 0xe0 | atomicFetch
	atomicCMPXCHG = 0xf0 | atomicFetch

	// lddw src_reg values (RFC 9669 §5.4).
	pseudoMapFD       = 1
	pseudoMapValue    = 2
	pseudoVarAddr     = 3
	pseudoFunc        = 4
	pseudoMapIdx      = 5
	pseudoMapIdxValue = 6

	// CALL src_reg values.
	callHelper = 0
	callLocal  = 1
	callKfunc  = 2

	opLDDW = clsLD | modeIMM | sizeDW // 0x18
)

// Internal opcodes of the pre-decoded program. They form a dense range so
// that the interpreter's switch compiles to a jump table. K forms carry the
// operand in insn.imm, already extended the way the instruction needs it.
const (
	opInvalid uint8 = iota // second slot of lddw; never executed

	opAdd64K
	opAdd64X
	opSub64K
	opSub64X
	opMul64K
	opMul64X
	opDiv64K
	opDiv64X
	opSDiv64K
	opSDiv64X
	opMod64K
	opMod64X
	opSMod64K
	opSMod64X
	opOr64K
	opOr64X
	opAnd64K
	opAnd64X
	opLsh64K
	opLsh64X
	opRsh64K
	opRsh64X
	opArsh64K
	opArsh64X
	opXor64K
	opXor64X
	opMov64K
	opMov64X
	opMovSX8To64
	opMovSX16To64
	opMovSX32To64
	opNeg64
	opBswap16
	opBswap32
	opBswap64

	opAdd32K
	opAdd32X
	opSub32K
	opSub32X
	opMul32K
	opMul32X
	opDiv32K
	opDiv32X
	opSDiv32K
	opSDiv32X
	opMod32K
	opMod32X
	opSMod32K
	opSMod32X
	opOr32K
	opOr32X
	opAnd32K
	opAnd32X
	opLsh32K
	opLsh32X
	opRsh32K
	opRsh32X
	opArsh32K
	opArsh32X
	opXor32K
	opXor32X
	opMov32K
	opMov32X
	opMovSX8To32
	opMovSX16To32
	opNeg32
	opLe16
	opLe32
	opLe64
	opBe16
	opBe32
	opBe64

	opJa
	opJeqK
	opJeqX
	opJgtK
	opJgtX
	opJgeK
	opJgeX
	opJsetK
	opJsetX
	opJneK
	opJneX
	opJsgtK
	opJsgtX
	opJsgeK
	opJsgeX
	opJltK
	opJltX
	opJleK
	opJleX
	opJsltK
	opJsltX
	opJsleK
	opJsleX

	opJeq32K
	opJeq32X
	opJgt32K
	opJgt32X
	opJge32K
	opJge32X
	opJset32K
	opJset32X
	opJne32K
	opJne32X
	opJsgt32K
	opJsgt32X
	opJsge32K
	opJsge32X
	opJlt32K
	opJlt32X
	opJle32K
	opJle32X
	opJslt32K
	opJslt32X
	opJsle32K
	opJsle32X

	opCall      // helper or kfunc; imm = index into Program.funcs
	opCallLocal // off = absolute target slot
	opExit
	opLddw // imm = resolved 64-bit value

	opLdxB
	opLdxH
	opLdxW
	opLdxDW
	opLdxSB
	opLdxSH
	opLdxSW
	opStB
	opStH
	opStW
	opStDW
	opStxB
	opStxH
	opStxW
	opStxDW
	opAtomic32 // imm = RFC atomic operation
	opAtomic64

	// Superinstructions: "mov dst, src" followed by an ALU operation on dst,
	// fused by decode into one three-operand dispatch (dst = src OP operand).
	// The operand is imm (K) or reg[off] (X). They cover two slots; the
	// second slot keeps its own decoding for jumps that land on it.
	opAdd64KF
	opSub64KF
	opOr64KF
	opAnd64KF
	opLsh64KF
	opRsh64KF
	opArsh64KF
	opXor64KF
	opMul64KF
	opAdd64XF
	opSub64XF
	opOr64XF
	opAnd64XF
	opLsh64XF
	opRsh64XF
	opArsh64XF
	opXor64XF
	opMul64XF
	opAdd32KF
	opSub32KF
	opOr32KF
	opAnd32KF
	opLsh32KF
	opRsh32KF
	opArsh32KF
	opXor32KF
	opMul32KF
	opAdd32XF
	opSub32XF
	opOr32XF
	opAnd32XF
	opLsh32XF
	opRsh32XF
	opArsh32XF
	opXor32XF
	opMul32XF

	// "lsh dst, K1; rsh dst, K2" and "lsh dst, K1; arsh dst, K2" (64-bit
	// bit-field extraction, e.g. clang's zero- and sign-extension idioms):
	// K1 in imm, K2 in off.
	opLshRshF
	opLshArshF

	// "add dst, K; j<cond> dst, operand, target" (the usual loop back edge),
	// 64-bit: the add's K in the upper half of imm, a K operand
	// sign-extended in its lower half, an X operand in src, target in off.
	opAddJeqKF
	opAddJeqXF
	opAddJgtKF
	opAddJgtXF
	opAddJgeKF
	opAddJgeXF
	opAddJsetKF
	opAddJsetXF
	opAddJneKF
	opAddJneXF
	opAddJsgtKF
	opAddJsgtXF
	opAddJsgeKF
	opAddJsgeXF
	opAddJltKF
	opAddJltXF
	opAddJleKF
	opAddJleXF
	opAddJsltKF
	opAddJsltXF
	opAddJsleKF
	opAddJsleXF

	// "and dst, K; j<cond> dst, operand, target" (flag tests), encoded like
	// the add forms above.
	opAndJeqKF
	opAndJeqXF
	opAndJgtKF
	opAndJgtXF
	opAndJgeKF
	opAndJgeXF
	opAndJsetKF
	opAndJsetXF
	opAndJneKF
	opAndJneXF
	opAndJsgtKF
	opAndJsgtXF
	opAndJsgeKF
	opAndJsgeXF
	opAndJltKF
	opAndJltXF
	opAndJleKF
	opAndJleXF
	opAndJsltKF
	opAndJsltXF
	opAndJsleKF
	opAndJsleXF

	// "mov dst, src; OP1 dst, K; OP2 dst, src2" (64-bit), fused into
	// dst = (src OP1 K) OP2 reg[src2]: K in imm, src2 in off.
	opLshAdd3F
	opLshOr3F
	opLshXor3F
	opLshAnd3F
	opLshSub3F
	opRshAdd3F
	opRshOr3F
	opRshXor3F
	opRshAnd3F
	opRshSub3F
	opArshAdd3F
	opArshOr3F
	opArshXor3F
	opArshAnd3F
	opArshSub3F
	opAndAdd3F
	opAndOr3F
	opAndXor3F
	opAndAnd3F
	opAndSub3F
	opMulAdd3F
	opMulOr3F
	opMulXor3F
	opMulAnd3F
	opMulSub3F
	opAddAdd3F
	opAddOr3F
	opAddXor3F
	opAddAnd3F
	opAddSub3F

	numOps
)

// Internal opcodes must fit the byte the interpreter switches on.
const _ = uint8(numOps - 1)

// insn is one pre-decoded instruction slot (16 bytes).
type insn struct {
	op  uint8
	dst uint8
	src uint8
	_   uint8
	off int32 // memory offset, or absolute jump/call target slot
	imm int64 // operand, already sign- or zero-extended as the op needs
}

// aluOps maps (ALU code >> 4) to the K form of the 64-bit internal op; the
// X form is K+1 and the 32-bit ops sit at a fixed distance (see decodeALU).
var aluOps64 = [16]uint8{
	aluADD >> 4: opAdd64K, aluSUB >> 4: opSub64K, aluMUL >> 4: opMul64K,
	aluDIV >> 4: opDiv64K, aluOR >> 4: opOr64K, aluAND >> 4: opAnd64K,
	aluLSH >> 4: opLsh64K, aluRSH >> 4: opRsh64K, aluMOD >> 4: opMod64K,
	aluXOR >> 4: opXor64K, aluMOV >> 4: opMov64K, aluARSH >> 4: opArsh64K,
}

// jmpOps maps (JMP code >> 4) to the K form of the conditional 64-bit jump.
var jmpOps64 = [16]uint8{
	jmpJEQ >> 4: opJeqK, jmpJGT >> 4: opJgtK, jmpJGE >> 4: opJgeK,
	jmpJSET >> 4: opJsetK, jmpJNE >> 4: opJneK, jmpJSGT >> 4: opJsgtK,
	jmpJSGE >> 4: opJsgeK, jmpJLT >> 4: opJltK, jmpJLE >> 4: opJleK,
	jmpJSLT >> 4: opJsltK, jmpJSLE >> 4: opJsleK,
}

const (
	alu32Delta = opAdd32K - opAdd64K
	jmp32Delta = opJeq32K - opJeqK
)

func isFusedOp(op uint8) bool { return op >= opAdd64KF && op < numOps }

func isJumpOp(op uint8) bool {
	return op >= opJa && op <= opJsle32X || op >= opAddJeqKF && op <= opAddJsleXF ||
		op >= opAndJeqKF && op <= opAndJsleXF
}

// fusedOps maps the K form of an ALU op to its mov-fused K form.
var fusedOps = map[uint8]uint8{
	opAdd64K: opAdd64KF, opSub64K: opSub64KF, opOr64K: opOr64KF, opAnd64K: opAnd64KF,
	opLsh64K: opLsh64KF, opRsh64K: opRsh64KF, opArsh64K: opArsh64KF, opXor64K: opXor64KF,
	opMul64K: opMul64KF,
	opAdd64X: opAdd64XF, opSub64X: opSub64XF, opOr64X: opOr64XF, opAnd64X: opAnd64XF,
	opLsh64X: opLsh64XF, opRsh64X: opRsh64XF, opArsh64X: opArsh64XF, opXor64X: opXor64XF,
	opMul64X: opMul64XF,
	opAdd32K: opAdd32KF, opSub32K: opSub32KF, opOr32K: opOr32KF, opAnd32K: opAnd32KF,
	opLsh32K: opLsh32KF, opRsh32K: opRsh32KF, opArsh32K: opArsh32KF, opXor32K: opXor32KF,
	opMul32K: opMul32KF,
	opAdd32X: opAdd32XF, opSub32X: opSub32XF, opOr32X: opOr32XF, opAnd32X: opAnd32XF,
	opLsh32X: opLsh32XF, opRsh32X: opRsh32XF, opArsh32X: opArsh32XF, opXor32X: opXor32XF,
	opMul32X: opMul32XF,
}

// fused3Ops maps (OP1 K form, OP2 X form) of a three-slot
// "mov; OP1 K; OP2 X" sequence to its superinstruction.
var fused3Ops = map[[2]uint8]uint8{
	{opLsh64K, opAdd64X}:  opLshAdd3F,
	{opLsh64K, opOr64X}:   opLshOr3F,
	{opLsh64K, opXor64X}:  opLshXor3F,
	{opLsh64K, opAnd64X}:  opLshAnd3F,
	{opLsh64K, opSub64X}:  opLshSub3F,
	{opRsh64K, opAdd64X}:  opRshAdd3F,
	{opRsh64K, opOr64X}:   opRshOr3F,
	{opRsh64K, opXor64X}:  opRshXor3F,
	{opRsh64K, opAnd64X}:  opRshAnd3F,
	{opRsh64K, opSub64X}:  opRshSub3F,
	{opArsh64K, opAdd64X}: opArshAdd3F,
	{opArsh64K, opOr64X}:  opArshOr3F,
	{opArsh64K, opXor64X}: opArshXor3F,
	{opArsh64K, opAnd64X}: opArshAnd3F,
	{opArsh64K, opSub64X}: opArshSub3F,
	{opAnd64K, opAdd64X}:  opAndAdd3F,
	{opAnd64K, opOr64X}:   opAndOr3F,
	{opAnd64K, opXor64X}:  opAndXor3F,
	{opAnd64K, opAnd64X}:  opAndAnd3F,
	{opAnd64K, opSub64X}:  opAndSub3F,
	{opMul64K, opAdd64X}:  opMulAdd3F,
	{opMul64K, opOr64X}:   opMulOr3F,
	{opMul64K, opXor64X}:  opMulXor3F,
	{opMul64K, opAnd64X}:  opMulAnd3F,
	{opMul64K, opSub64X}:  opMulSub3F,
	{opAdd64K, opAdd64X}:  opAddAdd3F,
	{opAdd64K, opOr64X}:   opAddOr3F,
	{opAdd64K, opXor64X}:  opAddXor3F,
	{opAdd64K, opAnd64X}:  opAddAnd3F,
	{opAdd64K, opSub64X}:  opAddSub3F,
}

// fuse rewrites "mov dst, src; OP dst, operand" pairs into superinstructions.
// Only the first slot changes, so control that reaches the second slot
// directly still executes just the second instruction.
func fuse(prog []insn) {
	for i := 0; i+1 < len(prog); i++ {
		mov, next := prog[i], prog[i+1]
		if i+2 < len(prog) && mov.op == opMov64X && next.dst == mov.dst {
			third := prog[i+2]
			if f3, ok := fused3Ops[[2]uint8{next.op, third.op}]; ok && third.dst == mov.dst && third.src != mov.dst {
				prog[i] = insn{op: f3, dst: mov.dst, src: mov.src, imm: next.imm, off: int32(third.src)}
				continue
			}
		}
		var f uint8
		switch mov.op {
		case opMov64X:
			if next.op >= opAdd64K && next.op <= opMov64X {
				f = fusedOps[next.op]
			}
		case opMov32X:
			if next.op >= opAdd32K && next.op <= opMov32X {
				f = fusedOps[next.op]
			}
		}
		if mov.op == opLsh64K && next.dst == mov.dst && (next.op == opRsh64K || next.op == opArsh64K) {
			f = opLshRshF
			if next.op == opArsh64K {
				f = opLshArshF
			}
			prog[i] = insn{op: f, dst: mov.dst, imm: mov.imm & 63, off: int32(next.imm & 63)}
			continue
		}
		if (mov.op == opAdd64K || mov.op == opAnd64K) && next.dst == mov.dst && next.op >= opJeqK && next.op <= opJsleX &&
			int64(int32(mov.imm)) == mov.imm && int64(int32(next.imm)) == next.imm {
			base := opAddJeqKF
			if mov.op == opAnd64K {
				base = opAndJeqKF
			}
			prog[i] = insn{
				op:  base + (next.op - opJeqK),
				dst: mov.dst, src: next.src, off: next.off,
				imm: mov.imm<<32 | int64(uint32(next.imm)),
			}
			continue
		}
		if f == 0 || next.dst != mov.dst {
			continue
		}
		d := insn{op: f, dst: mov.dst, src: mov.src, imm: next.imm}
		if f >= opAdd64XF && f <= opMul64XF || f >= opAdd32XF && f <= opMul32XF {
			// The operand register reads dst after the mov, i.e. src.
			op2 := next.src
			if op2 == mov.dst {
				op2 = mov.src
			}
			d.off = int32(op2)
		}
		prog[i] = d
	}
}
