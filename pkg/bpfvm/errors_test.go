package bpfvm

import (
	"errors"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

func TestLoadRejectsMalformed(t *testing.T) {
	exit := encodeInsn(clsJMP|jmpEXIT, 0, 0, 0, 0)
	mov0 := encodeInsn(clsALU64|aluMOV, 0, 0, 0, 0)
	tests := []struct {
		name   string
		words  []uint64
		index  int
		want   error
		reason string
	}{
		{"unknown opcode", []uint64{mov0, encodeInsn(0xe5, 0, 0, 0, 0), exit}, 1, ErrInvalidProgram, "unknown opcode"},
		{"unknown ALU code", []uint64{mov0, encodeInsn(clsALU64|0xe0, 1, 0, 0, 0), exit}, 1, ErrInvalidProgram, "unknown opcode"},
		{"register r11", []uint64{encodeInsn(clsALU64|aluMOV, 11, 0, 0, 0), exit}, 0, ErrInvalidProgram, "register r11"},
		{"write to r10", []uint64{mov0, encodeInsn(clsALU64|aluADD, 10, 0, 0, 8), exit}, 1, ErrInvalidProgram, "r10"},
		{"load into r10", []uint64{encodeInsn(clsLDX|modeMEM|sizeDW, 10, 1, 0, 0), exit}, 0, ErrInvalidProgram, "r10"},
		{"reserved src in K form", []uint64{encodeInsn(clsALU64|aluADD, 0, 3, 0, 1), exit}, 0, ErrInvalidProgram, "source register"},
		{"reserved imm in X form", []uint64{encodeInsn(clsALU64|aluADD|srcX, 0, 1, 0, 1), exit}, 0, ErrInvalidProgram, "immediate"},
		{"reserved offset", []uint64{encodeInsn(clsALU64|aluADD, 0, 0, 4, 1), exit}, 0, ErrInvalidProgram, "offset"},
		{"bad division offset", []uint64{encodeInsn(clsALU64|aluDIV, 0, 0, 2, 1), exit}, 0, ErrInvalidProgram, "division"},
		{"bad movsx width", []uint64{encodeInsn(clsALU|aluMOV|srcX, 0, 1, 32, 0), exit}, 0, ErrInvalidProgram, "mov offset"},
		{"bad swap width", []uint64{encodeInsn(clsALU|aluEND, 0, 0, 0, 24), exit}, 0, ErrInvalidProgram, "width"},
		{"exit with fields", []uint64{encodeInsn(clsJMP|jmpEXIT, 1, 0, 0, 0)}, 0, ErrInvalidProgram, "exit"},
		{"jump past the end", []uint64{encodeInsn(clsJMP|jmpJEQ, 0, 0, 5, 0), exit}, 0, ErrInvalidProgram, "outside the program"},
		{"jump before the start", []uint64{mov0, encodeInsn(clsJMP|jmpJA, 0, 0, -3, 0), exit}, 1, ErrInvalidProgram, "outside the program"},
		{"ja32 past the end", []uint64{encodeInsn(clsJMP32|jmpJA, 0, 0, 0, 1<<30), exit}, 0, ErrInvalidProgram, "outside the program"},
		{"jump into lddw", []uint64{encodeInsn(clsJMP|jmpJA, 0, 0, 1, 0), encodeInsn(opLDDW, 0, 0, 0, 1), 0, exit}, 0, ErrInvalidProgram, "second slot"},
		{"broken lddw", []uint64{encodeInsn(opLDDW, 0, 0, 0, 1), encodeInsn(0x07, 0, 0, 0, 0), exit}, 1, ErrInvalidProgram, "second slot"},
		{"truncated lddw", []uint64{mov0, encodeInsn(opLDDW, 0, 0, 0, 1)}, 1, ErrInvalidProgram, "second slot"},
		{"local call out of range", []uint64{encodeInsn(clsJMP|jmpCALL, 0, callLocal, 0, 7), exit}, 0, ErrInvalidProgram, "outside the program"},
		{"falls off the end", []uint64{mov0, encodeInsn(clsALU64|aluADD, 0, 0, 0, 1)}, 1, ErrInvalidProgram, "last instruction"},
		{"atomic on a byte", []uint64{encodeInsn(clsSTX|modeATOMIC|sizeB, 10, 1, -8, 0), exit}, 0, ErrInvalidProgram, "atomic"},
		{"unknown atomic op", []uint64{encodeInsn(clsSTX|modeATOMIC|sizeDW, 10, 1, -8, 0x100), exit}, 0, ErrInvalidProgram, "atomic operation"},
		{"sign-extending dword load", []uint64{encodeInsn(clsLDX|modeMEMSX|sizeDW, 0, 1, 0, 0), exit}, 0, ErrInvalidProgram, "sign-extending"},
		{"bad helper number", []uint64{mov0, encodeInsn(clsJMP|jmpCALL, 0, callHelper, 0, 9999), exit}, 1, ErrUnknownHelper, "helper 9999"},
		{"tail call", []uint64{mov0, encodeInsn(clsJMP|jmpCALL, 0, callHelper, 0, 12), exit}, 1, ErrUnknownHelper, "helper 12"},
		{"kfunc by BTF id", []uint64{mov0, encodeInsn(clsJMP|jmpCALL, 0, callKfunc, 0, 1234), exit}, 1, ErrUnknownKfunc, "kfunc"},
		{"callx", []uint64{encodeInsn(clsJMP|jmpCALL|srcX, 2, 0, 0, 0), exit}, 0, ErrNotSupported, "callx"},
		{"packet load", []uint64{encodeInsn(clsLD|modeABS|sizeW, 0, 0, 0, 12), exit}, 0, ErrNotSupported, "packet"},
		{"map by fd without collection", []uint64{encodeInsn(opLDDW, 1, pseudoMapFD, 0, 3), 0, exit}, 0, ErrUnknownMap, "lddw src 1"},
		{"unknown lddw source", []uint64{encodeInsn(opLDDW, 1, 9, 0, 3), 0, exit}, 0, ErrInvalidProgram, "lddw source"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewRawProgram("bad", rawProgram(tt.words...), nil)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var ie *InstructionError
			if !errors.As(err, &ie) {
				t.Fatalf("%v is not an *InstructionError", err)
			}
			if ie.Index != tt.index || !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q: index %d, want %d and a reason mentioning %q", err, ie.Index, tt.index, tt.reason)
			}
		})
	}
	if _, err := NewRawProgram("odd", []byte{1, 2, 3}, nil); !errors.Is(err, ErrInvalidProgram) {
		t.Errorf("truncated bytecode: %v", err)
	}
	if _, err := NewRawProgram("empty", nil, nil); !errors.Is(err, ErrInvalidProgram) {
		t.Errorf("empty program: %v", err)
	}
}

