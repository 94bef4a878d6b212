package bpfvm

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// TestSuperinstructionsMatch runs every instruction pattern decode fuses,
// with random registers (aliasing included) and values, with and without
// fusion, and compares all registers afterwards.
func TestSuperinstructionsMatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	reg := func() uint8 { return uint8(rng.IntN(10)) }
	imm := func() int32 {
		switch rng.IntN(4) {
		case 0:
			return int32(rng.IntN(64))
		case 1:
			return -int32(rng.IntN(64))
		}
		return int32(rng.Uint32())
	}
	alu64 := []uint8{aluADD, aluSUB, aluMUL, aluOR, aluAND, aluLSH, aluRSH, aluARSH, aluXOR, aluDIV, aluMOD, aluMOV}
	jumps := []uint8{jmpJEQ, jmpJGT, jmpJGE, jmpJSET, jmpJNE, jmpJSGT, jmpJSGE, jmpJLT, jmpJLE, jmpJSLT, jmpJSLE}
	var patterns [][]uint64
	for n := 0; n < 3000; n++ {
		d, s, s2 := reg(), reg(), reg()
		var p []uint64
		switch n % 5 {
		case 0: // mov + ALU (64 or 32)
			cls := []uint8{clsALU64, clsALU}[rng.IntN(2)]
			op := alu64[rng.IntN(len(alu64))]
			p = append(p, encodeInsn(cls|aluMOV|srcX, d, s, 0, 0))
			if rng.IntN(2) == 0 {
				p = append(p, encodeInsn(cls|op|srcX, d, s2, 0, 0))
			} else {
				p = append(p, encodeInsn(cls|op, d, 0, 0, imm()))
			}
		case 1: // lsh + rsh/arsh
			p = append(p, encodeInsn(clsALU64|aluLSH, d, 0, 0, imm()&63),
				encodeInsn(clsALU64|[]uint8{aluRSH, aluARSH}[rng.IntN(2)], d, 0, 0, imm()&63))
		case 2, 3: // add or and + conditional jump over one instruction
			j := jumps[rng.IntN(len(jumps))]
			p = append(p, encodeInsn(clsALU64|[]uint8{aluADD, aluAND}[rng.IntN(2)], d, 0, 0, imm()))
			if rng.IntN(2) == 0 {
				p = append(p, encodeInsn(clsJMP|j|srcX, d, s2, 1, 0))
			} else {
				p = append(p, encodeInsn(clsJMP|j, d, 0, 1, imm()))
			}
			p = append(p, encodeInsn(clsALU64|aluMOV, 0, 0, 0, 77))
		case 4: // mov + OP1 K + OP2 X
			p = append(p, encodeInsn(clsALU64|aluMOV|srcX, d, s, 0, 0),
				encodeInsn(clsALU64|[]uint8{aluLSH, aluRSH, aluARSH, aluAND, aluMUL, aluADD}[rng.IntN(6)], d, 0, 0, imm()),
				encodeInsn(clsALU64|[]uint8{aluADD, aluOR, aluXOR, aluAND, aluSUB}[rng.IntN(5)]|srcX, d, s2, 0, 0))
		}
		patterns = append(patterns, p)
	}
	fused := 0
	for _, p := range patterns {
		// r1 = memory: load r0, r2..r9 from it, run the pattern, store them back.
		var w []uint64
		w = append(w, encodeInsn(clsALU64|aluMOV|srcX, 6, 1, 0, 0)) // r6 = mem (r6 is overwritten last)
		for r := uint8(0); r < 10; r++ {
			if r != 6 {
				w = append(w, encodeInsn(clsLDX|modeMEM|sizeDW, r, 6, int16(8*r), 0))
			}
		}
		w = append(w, encodeInsn(clsSTX|modeMEM|sizeDW, 10, 6, -8, 0)) // save mem pointer
		w = append(w, encodeInsn(clsLDX|modeMEM|sizeDW, 6, 6, 48, 0))
		w = append(w, p...)
		w = append(w, encodeInsn(clsSTX|modeMEM|sizeDW, 10, 6, -16, 0))
		w = append(w, encodeInsn(clsLDX|modeMEM|sizeDW, 6, 10, -8, 0))
		for r := uint8(0); r < 10; r++ {
			if r != 6 {
				w = append(w, encodeInsn(clsSTX|modeMEM|sizeDW, 6, r, int16(8*r), 0))
			}
		}
		w = append(w, encodeInsn(clsLDX|modeMEM|sizeDW, 1, 10, -16, 0))
		w = append(w, encodeInsn(clsSTX|modeMEM|sizeDW, 6, 1, 48, 0))
		w = append(w, encodeInsn(clsJMP|jmpEXIT, 0, 0, 0, 0))
		code := rawProgram(w...)

		mem := make([]byte, 80)
		for i := 0; i < 10; i++ {
			v := rng.Uint64()
			if rng.IntN(3) == 0 {
				v = uint64(rng.IntN(5)) - 2
			}
			binary.LittleEndian.PutUint64(mem[8*i:], v)
		}
		var outs [2][]byte
		for k, super := range []bool{true, false} {
			prog, err := newRawProgram("p", code, nil, super)
			if err != nil {
				t.Fatal(err)
			}
			if super {
				for _, in := range prog.code {
					if isFusedOp(in.op) {
						fused++
						break
					}
				}
			}
			m := bytes.Clone(mem)
			r := prog.NewRun()
			a, _ := r.MapBytes(m, ReadWrite)
			if _, err := r.Exec(a); err != nil {
				t.Fatal(err)
			}
			r.Release()
			outs[k] = m
		}
		if !bytes.Equal(outs[0], outs[1]) {
			t.Fatalf("pattern %#x: fused %x, plain %x", p, outs[0], outs[1])
		}
	}
	if fused < len(patterns)/2 {
		t.Errorf("only %d of %d patterns were fused", fused, len(patterns))
	}
}
