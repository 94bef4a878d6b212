package bpfvm

// A parser for the bpf_conformance ".data" test format and an assembler for
// its mnemonic syntax (see shared/conformance/bpf/FORMAT.md next to the
// repository).

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// dataTest is one parsed .data file.
type dataTest struct {
	asm       []string // instruction and label lines, comments removed
	raw       []uint64 // -- raw words, if present (authoritative)
	mem       []byte
	result    uint64
	hasResult bool
	errText   string
	hasError  bool
}

func parseDataFile(r io.Reader) (*dataTest, error) {
	t := &dataTest{}
	var memHex strings.Builder
	var resultLine, errorLine string
	section := ""
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		if strings.Contains(line, "--") {
			switch {
			case strings.Contains(line, "asm"):
				section = "asm"
			case strings.Contains(line, "result"):
				section = "result"
			case strings.Contains(line, "mem"):
				section = "mem"
			case strings.Contains(line, "raw"):
				section = "raw"
			case strings.Contains(line, "no register offset"), strings.Contains(line, " c"):
				section = "ignore"
			case strings.Contains(line, "error"):
				section = "error"
			default:
				return nil, fmt.Errorf("unknown directive %q", line)
			}
			continue
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		switch section {
		case "asm":
			t.asm = append(t.asm, line)
		case "mem":
			memHex.WriteString(line)
			memHex.WriteByte(' ')
		case "result":
			resultLine = line
		case "error":
			errorLine = line
		case "raw":
			for _, f := range strings.Fields(line) {
				v, err := strconv.ParseUint(f, 0, 64)
				if err != nil {
					return nil, fmt.Errorf("raw word %q: %w", f, err)
				}
				t.raw = append(t.raw, v)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, f := range strings.Fields(memHex.String()) {
		b, err := hex.DecodeString(f)
		if err != nil || len(b) != 1 {
			return nil, fmt.Errorf("mem byte %q", f)
		}
		t.mem = append(t.mem, b[0])
	}
	if resultLine != "" {
		var err error
		if strings.Contains(resultLine, "0x") {
			t.result, err = strconv.ParseUint(strings.TrimPrefix(resultLine, "0x"), 16, 64)
		} else {
			t.result, err = strconv.ParseUint(resultLine, 10, 64)
		}
		if err != nil {
			return nil, fmt.Errorf("result %q: %w", resultLine, err)
		}
		t.hasResult = true
	}
	if errorLine != "" {
		t.errText, t.hasError = errorLine, true
	}
	return t, nil
}

// bytecode returns the program as little-endian instruction bytes.
func (t *dataTest) bytecode() ([]byte, error) {
	words := t.raw
	if words == nil {
		var err error
		if words, err = assemble(t.asm); err != nil {
			return nil, err
		}
	}
	out := make([]byte, 8*len(words))
	for i, w := range words {
		binary.LittleEndian.PutUint64(out[8*i:], w)
	}
	return out, nil
}

func encodeInsn(op uint8, dst, src uint8, off int16, imm int32) uint64 {
	return uint64(op) | uint64(dst&0xf)<<8 | uint64(src&0xf)<<12 | uint64(uint16(off))<<16 | uint64(uint32(imm))<<32
}

var (
	asmALU = map[string]uint8{
		"add": aluADD, "sub": aluSUB, "mul": aluMUL, "div": aluDIV, "or": aluOR, "and": aluAND,
		"lsh": aluLSH, "rsh": aluRSH, "neg": aluNEG, "mod": aluMOD, "xor": aluXOR, "mov": aluMOV,
		"arsh": aluARSH, "sdiv": aluDIV, "smod": aluMOD,
	}
	asmJmp = map[string]uint8{
		"jeq": jmpJEQ, "jgt": jmpJGT, "jge": jmpJGE, "jset": jmpJSET, "jne": jmpJNE, "jsgt": jmpJSGT,
		"jsge": jmpJSGE, "jlt": jmpJLT, "jle": jmpJLE, "jslt": jmpJSLT, "jsle": jmpJSLE,
	}
	asmSize = map[string]uint8{"b": sizeB, "h": sizeH, "w": sizeW, "dw": sizeDW}
	asmAtom = map[string]int32{"add": atomicADD, "or": atomicOR, "and": atomicAND, "xor": atomicXOR}
)

type asmLine struct {
	op   string
	args []string
	slot int
}

// assemble translates the mnemonic syntax into instruction words. Labels
// are resolved in a second pass; the first exit defines the label "exit".
func assemble(lines []string) ([]uint64, error) {
	labels := map[string]int{}
	var prog []asmLine
	slot := 0
	for _, l := range lines {
		if strings.HasSuffix(l, ":") && !strings.ContainsAny(l, " \t") {
			name := strings.TrimSuffix(l, ":")
			if _, dup := labels[name]; dup {
				return nil, fmt.Errorf("duplicate label %s", name)
			}
			labels[name] = slot
			continue
		}
		f := strings.Fields(l)
		for i := range f {
			f[i] = strings.TrimSuffix(f[i], ",")
		}
		if f[0] == "exit" {
			if _, ok := labels["exit"]; !ok {
				labels["exit"] = slot
			}
		}
		prog = append(prog, asmLine{op: f[0], args: f[1:], slot: slot})
		if f[0] == "lddw" {
			slot += 2
		} else {
			slot++
		}
	}
	var out []uint64
	for _, in := range prog {
		w, err := assembleOne(in, labels)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", in.op, strings.Join(in.args, ", "), err)
		}
		out = append(out, w...)
	}
	return out, nil
}

func parseReg(s string) (uint8, error) {
	if !strings.HasPrefix(s, "%r") {
		return 0, fmt.Errorf("not a register: %q", s)
	}
	n, err := strconv.ParseUint(s[2:], 10, 8)
	if err != nil || n > 10 {
		return 0, fmt.Errorf("bad register %q", s)
	}
	return uint8(n), nil
}

func parseImm32(s string) (int32, error) {
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "-0x") {
		neg := strings.HasPrefix(s, "-")
		v, err := strconv.ParseUint(strings.TrimPrefix(strings.TrimPrefix(s, "-"), "0x"), 16, 32)
		if err != nil {
			return 0, fmt.Errorf("immediate %q: %w", s, err)
		}
		if neg {
			return -int32(uint32(v)), nil
		}
		return int32(uint32(v)), nil
	}
	v, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("immediate %q: %w", s, err)
	}
	return int32(v), nil
}