func TestLoadSpecErrors(t *testing.T) {
	// A helper number nobody implements, in a ProgramSpec from cilium/ebpf's asm.
	spec := &ebpf.ProgramSpec{Name: "p", Type: ebpf.SocketFilter, Instructions: asm.Instructions{
		asm.Mov.Imm(asm.R0, 0),
		asm.FnTailCall.Call(),
		asm.Return(),
	}}
	if _, err := NewProgram(spec, nil); !errors.Is(err, ErrUnknownHelper) || !strings.Contains(err.Error(), "instruction 1") {
		t.Errorf("tail call: %v", err)
	}
	// The embedder can provide it.
	called := false
	p, err := NewProgram(spec, &Options{Helpers: map[int32]HelperFunc{12: func(*Run, uint64, uint64, uint64, uint64, uint64) (uint64, error) {
		called = true
		return 0, nil
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Exec(); err != nil || !called {
		t.Errorf("embedder helper: called %v, %v", called, err)
	}

	// Kfunc names must be registered.
	c := loadSpec(t, "vm_dynptr")
	if _, err := NewCollection(c, nil); !errors.Is(err, ErrUnknownKfunc) || !strings.Contains(err.Error(), "vm_test_get_dynptr") {
		t.Errorf("unregistered kfunc: %v", err)
	}
	// Map references must resolve.
	spec = &ebpf.ProgramSpec{Name: "m", Instructions: asm.Instructions{
		asm.LoadMapPtr(asm.R1, 0).WithReference("nope"),
		asm.Mov.Imm(asm.R0, 0),
		asm.Return(),
	}}
	if _, err := NewProgram(spec, nil); !errors.Is(err, ErrUnknownMap) || !strings.Contains(err.Error(), "instruction 0") {
		t.Errorf("unknown map: %v", err)
	}
}

func TestRunErrorsTyped(t *testing.T) {
	exit := encodeInsn(clsJMP|jmpEXIT, 0, 0, 0, 0)
	tests := []struct {
		name  string
		words []uint64
		want  error
		pc    int
	}{
		{"null dereference", []uint64{encodeInsn(clsALU64|aluMOV, 1, 0, 0, 0), encodeInsn(clsLDX|modeMEM|sizeDW, 0, 1, 0, 0), exit}, ErrOutOfBounds, 1},
		{"stack underflow", []uint64{encodeInsn(clsSTX|modeMEM|sizeDW, 10, 1, 8, 0), exit}, ErrOutOfBounds, 0},
		{"below the stack", []uint64{encodeInsn(clsLDX|modeMEM|sizeDW, 0, 10, -4104, 0), exit}, ErrOutOfBounds, 0},
		{"misaligned atomic", []uint64{encodeInsn(clsSTX|modeATOMIC|sizeDW, 10, 1, -12, atomicADD), exit}, ErrMisaligned, 0},
		{"endless loop", []uint64{encodeInsn(clsJMP|jmpJA, 0, 0, -1, 0), exit}, ErrBudget, 0},
		{"endless recursion", []uint64{encodeInsn(clsJMP|jmpCALL, 0, callLocal, 0, -1), exit}, ErrCallDepth, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewRawProgram(tt.name, rawProgram(tt.words...), &Options{Budget: 1000})
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.Exec()
			var re *RunError
			if !errors.Is(err, tt.want) || !errors.As(err, &re) || re.PC != tt.pc {
				t.Fatalf("err = %v, want %v at instruction %d", err, tt.want, tt.pc)
			}
		})
	}

	// A map pointer is a handle for helpers, not memory.
	cs := &ebpf.CollectionSpec{
		Maps: map[string]*ebpf.MapSpec{"m": {Name: "m", Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1}},
		Programs: map[string]*ebpf.ProgramSpec{"p": {Name: "p", Instructions: asm.Instructions{
			asm.LoadMapPtr(asm.R1, 0).WithReference("m"),
			asm.LoadMem(asm.R0, asm.R1, 0, asm.DWord),
			asm.Return(),
		}}},
	}
	coll, err := NewCollection(cs, nil)
	if err != nil {
		t.Fatal(err)
	}
	var re *RunError
	if _, err := coll.Programs["p"].Exec(); !errors.Is(err, ErrOutOfBounds) || !errors.As(err, &re) || re.PC != 2 {
		t.Errorf("load through a map pointer: %v", err)
	}

	// A helper's Go error ends the run and is visible through errors.Is.
	boom := errors.New("boom")
	p, err := NewRawProgram("h", rawProgram(encodeInsn(clsJMP|jmpCALL, 0, callHelper, 0, 77), exit), &Options{
		Helpers: map[int32]HelperFunc{77: func(*Run, uint64, uint64, uint64, uint64, uint64) (uint64, error) { return 0, boom }},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Exec(); !errors.Is(err, ErrHelper) || !errors.Is(err, boom) {
		t.Errorf("helper error: %v", err)
	}
	// Bad helper arguments are the helper's failure, not a panic.
	p, err = NewRawProgram("lookup", rawProgram(
		encodeInsn(clsALU64|aluMOV, 1, 0, 0, 5),
		encodeInsn(clsJMP|jmpCALL, 0, callHelper, 0, HelperMapLookupElem), exit), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Exec(); !errors.Is(err, ErrHelper) {
		t.Errorf("lookup on a non-map: %v", err)
	}
}

func TestStrncmp(t *testing.T) {
	p, err := NewRawProgram("strncmp", rawProgram(
		encodeInsn(clsJMP|jmpCALL, 0, callHelper, 0, HelperStrncmp),
		encodeInsn(clsJMP|jmpEXIT, 0, 0, 0, 0)), nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		s1, s2 string
		n      uint64
		want   int64
		err    error
	}{
		{"secret\x00xx", "secret\x00", 16, 0, nil},
		{"secretive\x00", "secret\x00", 16, 1, nil},
		{"abc\x00", "abd\x00", 4, -1, nil},
		{"abc\x00", "abd\x00", 2, 0, nil},
		{"ab", "ab\x00", 2, 0, nil},
		{"", "x", 0, 0, nil},
		{"abcd", "abc", 4, 0, ErrOutOfBounds},   // s2 ends undecided
		{"ab", "abc\x00", 3, 0, ErrOutOfBounds}, // s1 shorter than n
	}
	for _, tt := range tests {
		r := p.NewRun()
		a, _ := r.MapBytes([]byte(tt.s1), ReadOnly)
		b, _ := r.MapBytes([]byte(tt.s2), ReadOnly)
		ret, err := r.Exec(a, tt.n, b)
		r.Release()
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("strncmp(%q, %d, %q): %v, want %v", tt.s1, tt.n, tt.s2, err, tt.err)
			}
			continue
		}
		if err != nil || int64(ret) != tt.want {
			t.Errorf("strncmp(%q, %d, %q) = %d, %v; want %d", tt.s1, tt.n, tt.s2, int64(ret), err, tt.want)
		}
	}
}

func TestExecNotReentrant(t *testing.T) {
	var inner error
	p, err := NewRawProgram("reenter", rawProgram(
		encodeInsn(clsJMP|jmpCALL, 0, callHelper, 0, 99),
		encodeInsn(clsJMP|jmpEXIT, 0, 0, 0, 0)), &Options{Helpers: map[int32]HelperFunc{
		99: func(r *Run, _, _, _, _, _ uint64) (uint64, error) {
			_, inner = r.Exec()
			return 7, nil
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ret, err := p.Exec()
	if err != nil || ret != 7 || !errors.Is(inner, ErrBadArgument) {
		t.Errorf("ret %d, err %v, nested Exec: %v", ret, err, inner)
	}
}
