package bpfvm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// Options configure how programs are loaded and what they can call.
type Options struct {
	// Helpers adds helpers by number, or replaces the interpreter's own
	// implementation of a number.
	Helpers map[int32]HelperFunc
	// Kfuncs adds kfuncs by name, or replaces a built-in dynptr kfunc.
	Kfuncs map[string]HelperFunc
	// Budget is the default per-run instruction budget (DefaultBudget if 0).
	Budget uint64
	// Trace receives the lines of bpf_trace_printk / bpf_printk. Nil
	// discards them.
	Trace func(r *Run, msg string)
	// Clock returns bpf_ktime_get_ns in nanoseconds; nil uses a monotonic
	// clock.
	Clock func() uint64
}

// env is what all programs of a collection share.
type env struct {
	maps    []*Map
	byName  map[string]*Map
	static  []region
	trace   func(*Run, string)
	clock   func() uint64
	budget  uint64
	helpers map[int32]boundFunc
	kfuncs  map[string]HelperFunc
}

func newEnv(opts *Options) *env {
	if opts == nil {
		opts = &Options{}
	}
	e := &env{
		byName:  make(map[string]*Map),
		trace:   opts.Trace,
		clock:   opts.Clock,
		budget:  opts.Budget,
		helpers: make(map[int32]boundFunc, len(builtinHelpers)+len(opts.Helpers)),
		kfuncs:  make(map[string]HelperFunc, len(builtinKfuncs)+len(opts.Kfuncs)),
	}
	if e.budget == 0 {
		e.budget = DefaultBudget
	}
	for n, b := range builtinHelpers {
		e.helpers[n] = boundFunc(b)
	}
	for n, fn := range opts.Helpers {
		name := fmt.Sprintf("helper #%d", n)
		if b, ok := builtinHelpers[n]; ok {
			name = b.name
		}
		e.helpers[n] = boundFunc{name: name, fn: fn}
	}
	for name, fn := range builtinKfuncs {
		e.kfuncs[name] = fn
	}
	for name, fn := range opts.Kfuncs {
		e.kfuncs[name] = fn
	}
	return e
}

// addMap registers m: it gets a handle and, if it has value storage, a
// static region.
func (e *env) addMap(name string, m *Map) {
	m.handle = uint64(regionMapPtrs)<<32 | uint64(len(e.maps))
	e.maps = append(e.maps, m)
	e.byName[name] = m
	if m.data != nil {
		m.regionID = uint32(firstStatic + len(e.static))
		e.static = append(e.static, m.region())
	}
}

// Program is a loaded, checked program. It is immutable and safe for
// concurrent use: each execution uses its own Run.
type Program struct {
	name        string
	sectionName string
	attachTo    string
	typ         ebpf.ProgramType

	code   []insn
	funcs  []boundFunc
	env    *env
	budget uint64
	pool   sync.Pool
}

// Name returns the program's name (its function name for ELF programs).
func (p *Program) Name() string { return p.name }

// SectionName returns the ELF section the program came from, such as
// "struct_ops/lookup_prefilter".
func (p *Program) SectionName() string { return p.sectionName }

// AttachTo returns the spec's AttachTo; for struct_ops programs cilium/ebpf
// sets it to "<struct>:<member>".
func (p *Program) AttachTo() string { return p.attachTo }

// Type returns the program type from the spec.
func (p *Program) Type() ebpf.ProgramType { return p.typ }

// Len returns the program length in instruction slots.
func (p *Program) Len() int { return len(p.code) }

// NewRun returns a Run for this program from its pool. Hand it back with
// Release when done.
func (p *Program) NewRun() *Run {
	r := p.pool.Get().(*Run)
	r.budget = p.budget
	return r
}

// Exec runs the program once with args in R1-R5 on a pooled Run, for
// programs that need no mapped memory.
func (p *Program) Exec(args ...uint64) (uint64, error) {
	r := p.NewRun()
	defer r.Release()
	return r.Exec(args...)
}

func newProgram(name string, code []insn, funcs []boundFunc, e *env) *Program {
	p := &Program{name: name, code: code, funcs: funcs, env: e, budget: e.budget}
	p.pool.New = func() any { return newRun(p) }
	return p
}

// NewRawProgram loads bytecode: little-endian 8-byte instruction slots as
// the kernel takes them. Helpers are resolved by number through opts;
// kfunc calls and map references need a collection and are rejected.
func NewRawProgram(name string, bytecode []byte, opts *Options) (*Program, error) {
	return newRawProgram(name, bytecode, opts, true)
}

func newRawProgram(name string, bytecode []byte, opts *Options, superinstructions bool) (*Program, error) {
	e := newEnv(opts)
	l := &progLinker{env: e}
	code, err := decode(bytecode, l)
	if err != nil {
		return nil, fmt.Errorf("program %s: %w", name, err)
	}
	if superinstructions {
		fuse(code)
	}
	return newProgram(name, code, l.funcs, e), nil
}

