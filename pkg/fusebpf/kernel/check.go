package kernel

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf/btf"
)

// abiCheck is the verdict on one BTF spec.
type abiCheck struct {
	// hasOps: the spec has STRUCT fuse_ops at all.
	hasOps bool
	// kfuncs is the kfunc name set found (KfuncsV3 or KfuncsDynptrFrom).
	kfuncs string
	// reasons the ABI is not intact; empty when it is.
	reasons []string
}

func (c *abiCheck) intact() bool { return c.hasOps && len(c.reasons) == 0 }

func (c *abiCheck) addf(format string, args ...any) {
	c.reasons = append(c.reasons, fmt.Sprintf(format, args...))
}

// checkABI compares spec with the Generation A ABI of abi.go: fuse_ops
// members in order with their prototypes, the value wrapper, the layouts
// of the structs callbacks receive, and one complete kfunc set.
func checkABI(spec *btf.Spec) *abiCheck {
	c := &abiCheck{}
	ops, err := findStruct(spec, OpsStruct)
	if err != nil {
		c.addf("no STRUCT %s in BTF: the kernel has no FUSE-BPF Generation A (RFC v3/v4) patches", OpsStruct)
		return c
	}
	c.hasOps = true

	checkValueWrapper(c, spec)
	checkOpsMembers(c, ops)
	for _, l := range layouts {
		if l.required {
			checkLayout(c, spec, l)
		}
	}
	checkKfuncs(c, spec)
	return c
}

func checkValueWrapper(c *abiCheck, spec *btf.Spec) {
	wrapper, err := findStruct(spec, OpsValueStruct)
	if err != nil {
		c.addf("no STRUCT %s: fuse_ops is not registered as a struct_ops type", OpsValueStruct)
		return
	}
	for _, m := range wrapper.Members {
		if s, ok := btf.As[*btf.Struct](m.Type); ok && s.Name == OpsStruct {
			return
		}
	}
	c.addf("%s has no member of type struct %s", OpsValueStruct, OpsStruct)
}

func checkOpsMembers(c *abiCheck, ops *btf.Struct) {
	want := opsMembers()
	byName := make(map[string]int, len(ops.Members))
	for i, m := range ops.Members {
		byName[m.Name] = i
	}
	for i, w := range want {
		idx, ok := byName[w.name]
		if !ok {
			c.addf("fuse_ops has no member %s", w.name)
			continue
		}
		if idx != i {
			c.addf("fuse_ops.%s is member #%d, want #%d", w.name, idx, i)
		}
		checkMemberProto(c, ops.Members[idx], w)
	}

	idx, ok := byName["name"]
	switch {
	case !ok:
		c.addf("fuse_ops has no member name")
	case idx != len(want):
		c.addf("fuse_ops.name is member #%d, want #%d", idx, len(want))
	default:
		arr, isArr := btf.As[*btf.Array](ops.Members[idx].Type)
		if !isArr || arr.Nelems != NameMax {
			c.addf("fuse_ops.name is not char[%d]", NameMax)
		}
	}
	if len(ops.Members) != len(want)+1 {
		c.addf("fuse_ops has %d members, want %d", len(ops.Members), len(want)+1)
	}
}

func checkMemberProto(c *abiCheck, m btf.Member, w memberProto) {
	ptr, ok := btf.As[*btf.Pointer](m.Type)
	if !ok {
		c.addf("fuse_ops.%s is not a function pointer", w.name)
		return
	}
	proto, ok := btf.As[*btf.FuncProto](ptr.Target)
	if !ok {
		c.addf("fuse_ops.%s is not a function pointer", w.name)
		return
	}
	if ret, ok := btf.As[*btf.Int](proto.Return); !ok || ret.Size != 4 {
		c.addf("fuse_ops.%s does not return a 32-bit integer", w.name)
	}
	if got, want := len(proto.Params), 1+len(w.params); got != want {
		c.addf("fuse_ops.%s takes %d parameters, want %d", w.name, got, want)
		return
	}
	for i, p := range proto.Params {
		want := metaStruct
		if i > 0 {
			want = w.params[i-1]
		}
		if got, ok := pointeeStructName(p.Type); !ok || got != want {
			c.addf("fuse_ops.%s parameter %d is not a pointer to struct %s", w.name, i, want)
		}
	}
}

