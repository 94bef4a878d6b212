package policy

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// ParamKind is the type of a policy parameter.
type ParamKind string

// The parameter kinds a policy object can declare.
const (
	KindInt        ParamKind = "int"        // signed integer of Size bytes
	KindUint       ParamKind = "uint"       // unsigned integer of Size bytes
	KindBool       ParamKind = "bool"       // _Bool / bool
	KindString     ParamKind = "string"     // char[Size], NUL-terminated
	KindStringList ParamKind = "stringList" // char[Elems][Size] plus <name>Count
	KindUintList   ParamKind = "uintList"   // u32/u64[Elems] plus <name>Count
)

// Param describes one parameter: a `const volatile` global in .rodata.
// Lists are arrays with a companion `<name>Count` variable holding how
// many elements are set; the companion is not a parameter of its own.
type Param struct {
	Name string
	Kind ParamKind
	// Size is the byte size of the value (of one element for lists; for
	// strings it includes the terminating NUL).
	Size int
	// Elems is the capacity of a list.
	Elems int
	// Default is the object's initial value, in the string form Apply takes.
	Default string

	countVar string
}

// Describe renders the type for humans, e.g. "stringList[32] of char[64]".
func (p Param) Describe() string {
	switch p.Kind {
	case KindString:
		return fmt.Sprintf("string (at most %d bytes)", p.Size-1)
	case KindStringList:
		return fmt.Sprintf("list of at most %d strings of at most %d bytes, comma-separated", p.Elems, p.Size-1)
	case KindUintList:
		return fmt.Sprintf("list of at most %d unsigned %d-bit integers, comma-separated", p.Elems, 8*p.Size)
	case KindInt:
		return fmt.Sprintf("signed %d-bit integer", 8*p.Size)
	case KindUint:
		return fmt.Sprintf("unsigned %d-bit integer", 8*p.Size)
	}
	return string(p.Kind)
}

const countSuffix = "Count"

// schema reads the parameters from the .rodata variables' BTF.
func schema(spec *ebpf.CollectionSpec) ([]Param, error) {
	vars := map[string]*ebpf.VariableSpec{}
	for name, v := range spec.Variables {
		if v.SectionName == ".rodata" && v.Type != nil {
			vars[name] = v
		}
	}
	var params []Param
	for name, v := range vars {
		if strings.HasSuffix(name, countSuffix) && vars[strings.TrimSuffix(name, countSuffix)] != nil {
			continue
		}
		p, err := paramOf(name, v)
		if err != nil {
			return nil, err
		}
		if p.Kind == KindStringList || p.Kind == KindUintList {
			cv := vars[name+countSuffix]
			if cv == nil {
				// An array without a count is a fixed-size list; treat a
				// char array as a string, refuse anything else.
				return nil, fmt.Errorf("parameter %s: an array needs a companion %s%s variable", name, name, countSuffix)
			}
			if ck, err := paramOf(name+countSuffix, cv); err != nil || ck.Kind != KindUint {
				return nil, fmt.Errorf("parameter %s: %s%s must be an unsigned integer", name, name, countSuffix)
			}
			p.countVar = name + countSuffix
		}
		p.Default = defaultOf(p, v, vars)
		params = append(params, p)
	}
	sort.Slice(params, func(i, j int) bool { return params[i].Name < params[j].Name })
	return params, nil
}

