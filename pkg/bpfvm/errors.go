package bpfvm

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
)

// Sentinel errors. Load-time problems wrap ErrInvalidProgram (through an
// *InstructionError when one instruction is to blame) or ErrNotSupported;
// run-time problems are returned as a *RunError whose Err is one of the
// run-time sentinels below, so callers test them with errors.Is.
var (
	// ErrInvalidProgram means the bytecode is malformed: an unknown opcode,
	// a non-zero reserved field, a jump or call out of range, a broken wide
	// instruction or a write to the read-only frame pointer.
	ErrInvalidProgram = errors.New("invalid program")
	// ErrNotSupported means the input uses a feature this interpreter does
	// not implement (legacy packet loads, callx, a map type, ...). It wraps
	// cilium/ebpf's ErrNotSupported so both sentinels match.
	ErrNotSupported = fmt.Errorf("bpfvm: %w", ebpf.ErrNotSupported)
	// ErrUnknownHelper means a program calls a helper number that neither the
	// interpreter nor the embedder provides. Reported at load.
	ErrUnknownHelper = errors.New("unknown helper")
	// ErrUnknownKfunc means a program calls a kfunc name that the embedder
	// did not register. Reported at load.
	ErrUnknownKfunc = errors.New("unknown kfunc")
	// ErrUnknownMap means a program references a map or data section that is
	// not part of the collection. Reported at load.
	ErrUnknownMap = errors.New("unknown map")

	// ErrOutOfBounds means a load, store or helper access touched guest memory
	// outside every mapped region (including a NULL dereference).
	ErrOutOfBounds = errors.New("memory access out of bounds")
	// ErrReadOnly means the program (or a helper on its behalf) wrote to a
	// read-only region such as .rodata or a read-only argument buffer.
	ErrReadOnly = errors.New("write to read-only memory")
	// ErrMisaligned means an atomic instruction used an address that is not
	// aligned to its operand size.
	ErrMisaligned = errors.New("misaligned atomic access")
	// ErrBudget means the run executed more instructions than its budget.
	ErrBudget = errors.New("instruction budget exceeded")
	// ErrCallDepth means a bpf-to-bpf call would exceed MaxCallDepth frames.
	ErrCallDepth = errors.New("call depth exceeded")
	// ErrHelper marks a run that ended because a helper or kfunc returned a
	// Go error; the helper's own error is wrapped as well.
	ErrHelper = errors.New("helper failed")
	// ErrTooManyRegions means a run mapped more than MaxRunRegions regions.
	ErrTooManyRegions = errors.New("too many memory regions")
	// ErrInvalidDynptr means a helper was handed a bpf_dynptr that was never
	// initialised by this run (or was forged by the program).
	ErrInvalidDynptr = errors.New("invalid dynptr")
	// ErrInternal means the interpreter caught one of its own bugs; the run
	// was stopped instead of crashing the process. Please report it.
	ErrInternal = errors.New("internal interpreter error")

	// ErrKeyNotExist is returned by Map methods for a missing key. It is
	// cilium/ebpf's sentinel, so code written against kernel maps keeps working.
	ErrKeyNotExist = ebpf.ErrKeyNotExist
	// ErrKeyExist is returned by Map.Update with UpdateNoExist for a present key.
	ErrKeyExist = ebpf.ErrKeyExist
	// ErrMapFull is returned by Map.Update when a non-LRU map has no free slot
	// (the kernel's E2BIG).
	ErrMapFull = errors.New("map full")
	// ErrBadArgument is returned by Map methods for a key or value of the wrong
	// size, unknown flags, or an operation the map type does not support.
	ErrBadArgument = errors.New("bad argument")
)

// InstructionError is a load-time error that names the offending
// instruction by its slot index (the position in 8-byte units, as jump
// offsets count, so a wide lddw occupies two slots).
type InstructionError struct {
	Index  int    // slot index of the instruction
	Opcode uint8  // raw opcode byte
	Reason string // what is wrong with it
	Err    error  // ErrInvalidProgram, ErrNotSupported, ErrUnknownHelper, ...
}

// Error describes the instruction and the problem.
func (e *InstructionError) Error() string {
	return fmt.Sprintf("instruction %d (opcode %#02x): %s: %v", e.Index, e.Opcode, e.Reason, e.Err)
}

// Unwrap returns the sentinel classifying the error.
func (e *InstructionError) Unwrap() error { return e.Err }

// RunError ends a run that did not reach its final exit. PC is the slot
// index of the instruction that failed.
type RunError struct {
	PC   int    // slot index of the faulting instruction
	Addr uint64 // guest address of a memory fault (0 otherwise)
	Size int    // access size of a memory fault (0 otherwise)
	Err  error  // one of the run-time sentinels, or a *HelperError
}

// Error describes where the run stopped and why.
func (e *RunError) Error() string {
	if e.Size != 0 {
		return fmt.Sprintf("bpfvm: instruction %d: %d-byte access at %#x: %v", e.PC, e.Size, e.Addr, e.Err)
	}
	return fmt.Sprintf("bpfvm: instruction %d: %v", e.PC, e.Err)
}

// Unwrap returns the cause.
func (e *RunError) Unwrap() error { return e.Err }

// HelperError is the cause of a RunError when a helper or kfunc returned a
// Go error. It matches both ErrHelper and the helper's own error.
type HelperError struct {
	Name string // helper name or "helper #N"
	Err  error
}

// Error names the helper and its error.
func (e *HelperError) Error() string { return fmt.Sprintf("%s: %v", e.Name, e.Err) }

// Unwrap lets errors.Is see both ErrHelper and the helper's error.
func (e *HelperError) Unwrap() []error { return []error{ErrHelper, e.Err} }
