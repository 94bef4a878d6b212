package bpfvm

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// validOpcodes lists every opcode byte RFC 9669 and the v4 additions
// define, for the guided mode of FuzzRun.
var validOpcodes = func() []uint8 {
	var ops []uint8
	for _, cls := range []uint8{clsALU, clsALU64} {
		for code := uint8(0); code <= aluEND; code += 0x10 {
			ops = append(ops, cls|code, cls|code|srcX)
		}
	}
	for _, cls := range []uint8{clsJMP, clsJMP32} {
		for code := uint8(0); code <= jmpJSLE; code += 0x10 {
			ops = append(ops, cls|code, cls|code|srcX)
		}
	}
	for _, size := range []uint8{sizeW, sizeH, sizeB, sizeDW} {
		ops = append(ops, clsLDX|modeMEM|size, clsST|modeMEM|size, clsSTX|modeMEM|size)
		if size != sizeDW {
			ops = append(ops, clsLDX|modeMEMSX|size)
		}
	}
	ops = append(ops, clsSTX|modeATOMIC|sizeW, clsSTX|modeATOMIC|sizeDW, opLDDW)
	return ops
}()

var fuzzAtomics = []int32{atomicADD, atomicOR, atomicAND, atomicXOR, atomicADD | atomicFetch,
	atomicOR | atomicFetch, atomicAND | atomicFetch, atomicXOR | atomicFetch, atomicXCHG, atomicCMPXCHG}

var fuzzHelpers = []int32{HelperMapLookupElem, HelperKtimeGetNs, HelperTracePrintk, HelperGetCurrentPidTgid,
	HelperStrncmp, HelperDynptrFromMem, HelperDynptrRead, HelperDynptrWrite, HelperDynptrData, HelperRingbufSubmit}

// guide turns arbitrary bytes into mostly well-formed instructions, so the
// fuzzer spends its time in the interpreter rather than in the decoder.
func guide(b []byte) []byte {
	n := len(b) / 8
	out := make([]byte, 0, len(b)+8)
	for i := 0; i < n; i++ {
		w := b[8*i : 8*i+8]
		op := validOpcodes[int(w[0])%len(validOpcodes)]
		dst, src := w[1]&0xf%11, w[1]>>4%11
		off := int16(int8(w[2]))
		imm := int32(uint32(w[4]) | uint32(w[5])<<8 | uint32(w[6])<<16 | uint32(w[7])<<24)
		switch {
		case op&0x07 == clsJMP || op&0x07 == clsJMP32:
			off = int16(int(w[2])%(n+1) - i - 1) // somewhere in the program
			if op&0xf0 == jmpCALL {
				dst, off = 0, 0
				if w[3]&1 == 0 {
					src, imm = callHelper, fuzzHelpers[int(w[4])%len(fuzzHelpers)]
				} else {
					src, imm = callLocal, int32(int(w[4])%(n+1)-i-1)
				}
			}
		case op&0x07 == clsALU || op&0x07 == clsALU64:
			off = 0
			switch op & 0xf0 {
			case aluEND:
				imm = []int32{16, 32, 64}[int(w[4])%3]
			case aluDIV, aluMOD:
				off = int16(w[3] & 1)
			case aluMOV:
				off = []int16{0, 0, 8, 16, 32}[int(w[3])%5]
			}
		case op&0xe0 == modeATOMIC:
			imm = fuzzAtomics[int(w[4])%len(fuzzAtomics)]
			off &^= 7
		}
		out = append(out, encodeWord(op, dst, src, off, imm)...)
	}
	return append(out, encodeWord(clsJMP|jmpEXIT, 0, 0, 0, 0)...)
}

func encodeWord(op, dst, src uint8, off int16, imm int32) []byte {
	return rawProgram(encodeInsn(op, dst, src, off, imm))
}

const fuzzMemSize = 64

// FuzzRun loads random bytecode and, when the decoder accepts it, runs it
// twice, with and without superinstructions, on the same memory. It checks
// that nothing panics or hangs, that the budget holds, and that both runs
// agree on R0, the error, the instruction count and the memory left behind.
func FuzzRun(f *testing.F) {
	// Seeds: every conformance program, in raw mode, with its memory.
	if dir, err := findConformanceDir(); err == nil {
		files, _ := filepath.Glob(filepath.Join(dir, "*.data"))
		for _, path := range files {
			fh, err := os.Open(path)
			if err != nil {
				continue
			}
			dt, err := parseDataFile(fh)
			fh.Close()
			if err != nil {
				continue
			}
			code, err := dt.bytecode()
			if err != nil {
				continue
			}
			mem := make([]byte, fuzzMemSize)
			copy(mem, dt.mem)
			f.Add(byte(1), mem, code)
		}
	}
	f.Add(byte(0), make([]byte, fuzzMemSize), bytes.Repeat([]byte{0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88}, 16))
	f.Add(byte(0), bytes.Repeat([]byte{0xff}, fuzzMemSize), []byte("\x07\x01\x02\x03\x04\x05\x06\x07 any bytes at all, guided into instructions"))
	f.Add(byte(1), make([]byte, fuzzMemSize), exitProgram())

	f.Fuzz(func(t *testing.T, mode byte, mem, code []byte) {
		if len(code) > 8*512 {
			return
		}
		if mode&1 == 0 {
			code = guide(code)
		}
		memA := make([]byte, fuzzMemSize)
		copy(memA, mem)
		memB := bytes.Clone(memA)
		opts := &Options{Budget: 5000, Clock: func() uint64 { return 1 }}
		pa, errA := newRawProgram("fuzz", code, opts, true)
		pb, errB := newRawProgram("fuzz", code, opts, false)
		if (errA == nil) != (errB == nil) {
			t.Fatalf("load differs: %v / %v", errA, errB)
		}
		if errA != nil {
			var ie *InstructionError
			if !errors.As(errA, &ie) && !strings.Contains(errA.Error(), "program") {
				t.Fatalf("load error without context: %v", errA)
			}
			return
		}
		retA, exA, errA := fuzzExec(pa, memA)
		retB, exB, errB := fuzzExec(pb, memB)
		for _, err := range []error{errA, errB} {
			if errors.Is(err, ErrInternal) {
				t.Fatalf("interpreter bug: %v", err)
			}
		}
		if exA > opts.Budget+uint64(pa.Len()) {
			t.Fatalf("executed %d slots with a budget of %d", exA, opts.Budget)
		}
		if retA != retB || exA != exB || errString(errA) != errString(errB) || !bytes.Equal(memA, memB) {
			t.Fatalf("superinstructions change the result:\n fused:   r0=%#x n=%d err=%v\n unfused: r0=%#x n=%d err=%v",
				retA, exA, errA, retB, exB, errB)
		}
	})
}

func fuzzExec(p *Program, mem []byte) (uint64, uint64, error) {
	r := p.NewRun()
	defer r.Release()
	rw, err := r.MapBytes(mem, ReadWrite)
	if err != nil {
		return 0, 0, err
	}
	ro, err := r.MapBytes([]byte("read-only bytes\x00"), ReadOnly)
	if err != nil {
		return 0, 0, err
	}
	ret, err := r.Exec(rw, ro, uint64(len(mem)), rw+8, 16)
	return ret, r.Executed(), err
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