func paramOf(name string, v *ebpf.VariableSpec) (Param, error) {
	t := btf.UnderlyingType(v.Type.Type)
	switch t := t.(type) {
	case *btf.Int:
		switch {
		case t.Encoding == btf.Bool:
			return Param{Name: name, Kind: KindBool, Size: int(t.Size)}, nil
		case t.Encoding == btf.Signed:
			return Param{Name: name, Kind: KindInt, Size: int(t.Size)}, nil
		default:
			return Param{Name: name, Kind: KindUint, Size: int(t.Size)}, nil
		}
	case *btf.Array:
		elem := btf.UnderlyingType(t.Type)
		if isChar(elem) {
			return Param{Name: name, Kind: KindString, Size: int(t.Nelems)}, nil
		}
		if inner, ok := elem.(*btf.Array); ok && isChar(btf.UnderlyingType(inner.Type)) {
			return Param{Name: name, Kind: KindStringList, Size: int(inner.Nelems), Elems: int(t.Nelems)}, nil
		}
		if i, ok := elem.(*btf.Int); ok && i.Encoding != btf.Signed && (i.Size == 4 || i.Size == 8) {
			return Param{Name: name, Kind: KindUintList, Size: int(i.Size), Elems: int(t.Nelems)}, nil
		}
	}
	return Param{}, fmt.Errorf("parameter %s: unsupported type %v", name, v.Type.Type)
}

func isChar(t btf.Type) bool {
	i, ok := t.(*btf.Int)
	return ok && i.Size == 1 && i.Encoding != btf.Bool
}

func defaultOf(p Param, v *ebpf.VariableSpec, vars map[string]*ebpf.VariableSpec) string {
	b := v.Value
	if len(b) == 0 {
		b = make([]byte, v.Size())
	}
	switch p.Kind {
	case KindBool:
		return strconv.FormatBool(b[0] != 0)
	case KindInt:
		return strconv.FormatInt(readInt(b, p.Size, true), 10)
	case KindUint:
		return strconv.FormatUint(uint64(readInt(b, p.Size, false)), 10)
	case KindString:
		return cstr(b)
	}
	n := 0
	if cv := vars[p.countVar]; cv != nil && len(cv.Value) > 0 {
		n = int(readInt(cv.Value, len(cv.Value), false))
	}
	var elems []string
	for i := 0; i < n && i < p.Elems; i++ {
		e := b[i*p.Size : (i+1)*p.Size]
		if p.Kind == KindStringList {
			elems = append(elems, cstr(e))
		} else {
			elems = append(elems, strconv.FormatUint(uint64(readInt(e, p.Size, false)), 10))
		}
	}
	return strings.Join(elems, ",")
}

func cstr(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return string(b[:i])
	}
	return string(b)
}

func readInt(b []byte, size int, signed bool) int64 {
	var u uint64
	switch size {
	case 1:
		u = uint64(b[0])
		if signed {
			return int64(int8(b[0]))
		}
	case 2:
		u = uint64(binary.LittleEndian.Uint16(b))
		if signed {
			return int64(int16(u))
		}
	case 4:
		u = uint64(binary.LittleEndian.Uint32(b))
		if signed {
			return int64(int32(u))
		}
	default:
		u = binary.LittleEndian.Uint64(b)
	}
	return int64(u)
}

// Param returns the schema entry of a parameter.
func (p *Policy) Param(name string) (Param, bool) {
	for _, pp := range p.Params {
		if pp.Name == name {
			return pp, true
		}
	}
	return Param{}, false
}

// Values are parameter values keyed by name, in their string forms.
type Values map[string]string

// Validate checks values against the schema without applying them.
func (p *Policy) Validate(values Values) error {
	_, err := p.apply(values)
	return err
}

// Apply returns a copy of the object's spec with the parameters set. The
// error names the offending parameter and wraps ErrInvalidParameter.
func (p *Policy) Apply(values Values) (*ebpf.CollectionSpec, error) {
	return p.apply(values)
}