func parseImm64(s string) (uint64, error) {
	neg := strings.HasPrefix(s, "-")
	u := strings.TrimPrefix(s, "-")
	var v uint64
	var err error
	if strings.HasPrefix(u, "0x") {
		v, err = strconv.ParseUint(u[2:], 16, 64)
	} else {
		v, err = strconv.ParseUint(u, 10, 64)
	}
	if err != nil {
		return 0, fmt.Errorf("immediate %q: %w", s, err)
	}
	if neg {
		v = -v
	}
	return v, nil
}

// parseMem parses "[%rN]", "[%rN+off]" or "[%rN-off]".
func parseMem(s string) (uint8, int16, error) {
	if !strings.HasPrefix(s, "[") || !strings.HasSuffix(s, "]") {
		return 0, 0, fmt.Errorf("not a memory operand: %q", s)
	}
	s = s[1 : len(s)-1]
	i := strings.IndexAny(s, "+-")
	regPart, offPart := s, ""
	if i >= 0 {
		regPart, offPart = s[:i], s[i:]
	}
	reg, err := parseReg(regPart)
	if err != nil {
		return 0, 0, err
	}
	var off int64
	if offPart != "" {
		if off, err = strconv.ParseInt(offPart, 0, 17); err != nil || off < -32768 || off > 32767 {
			return 0, 0, fmt.Errorf("offset %q", offPart)
		}
	}
	return reg, int16(off), nil
}

func target(s string, slot int, labels map[string]int) (int64, error) {
	if strings.HasPrefix(s, "+") || strings.HasPrefix(s, "-") {
		return strconv.ParseInt(s, 10, 32)
	}
	t, ok := labels[s]
	if !ok {
		return 0, fmt.Errorf("unknown label %q", s)
	}
	return int64(t - slot - 1), nil
}

func nargs(in asmLine, n int) error {
	if len(in.args) != n {
		return fmt.Errorf("want %d operands, got %d", n, len(in.args))
	}
	return nil
}

