package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// Errors returned by this package. Every error wraps one of these, so the
// CSI layer can map them to status codes.
var (
	// ErrInvalidObject means the bytes are not a usable policy object:
	// not ELF, no BTF, no or several fuse_ops instances, a callback on an
	// unknown member, a non-GPL license, a helper or kfunc outside the
	// allow-list, or over a size limit.
	ErrInvalidObject = errors.New("invalid policy object")
	// ErrInvalidParameter means a parameter is unknown, ill-typed or too
	// large for the object's variable.
	ErrInvalidParameter = errors.New("invalid policy parameter")
	// ErrUnknownBuiltin means no built-in policy has the name.
	ErrUnknownBuiltin = errors.New("unknown built-in policy")
)

// Limits every policy object must respect.
const (
	// MaxObjectSize bounds the ELF a FilterPolicy may carry.
	MaxObjectSize = 1 << 20
	// MaxInstructions bounds each program.
	MaxInstructions = 64 << 10
	// MaxMapBytes bounds the memory one map may ask for.
	MaxMapBytes = 16 << 20
)

// OpsStruct is the struct_ops type a policy implements.
const OpsStruct = "fuse_ops"

// Callback is one program of a policy and the fuse_ops member it fills.
type Callback struct {
	Op      Op
	Post    bool
	Program string
}

// Member returns the fuse_ops member name, e.g. "lookup_prefilter".
func (c Callback) Member() string { return c.Op.Member(c.Post) }

// Policy is a parsed and statically checked policy object. It is
// immutable; [Policy.Spec] hands out copies.
type Policy struct {
	// Name is the fuse_ops instance's variable name in the object.
	Name string
	// Digest is the SHA-256 of the ELF bytes, hex encoded.
	Digest string
	// Callbacks lists the filled members in fuse_ops member order.
	Callbacks []Callback
	// Params is the parameter schema, sorted by name.
	Params []Param
	// Kfuncs lists the kfuncs the programs call, sorted.
	Kfuncs []string

	spec *ebpf.CollectionSpec
	elf  []byte
}

// Load parses a policy object and runs the static checks of
// ARCHITECTURE.md §4 layer 1.
func Load(elf []byte) (*Policy, error) {
	if len(elf) > MaxObjectSize {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrInvalidObject, len(elf), MaxObjectSize)
	}
	if !bytes.HasPrefix(elf, []byte("\x7fELF")) {
		return nil, fmt.Errorf("%w: not an ELF file", ErrInvalidObject)
	}
	spec, err := ebpf.LoadCollectionSpecFromReader(bytes.NewReader(elf))
	if err != nil {
		return nil, fmt.Errorf("%w: not a readable BPF object (truncated or corrupt?): %v", ErrInvalidObject, err)
	}
	sum := sha256.Sum256(elf)
	p := &Policy{Digest: hex.EncodeToString(sum[:]), spec: spec, elf: bytes.Clone(elf)}
	if err := p.check(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidObject, err)
	}
	if p.Params, err = schema(spec); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidObject, err)
	}
	return p, nil
}

// ELF returns the object's bytes.
func (p *Policy) ELF() []byte { return bytes.Clone(p.elf) }

// Spec returns a deep copy of the object's collection spec.
func (p *Policy) Spec() *ebpf.CollectionSpec { return p.spec.Copy() }

// Has reports whether the policy fills a member.
func (p *Policy) Has(op Op, post bool) bool {
	for _, c := range p.Callbacks {
		if c.Op == op && c.Post == post {
			return true
		}
	}
	return false
}