func checkLayout(c *abiCheck, spec *btf.Spec, l layout) {
	s, err := findStruct(spec, l.name)
	if err != nil {
		c.addf("no STRUCT %s in BTF", l.name)
		return
	}
	if s.Size != l.size && (l.altSize == 0 || s.Size != l.altSize) {
		c.addf("struct %s is %d bytes, want %d", l.name, s.Size, l.size)
	}
	for _, want := range l.fields {
		m, ok := findMember(s, want)
		if !ok {
			if !want.optional {
				c.addf("struct %s has no field %s", l.name, want.name)
			}
			continue
		}
		size, err := btf.Sizeof(m.Type)
		if err != nil || m.BitfieldSize != 0 || m.Offset%8 != 0 ||
			m.Offset.Bytes() != want.off || uint32(size) != want.size {
			c.addf("struct %s field %s is %d bytes at offset %d, want %d at %d",
				l.name, want.name, size, m.Offset.Bytes(), want.size, want.off)
		}
	}
}

func findMember(s *btf.Struct, want field) (btf.Member, bool) {
	for _, m := range s.Members {
		if m.Name == want.name {
			return m, true
		}
		for _, alias := range want.aliases {
			if m.Name == alias {
				return m, true
			}
		}
	}
	return btf.Member{}, false
}

func checkKfuncs(c *abiCheck, spec *btf.Spec) {
	var missing []string
	for _, set := range kfuncSets {
		ro, errRO := findFunc(spec, set.ro)
		rw, errRW := findFunc(spec, set.rw)
		if errRO != nil || errRW != nil {
			if errRO != nil {
				missing = append(missing, set.ro)
			}
			if errRW != nil {
				missing = append(missing, set.rw)
			}
			continue
		}
		c.kfuncs = set.id
		checkKfuncProto(c, ro, roKfuncArity)
		checkKfuncProto(c, rw, rwKfuncArity)
		return
	}
	c.addf("no complete FUSE dynptr kfunc set in BTF (missing %v)", missing)
}

func checkKfuncProto(c *abiCheck, fn *btf.Func, arity int) {
	proto, ok := btf.As[*btf.FuncProto](fn.Type)
	if !ok {
		c.addf("kfunc %s has no prototype", fn.Name)
		return
	}
	if len(proto.Params) != arity {
		c.addf("kfunc %s takes %d parameters, want %d", fn.Name, len(proto.Params), arity)
		return
	}
	if name, ok := pointeeStructName(proto.Params[0].Type); !ok || name != bufferStruct {
		c.addf("kfunc %s parameter 0 is not a pointer to struct %s", fn.Name, bufferStruct)
	}
}

// findStruct returns the complete struct called name (not a forward
// declaration).
func findStruct(spec *btf.Spec, name string) (*btf.Struct, error) {
	types, err := spec.AnyTypesByName(name)
	if err != nil {
		return nil, err
	}
	for _, t := range types {
		if s, ok := t.(*btf.Struct); ok {
			return s, nil
		}
	}
	return nil, fmt.Errorf("struct %s: %w", name, btf.ErrNotFound)
}

func findFunc(spec *btf.Spec, name string) (*btf.Func, error) {
	var fn *btf.Func
	err := spec.TypeByName(name, &fn)
	if errors.Is(err, btf.ErrMultipleMatches) {
		types, _ := spec.AnyTypesByName(name)
		for _, t := range types {
			if f, ok := t.(*btf.Func); ok {
				return f, nil
			}
		}
	}
	return fn, err
}

// pointeeStructName returns the name of the struct a pointer parameter
// points to, looking through qualifiers and typedefs.
func pointeeStructName(t btf.Type) (string, bool) {
	ptr, ok := btf.As[*btf.Pointer](t)
	if !ok {
		return "", false
	}
	switch target := btf.UnderlyingType(ptr.Target).(type) {
	case *btf.Struct:
		return target.Name, true
	case *btf.Fwd:
		if target.Kind == btf.FwdStruct {
			return target.Name, true
		}
	}
	return "", false
}
