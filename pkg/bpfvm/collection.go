package bpfvm

import (
	"fmt"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
)

// Collection is the interpreter's counterpart of an ebpf.Collection: the
// programs of one ELF object with their own maps and global data. Building a
// collection copies everything it needs from the spec, so the spec can be
// changed (for the next volume's parameters) afterwards; .rodata is frozen
// when the collection is built.
type Collection struct {
	// Programs by name. StructOps programs (section "struct_ops/<name>")
	// are included; Program.AttachTo names their struct member.
	Programs map[string]*Program
	// Maps by name, including the data sections (".rodata", ".data",
	// ".bss", ...) as single-element arrays.
	Maps map[string]*Map
}

// NewCollection builds a collection from a spec, typically the result of
// ebpf.LoadCollectionSpec. Global variables are taken from spec.Variables
// (set them with VariableSpec.Set first); every program is checked and
// linked, and every map of a supported type is created. Maps of other types
// (for example the struct_ops map itself) are skipped unless a program
// references them, which is an error.
func NewCollection(spec *ebpf.CollectionSpec, opts *Options) (*Collection, error) {
	if spec.ByteOrder != nil && spec.ByteOrder.String() != "LittleEndian" {
		return nil, fmt.Errorf("collection: %w: byte order %v", ErrNotSupported, spec.ByteOrder)
	}
	e := newEnv(opts)
	coll := &Collection{
		Programs: make(map[string]*Program, len(spec.Programs)),
		Maps:     make(map[string]*Map, len(spec.Maps)),
	}

	names := make([]string, 0, len(spec.Maps))
	for name := range spec.Maps {
		names = append(names, name)
	}
	slices.Sort(names) // deterministic handles and region ids
	for _, name := range names {
		ms := spec.Maps[name]
		if !supportedMapType(ms.Type) {
			continue
		}
		if isDataSection(name) {
			var err error
			if ms, err = withVariables(spec, name, ms); err != nil {
				return nil, fmt.Errorf("collection: %w", err)
			}
		}
		m, err := NewMap(ms)
		if err != nil {
			return nil, fmt.Errorf("collection: %w", err)
		}
		m.name = name
		e.addMap(name, m)
		coll.Maps[name] = m
	}

	for name, ps := range spec.Programs {
		p, err := loadProgram(ps, e)
		if err != nil {
			return nil, fmt.Errorf("collection: %w", err)
		}
		coll.Programs[name] = p
	}
	return coll, nil
}

func supportedMapType(t ebpf.MapType) bool {
	switch t {
	case ebpf.Array, ebpf.PerCPUArray, ebpf.Hash, ebpf.PerCPUHash,
		ebpf.LRUHash, ebpf.LRUCPUHash, ebpf.RingBuf:
		return true
	}
	return false
}

func isDataSection(name string) bool {
	return name == ".bss" || strings.HasPrefix(name, ".data") || strings.HasPrefix(name, ".rodata")
}

// withVariables returns a copy of a data section's spec whose contents carry
// the current values of the spec's variables in that section, as
// cilium/ebpf does when it loads a collection.
func withVariables(spec *ebpf.CollectionSpec, name string, ms *ebpf.MapSpec) (*ebpf.MapSpec, error) {
	cpy := ms.Copy()
	var data []byte
	if len(ms.Contents) > 0 {
		b, ok := ms.Contents[0].Value.([]byte)
		if !ok {
			return nil, fmt.Errorf("data section %s: contents are %T, not bytes", name, ms.Contents[0].Value)
		}
		data = slices.Clone(b)
	}
	if len(data) < int(ms.ValueSize) {
		data = append(data, make([]byte, int(ms.ValueSize)-len(data))...)
	}
	for _, v := range spec.Variables {
		if v.SectionName != name || v.Value == nil {
			continue
		}
		end := uint64(v.Offset) + uint64(len(v.Value))
		if end > uint64(len(data)) {
			return nil, fmt.Errorf("data section %s: variable %s exceeds the section", name, v.Name)
		}
		copy(data[v.Offset:end], v.Value)
	}
	cpy.Contents = []ebpf.MapKV{{Key: uint32(0), Value: data}}
	return cpy, nil
}