// NewProgram loads a program spec without a collection: it may call helpers
// and kfuncs but not reference maps or global data.
func NewProgram(spec *ebpf.ProgramSpec, opts *Options) (*Program, error) {
	return loadProgram(spec, newEnv(opts))
}

func loadProgram(spec *ebpf.ProgramSpec, e *env) (*Program, error) {
	code, refs, err := marshalSpec(spec)
	if err != nil {
		return nil, fmt.Errorf("program %s: %w", spec.Name, err)
	}
	l := &progLinker{env: e, refs: refs}
	prog, err := decode(code, l)
	if err != nil {
		return nil, fmt.Errorf("program %s: %w", spec.Name, err)
	}
	fuse(prog)
	p := newProgram(spec.Name, prog, l.funcs, e)
	p.sectionName = spec.SectionName
	p.attachTo = spec.AttachTo
	p.typ = spec.Type
	return p, nil
}

// marshalSpec encodes a spec's instructions (bpf-to-bpf calls and jumps to
// symbols resolved) and returns the references left for the linker, keyed
// by slot: map and data section names of lddw, kfunc names of calls.
func marshalSpec(spec *ebpf.ProgramSpec) ([]byte, map[int]string, error) {
	if spec.ByteOrder != nil && spec.ByteOrder != binary.LittleEndian {
		return nil, nil, fmt.Errorf("%w: byte order %v", ErrNotSupported, spec.ByteOrder)
	}
	insns := slices.Clone(spec.Instructions)
	refs := make(map[int]string)
	iter := insns.Iterate()
	for iter.Next() {
		ins := iter.Ins
		ref := ins.Reference()
		if ref == "" {
			continue
		}
		slot := int(iter.Offset)
		switch {
		case ins.IsKfuncCall():
			refs[slot] = ref
		case ins.OpCode.IsDWordLoad() && (ins.Src == asm.PseudoMapFD || ins.Src == asm.PseudoMapValue):
			refs[slot] = ref
		case ins.OpCode.IsDWordLoad() && ins.Src == asm.R0:
			return nil, nil, &InstructionError{Index: slot, Opcode: byte(ins.OpCode),
				Reason: fmt.Sprintf("load of extern symbol %q (ksym or kconfig)", ref), Err: ErrNotSupported}
		}
	}
	var buf bytes.Buffer
	if err := insns.Marshal(&buf, binary.LittleEndian); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrInvalidProgram, err)
	}
	return buf.Bytes(), refs, nil
}

// progLinker binds one program's external references.
type progLinker struct {
	env   *env
	refs  map[int]string
	funcs []boundFunc
	index map[string]int32
}

func (l *progLinker) bind(name string, fn HelperFunc) int32 {
	if i, ok := l.index[name]; ok {
		return i
	}
	if l.index == nil {
		l.index = make(map[string]int32)
	}
	l.funcs = append(l.funcs, boundFunc{name: name, fn: fn})
	i := int32(len(l.funcs) - 1)
	l.index[name] = i
	return i
}

func (l *progLinker) helper(_ int, num int32) (int32, error) {
	b, ok := l.env.helpers[num]
	if !ok {
		return 0, ErrUnknownHelper
	}
	return l.bind(b.name, b.fn), nil
}

func (l *progLinker) kfunc(slot int, _ int32, _ int16) (int32, error) {
	name, ok := l.refs[slot]
	if !ok {
		return 0, fmt.Errorf("%w: call by BTF id without a name", ErrUnknownKfunc)
	}
	fn, ok := l.env.kfuncs[name]
	if !ok {
		return 0, fmt.Errorf("%w: %s", ErrUnknownKfunc, name)
	}
	return l.bind(name, fn), nil
}

func (l *progLinker) ldImm64(slot int, src uint8, _, next uint32) (uint64, error) {
	switch src {
	case pseudoMapFD, pseudoMapValue:
	case pseudoFunc:
		return 0, fmt.Errorf("%w: function pointers (callbacks)", ErrNotSupported)
	default:
		return 0, fmt.Errorf("%w: lddw source %d", ErrNotSupported, src)
	}
	name, ok := l.refs[slot]
	if !ok {
		return 0, fmt.Errorf("%w: map by file descriptor", ErrUnknownMap)
	}
	m, ok := l.env.byName[name]
	if !ok {
		return 0, fmt.Errorf("%w: %s", ErrUnknownMap, name)
	}
	if src == pseudoMapFD {
		return m.handle, nil
	}
	if m.data == nil || m.hash != nil {
		return 0, fmt.Errorf("%w: direct value access to %s map %s", ErrInvalidProgram, m.typ, name)
	}
	if next >= m.valueSize {
		return 0, fmt.Errorf("%w: offset %d beyond value of %s (%d bytes)", ErrInvalidProgram, next, name, m.valueSize)
	}
	return uint64(m.regionID)<<32 | uint64(next), nil
}

var _ linker = (*progLinker)(nil)