func (p *Policy) check() error {
	var ops []string
	for name, m := range p.spec.Maps {
		if m.Type == ebpf.StructOpsMap {
			ops = append(ops, name)
			continue
		}
		if sz := uint64(m.KeySize+m.ValueSize) * uint64(max(m.MaxEntries, 1)); m.Type != ebpf.RingBuf && sz > MaxMapBytes {
			return fmt.Errorf("map %s: %d bytes, at most %d", name, sz, MaxMapBytes)
		}
		if m.Type == ebpf.RingBuf && m.MaxEntries > MaxMapBytes {
			return fmt.Errorf("ring buffer %s: %d bytes, at most %d", name, m.MaxEntries, MaxMapBytes)
		}
		if !allowedMapTypes[m.Type] {
			return fmt.Errorf("map %s: type %v is not supported", name, m.Type)
		}
	}
	if len(ops) != 1 {
		return fmt.Errorf("want exactly one struct_ops instance in .struct_ops.link, found %d", len(ops))
	}
	ms := p.spec.Maps[ops[0]]
	if ms.Value == nil || ms.Value.TypeName() != OpsStruct {
		return fmt.Errorf("struct_ops instance %s is not a struct %s", ops[0], OpsStruct)
	}
	p.Name = ops[0]

	seen := map[string]string{}
	kfuncs := map[string]bool{}
	for name, prog := range p.spec.Programs {
		if prog.Type != ebpf.StructOps {
			return fmt.Errorf("program %s: type %v, want struct_ops", name, prog.Type)
		}
		if prog.License != "GPL" && prog.License != "GPL v2" && prog.License != "Dual MIT/GPL" && prog.License != "Dual BSD/GPL" {
			return fmt.Errorf("program %s: license %q is not GPL-compatible (the kfuncs are GPL-only)", name, prog.License)
		}
		stName, member, ok := strings.Cut(prog.AttachTo, ":")
		if !ok || stName != OpsStruct {
			return fmt.Errorf("program %s: not assigned to a %s member", name, OpsStruct)
		}
		op, post, ok := OpByMember(member)
		if !ok {
			return fmt.Errorf("program %s: %s has no member %q", name, OpsStruct, member)
		}
		if other, dup := seen[member]; dup {
			return fmt.Errorf("programs %s and %s both fill %s", other, name, member)
		}
		seen[member] = name
		p.Callbacks = append(p.Callbacks, Callback{Op: op, Post: post, Program: name})
		if n := len(prog.Instructions); n > MaxInstructions {
			return fmt.Errorf("program %s: %d instructions, at most %d", name, n, MaxInstructions)
		}
		for i, ins := range prog.Instructions {
			switch {
			case ins.IsKfuncCall():
				ref := ins.Reference()
				if !AllowedKfuncs[ref] {
					return fmt.Errorf("program %s: instruction %d calls kfunc %q, which policies may not use", name, i, ref)
				}
				kfuncs[ref] = true
			case ins.IsBuiltinCall():
				if !AllowedHelpers[asm.BuiltinFunc(ins.Constant)] {
					return fmt.Errorf("program %s: instruction %d calls helper %v, which policies may not use", name, i, asm.BuiltinFunc(ins.Constant))
				}
			}
		}
	}
	sort.Slice(p.Callbacks, func(i, j int) bool {
		a, b := p.Callbacks[i], p.Callbacks[j]
		if a.Op != b.Op {
			return a.Op < b.Op
		}
		return !a.Post && b.Post
	})
	for k := range kfuncs {
		p.Kfuncs = append(p.Kfuncs, k)
	}
	sort.Strings(p.Kfuncs)
	return nil
}

var allowedMapTypes = map[ebpf.MapType]bool{
	ebpf.Array: true, ebpf.Hash: true, ebpf.LRUHash: true,
	ebpf.PerCPUArray: true, ebpf.PerCPUHash: true, ebpf.LRUCPUHash: true,
	ebpf.RingBuf: true,
}

// AllowedHelpers are the BPF helpers a policy may call: what FUSE-BPF
// struct_ops programs get (bpf_base_func_proto, FUSE-BPF-ABI.md §1.6)
// and the userspace tier implements.
var AllowedHelpers = map[asm.BuiltinFunc]bool{
	asm.FnMapLookupElem:     true,
	asm.FnMapUpdateElem:     true,
	asm.FnMapDeleteElem:     true,
	asm.FnKtimeGetNs:        true,
	asm.FnTracePrintk:       true,
	asm.FnGetCurrentUidGid:  true,
	asm.FnGetCurrentPidTgid: true,
	asm.FnStrncmp:           true,
	asm.FnRingbufOutput:     true,
	asm.FnRingbufReserve:    true,
	asm.FnRingbufSubmit:     true,
	asm.FnRingbufDiscard:    true,
	asm.FnDynptrFromMem:     true,
	asm.FnDynptrRead:        true,
	asm.FnDynptrWrite:       true,
	asm.FnDynptrData:        true,
	asm.FnGetPrandomU32:     true,
	asm.FnGetSmpProcessorId: true,
	asm.FnKtimeGetBootNs:    true,
	asm.FnKtimeGetCoarseNs:  true,
}

// AllowedKfuncs are the kfuncs a policy may call: both FUSE name sets of
// FUSE-BPF-ABI.md §1.6 and the generic dynptr kfuncs.
var AllowedKfuncs = map[string]bool{
	"bpf_fuse_get_ro_dynptr":         true,
	"bpf_fuse_get_rw_dynptr":         true,
	"bpf_fuse_return_len":            true,
	"bpf_dynptr_from_fuse_buffer_ro": true,
	"bpf_dynptr_from_fuse_buffer_rw": true,
	"bpf_dynptr_slice":               true,
	"bpf_dynptr_slice_rdwr":          true,
	"bpf_dynptr_size":                true,
}
