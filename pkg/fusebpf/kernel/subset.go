package kernel

import (
	"fmt"
	"maps"
	"slices"

	"github.com/cilium/ebpf/btf"
)

// MaxSubsetSize bounds the BTF subset a node publishes.
const MaxSubsetSize = 64 << 10

// Subset returns the part of spec a controller needs to check policies
// against this kernel, as raw BTF: fuse_ops and its value wrapper, the
// structs of the ABI with everything they embed, and the ABI's kfuncs.
// Pointers to any other struct or union become forward declarations, so
// the result stays small whatever the kernel's type graph looks like; the
// ABI's own structs stay complete, which is what CO-RE relocation of a
// policy needs. [Fingerprint] of the loaded subset equals that of spec.
//
// Subset returns nil, nil when spec has no fuse_ops, and an error wrapping
// [ErrSubsetTooLarge] above [MaxSubsetSize].
func Subset(spec *btf.Spec) ([]byte, error) {
	a, ok := collectABI(spec)
	if !ok {
		return nil, nil
	}

	keep := map[string]bool{OpsStruct: true, OpsValueStruct: true}
	for name := range a.structs {
		keep[name] = true
	}
	p := &pruner{keep: keep, memo: map[pruneKey]btf.Type{}, fwds: map[string]*btf.Fwd{}}

	roots := []btf.Type{a.ops}
	if a.wrapper != nil {
		roots = append(roots, a.wrapper)
	}
	for _, name := range slices.Sorted(maps.Keys(a.structs)) {
		roots = append(roots, a.structs[name])
	}
	for _, fn := range a.kfuncs {
		roots = append(roots, fn)
	}

	copies := make([]btf.Type, 0, len(roots))
	for _, t := range roots {
		c, err := p.copy(t, false)
		if err != nil {
			return nil, fmt.Errorf("btf subset: %w", err)
		}
		copies = append(copies, c)
	}

	b, err := btf.NewBuilder(copies, nil)
	if err != nil {
		return nil, fmt.Errorf("btf subset: %w", err)
	}
	raw, err := b.Marshal(nil, nil)
	if err != nil {
		return nil, fmt.Errorf("btf subset: marshal: %w", err)
	}
	if len(raw) > MaxSubsetSize {
		return nil, fmt.Errorf("btf subset: %d bytes: %w", len(raw), ErrSubsetTooLarge)
	}
	return raw, nil
}

type pruneKey struct {
	t         btf.Type
	byPointer bool
}

// pruner copies a type graph, replacing structs and unions that are
// reached through a pointer and not kept by forward declarations.
type pruner struct {
	keep map[string]bool
	memo map[pruneKey]btf.Type
	fwds map[string]*btf.Fwd
}

func (p *pruner) fwd(name string, kind btf.FwdKind) *btf.Fwd {
	key := kind.String() + " " + name
	if f, ok := p.fwds[key]; ok {
		return f
	}
	f := &btf.Fwd{Name: name, Kind: kind}
	p.fwds[key] = f
	return f
}

func (p *pruner) copy(t btf.Type, byPointer bool) (btf.Type, error) {
	key := pruneKey{t, byPointer}
	if c, ok := p.memo[key]; ok {
		return c, nil
	}
	var err error
	child := func(t btf.Type, byPointer bool) btf.Type {
		if err != nil {
			return nil
		}
		var c btf.Type
		c, err = p.copy(t, byPointer)
		return c
	}

	switch v := t.(type) {
	case *btf.Void:
		return v, nil
	case *btf.Int:
		c := *v
		p.memo[key] = &c
		return &c, nil
	case *btf.Float:
		c := *v
		p.memo[key] = &c
		return &c, nil
	case *btf.Fwd:
		return p.fwd(v.Name, v.Kind), nil
	case *btf.Enum:
		c := *v
		c.Values = slices.Clone(v.Values)
		p.memo[key] = &c
		return &c, nil
	case *btf.Pointer:
		c := &btf.Pointer{}
		p.memo[key] = c
		c.Target = child(v.Target, true)
		return c, err
	case *btf.Array:
		c := &btf.Array{Nelems: v.Nelems}
		p.memo[key] = c
		c.Index = child(v.Index, false)
		c.Type = child(v.Type, false)
		return c, err
	case *btf.Struct:
		if byPointer && v.Name != "" && !p.keep[v.Name] {
			return p.fwd(v.Name, btf.FwdStruct), nil
		}
		c := &btf.Struct{Name: v.Name, Size: v.Size, Tags: slices.Clone(v.Tags)}
		p.memo[key] = c
		c.Members = p.members(v.Members, child)
		return c, err
	case *btf.Union:
		if byPointer && v.Name != "" && !p.keep[v.Name] {
			return p.fwd(v.Name, btf.FwdUnion), nil
		}
		c := &btf.Union{Name: v.Name, Size: v.Size, Tags: slices.Clone(v.Tags)}
		p.memo[key] = c
		c.Members = p.members(v.Members, child)
		return c, err
	case *btf.Typedef:
		c := &btf.Typedef{Name: v.Name, Tags: slices.Clone(v.Tags)}
		p.memo[key] = c
		c.Type = child(v.Type, byPointer)
		return c, err
	case *btf.Const:
		c := &btf.Const{}
		p.memo[key] = c
		c.Type = child(v.Type, byPointer)
		return c, err
	case *btf.Volatile:
		c := &btf.Volatile{}
		p.memo[key] = c
		c.Type = child(v.Type, byPointer)
		return c, err
	case *btf.Restrict:
		c := &btf.Restrict{}
		p.memo[key] = c
		c.Type = child(v.Type, byPointer)
		return c, err
	case *btf.TypeTag:
		c := &btf.TypeTag{Value: v.Value}
		p.memo[key] = c
		c.Type = child(v.Type, byPointer)
		return c, err
	case *btf.FuncProto:
		c := &btf.FuncProto{}
		p.memo[key] = c
		c.Return = child(v.Return, false)
		for _, param := range v.Params {
			c.Params = append(c.Params, btf.FuncParam{Name: param.Name, Type: child(param.Type, false)})
		}
		return c, err
	case *btf.Func:
		c := &btf.Func{Name: v.Name, Linkage: v.Linkage, Tags: slices.Clone(v.Tags)}
		for _, tags := range v.ParamTags {
			c.ParamTags = append(c.ParamTags, slices.Clone(tags))
		}
		p.memo[key] = c
		c.Type = child(v.Type, false)
		return c, err
	default:
		return nil, fmt.Errorf("unexpected %T in the ABI's type graph", t)
	}
}

func (p *pruner) members(ms []btf.Member, child func(btf.Type, bool) btf.Type) []btf.Member {
	out := make([]btf.Member, len(ms))
	for i, m := range ms {
		out[i] = btf.Member{
			Name:         m.Name,
			Type:         child(m.Type, false),
			Offset:       m.Offset,
			BitfieldSize: m.BitfieldSize,
			Tags:         slices.Clone(m.Tags),
		}
	}
	return out
}