func (p *Policy) apply(values Values) (*ebpf.CollectionSpec, error) {
	spec := p.spec.Copy()
	names := make([]string, 0, len(values))
	for n := range values {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		val := values[name]
		pp, ok := p.Param(name)
		if !ok {
			known := make([]string, 0, len(p.Params))
			for _, k := range p.Params {
				known = append(known, k.Name)
			}
			return nil, fmt.Errorf("%w: policy has no parameter %q (it has: %s)", ErrInvalidParameter, name, strings.Join(known, ", "))
		}
		enc, count, err := encode(pp, val)
		if err != nil {
			return nil, fmt.Errorf("%w: parameter %q (%s): %v", ErrInvalidParameter, name, pp.Describe(), err)
		}
		if err := spec.Variables[name].Set(enc); err != nil {
			return nil, fmt.Errorf("%w: parameter %q: %v", ErrInvalidParameter, name, err)
		}
		if pp.countVar != "" {
			cv := spec.Variables[pp.countVar]
			cb := make([]byte, cv.Size())
			putInt(cb, uint64(count))
			if err := cv.Set(cb); err != nil {
				return nil, fmt.Errorf("%w: parameter %q: %v", ErrInvalidParameter, name, err)
			}
		}
	}
	return spec, nil
}

func putInt(b []byte, v uint64) {
	switch len(b) {
	case 1:
		b[0] = byte(v)
	case 2:
		binary.LittleEndian.PutUint16(b, uint16(v))
	case 4:
		binary.LittleEndian.PutUint32(b, uint32(v))
	default:
		binary.LittleEndian.PutUint64(b, v)
	}
}

// encode turns a value's string form into the variable's bytes.
func encode(p Param, val string) ([]byte, int, error) {
	switch p.Kind {
	case KindBool:
		v, err := strconv.ParseBool(strings.TrimSpace(val))
		if err != nil {
			return nil, 0, fmt.Errorf("%q is not true or false", val)
		}
		b := make([]byte, p.Size)
		if v {
			b[0] = 1
		}
		return b, 0, nil
	case KindInt:
		v, err := strconv.ParseInt(strings.TrimSpace(val), 0, 8*p.Size)
		if err != nil {
			return nil, 0, fmt.Errorf("%q: %v", val, numErr(err))
		}
		b := make([]byte, p.Size)
		putInt(b, uint64(v))
		return b, 0, nil
	case KindUint:
		v, err := strconv.ParseUint(strings.TrimSpace(val), 0, 8*p.Size)
		if err != nil {
			return nil, 0, fmt.Errorf("%q: %v", val, numErr(err))
		}
		b := make([]byte, p.Size)
		putInt(b, v)
		return b, 0, nil
	case KindString:
		if err := checkString(val, p.Size); err != nil {
			return nil, 0, err
		}
		b := make([]byte, p.Size)
		copy(b, val)
		return b, 0, nil
	}
	var elems []string
	if strings.TrimSpace(val) != "" {
		for _, e := range strings.Split(val, ",") {
			elems = append(elems, strings.TrimSpace(e))
		}
	}
	if len(elems) > p.Elems {
		return nil, 0, fmt.Errorf("%d entries, at most %d", len(elems), p.Elems)
	}
	b := make([]byte, p.Elems*p.Size)
	for i, e := range elems {
		dst := b[i*p.Size : (i+1)*p.Size]
		if p.Kind == KindStringList {
			if e == "" {
				return nil, 0, fmt.Errorf("entry %d is empty", i+1)
			}
			if err := checkString(e, p.Size); err != nil {
				return nil, 0, fmt.Errorf("entry %d: %v", i+1, err)
			}
			copy(dst, e)
			continue
		}
		v, err := strconv.ParseUint(e, 0, 8*p.Size)
		if err != nil {
			return nil, 0, fmt.Errorf("entry %d %q: %v", i+1, e, numErr(err))
		}
		putInt(dst, v)
	}
	return b, len(elems), nil
}

func checkString(s string, size int) error {
	if len(s) > size-1 {
		return fmt.Errorf("%q is %d bytes, at most %d", s, len(s), size-1)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("%q contains a NUL byte", s)
	}
	return nil
}

func numErr(err error) error {
	if ne, ok := err.(*strconv.NumError); ok {
		return ne.Err
	}
	return err
}