func assembleOne(in asmLine, labels map[string]int) ([]uint64, error) {
	op, a := in.op, in.args
	one := func(w uint64) ([]uint64, error) { return []uint64{w}, nil }
	switch {
	case op == "exit":
		return one(encodeInsn(clsJMP|jmpEXIT, 0, 0, 0, 0))
	case op == "lddw":
		if err := nargs(in, 2); err != nil {
			return nil, err
		}
		dst, err := parseReg(a[0])
		if err != nil {
			return nil, err
		}
		v, err := parseImm64(a[1])
		if err != nil {
			return nil, err
		}
		return []uint64{encodeInsn(opLDDW, dst, 0, 0, int32(uint32(v))), encodeInsn(0, 0, 0, 0, int32(uint32(v>>32)))}, nil
	case op == "call":
		switch {
		case len(a) == 1 && strings.HasPrefix(a[0], "%r"):
			r, err := parseReg(a[0])
			if err != nil {
				return nil, err
			}
			return one(encodeInsn(clsJMP|jmpCALL|srcX, r, 0, 0, 0))
		case len(a) == 2 && a[0] == "local":
			t, err := target(a[1], in.slot, labels)
			if err != nil {
				return nil, err
			}
			return one(encodeInsn(clsJMP|jmpCALL, 0, callLocal, 0, int32(t)))
		case len(a) == 2 && (a[0] == "runtime" || a[0] == "helper"):
			n, err := parseImm32(a[1])
			if err != nil {
				return nil, err
			}
			src := uint8(callHelper)
			if a[0] == "runtime" {
				src = callKfunc
			}
			return one(encodeInsn(clsJMP|jmpCALL, 0, src, 0, n))
		case len(a) == 1:
			n, err := parseImm32(a[0])
			if err != nil {
				return nil, err
			}
			return one(encodeInsn(clsJMP|jmpCALL, 0, callHelper, 0, n))
		}
		return nil, fmt.Errorf("bad call")
	case op == "ja" || op == "ja32":
		if err := nargs(in, 1); err != nil {
			return nil, err
		}
		t, err := target(a[0], in.slot, labels)
		if err != nil {
			return nil, err
		}
		if op == "ja32" {
			return one(encodeInsn(clsJMP32|jmpJA, 0, 0, 0, int32(t)))
		}
		return one(encodeInsn(clsJMP|jmpJA, 0, 0, int16(t), 0))
	case op == "lock":
		return assembleAtomic(a)
	}

	if code, ok := asmJmp[strings.TrimSuffix(op, "32")]; ok {
		if err := nargs(in, 3); err != nil {
			return nil, err
		}
		cls := uint8(clsJMP)
		if strings.HasSuffix(op, "32") {
			cls = clsJMP32
		}
		dst, err := parseReg(a[0])
		if err != nil {
			return nil, err
		}
		t, err := target(a[2], in.slot, labels)
		if err != nil {
			return nil, err
		}
		if strings.HasPrefix(a[1], "%r") {
			src, err := parseReg(a[1])
			if err != nil {
				return nil, err
			}
			return one(encodeInsn(cls|code|srcX, dst, src, int16(t), 0))
		}
		imm, err := parseImm32(a[1])
		if err != nil {
			return nil, err
		}
		return one(encodeInsn(cls|code, dst, 0, int16(t), imm))
	}

	// Byte swaps.
	for _, p := range []struct {
		prefix string
		op     uint8
	}{{"le", clsALU | aluEND}, {"be", clsALU | aluEND | srcX}, {"bswap", clsALU64 | aluEND}, {"swap", clsALU64 | aluEND}} {
		if w, ok := strings.CutPrefix(op, p.prefix); ok && (w == "16" || w == "32" || w == "64") {
			if err := nargs(in, 1); err != nil {
				return nil, err
			}
			dst, err := parseReg(a[0])
			if err != nil {
				return nil, err
			}
			n, _ := strconv.Atoi(w)
			return one(encodeInsn(p.op, dst, 0, 0, int32(n)))
		}
	}

	// Sign-extending moves: movsx<from><to>.
	if w, ok := strings.CutPrefix(op, "movsx"); ok {
		var from, cls uint8
		switch w {
		case "832":
			from, cls = 8, clsALU
		case "1632":
			from, cls = 16, clsALU
		case "864":
			from, cls = 8, clsALU64
		case "1664":
			from, cls = 16, clsALU64
		case "3264":
			from, cls = 32, clsALU64
		default:
			return nil, fmt.Errorf("unknown mnemonic")
		}
		if err := nargs(in, 2); err != nil {
			return nil, err
		}
		dst, err := parseReg(a[0])
		if err != nil {
			return nil, err
		}
		src, err := parseReg(a[1])
		if err != nil {
			return nil, err
		}
		return one(encodeInsn(cls|aluMOV|srcX, dst, src, int16(from), 0))
	}

	// Loads and stores.
	if sz, ok := strings.CutPrefix(op, "ldxs"); ok {
		if size, ok := asmSize[sz]; ok && sz != "dw" {
			if err := nargs(in, 2); err != nil {
				return nil, err
			}
			dst, err := parseReg(a[0])
			if err != nil {
				return nil, err
			}
			src, off, err := parseMem(a[1])
			if err != nil {
				return nil, err
			}
			return one(encodeInsn(clsLDX|modeMEMSX|size, dst, src, off, 0))
		}
	}
	if sz, ok := strings.CutPrefix(op, "ldx"); ok {
		if size, ok := asmSize[sz]; ok {
			if err := nargs(in, 2); err != nil {
				return nil, err
			}
			dst, err := parseReg(a[0])
			if err != nil {
				return nil, err
			}
			src, off, err := parseMem(a[1])
			if err != nil {
				return nil, err
			}
			return one(encodeInsn(clsLDX|modeMEM|size, dst, src, off, 0))
		}
	}
	if sz, ok := strings.CutPrefix(op, "stx"); ok {
		if size, ok := asmSize[sz]; ok {
			if err := nargs(in, 2); err != nil {
				return nil, err
			}
			dst, off, err := parseMem(a[0])
			if err != nil {
				return nil, err
			}
			src, err := parseReg(a[1])
			if err != nil {
				return nil, err
			}
			return one(encodeInsn(clsSTX|modeMEM|size, dst, src, off, 0))
		}
	}
	if sz, ok := strings.CutPrefix(op, "st"); ok {
		if size, ok := asmSize[sz]; ok {
			if err := nargs(in, 2); err != nil {
				return nil, err
			}
			dst, off, err := parseMem(a[0])
			if err != nil {
				return nil, err
			}
			imm, err := parseImm32(a[1])
			if err != nil {
				return nil, err
			}
			return one(encodeInsn(clsST|modeMEM|size, dst, 0, off, imm))
		}
	}

	// ALU.
	base := strings.TrimSuffix(op, "32")
	code, ok := asmALU[base]
	if !ok {
		return nil, fmt.Errorf("unknown mnemonic")
	}
	cls := uint8(clsALU64)
	if strings.HasSuffix(op, "32") {
		cls = clsALU
	}
	var off int16
	if base == "sdiv" || base == "smod" {
		off = 1
	}
	dst, err := parseReg(a[0])
	if err != nil {
		return nil, err
	}
	if base == "neg" {
		if err := nargs(in, 1); err != nil {
			return nil, err
		}
		return one(encodeInsn(cls|code, dst, 0, 0, 0))
	}
	if err := nargs(in, 2); err != nil {
		return nil, err
	}
	if strings.HasPrefix(a[1], "%r") {
		src, err := parseReg(a[1])
		if err != nil {
			return nil, err
		}
		return one(encodeInsn(cls|code|srcX, dst, src, off, 0))
	}
	imm, err := parseImm32(a[1])
	if err != nil {
		return nil, err
	}
	return one(encodeInsn(cls|code, dst, 0, off, imm))
}

func assembleAtomic(a []string) ([]uint64, error) {
	fetch := int32(0)
	if len(a) > 0 && a[0] == "fetch" {
		fetch = atomicFetch
		a = a[1:]
	}
	if len(a) != 3 {
		return nil, fmt.Errorf("want op, memory, register")
	}
	name := a[0]
	size := uint8(sizeDW)
	if n, ok := strings.CutSuffix(name, "32"); ok {
		name, size = n, sizeW
	}
	var imm int32
	switch name {
	case "xchg":
		imm = atomicXCHG
	case "cmpxchg":
		imm = atomicCMPXCHG
	default:
		v, ok := asmAtom[name]
		if !ok {
			return nil, fmt.Errorf("unknown atomic %q", a[0])
		}
		imm = v | fetch
	}
	dst, off, err := parseMem(a[1])
	if err != nil {
		return nil, err
	}
	src, err := parseReg(a[2])
	if err != nil {
		return nil, err
	}
	return []uint64{encodeInsn(clsSTX|modeATOMIC|size, dst, src, off, imm)}, nil
}
