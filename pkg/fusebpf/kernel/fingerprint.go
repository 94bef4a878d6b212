package kernel

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/cilium/ebpf/btf"
)

// FingerprintNone is the ABI fingerprint of a kernel without STRUCT
// fuse_ops: every stock kernel.
const FingerprintNone = "none"

// fingerprintVersion prefixes the canonical text, so a change to its
// format changes every fingerprint instead of silently colliding.
const fingerprintVersion = "fusebpf-abi/1"

// Fingerprint returns a short stable hash of the FUSE-BPF ABI that spec
// describes: the fuse_ops members in order with their prototypes, whether
// the struct_ops value wrapper exists, the size and field layout of every
// struct those prototypes reach and of the ABI's other structs
// (fuse_in_header, fuse_bpf_entry_out, ...), and the names and prototypes
// of the ABI's kfuncs. It is 16 hex characters of a SHA-256,
// equal for equal ABIs whatever else the BTF holds (typedef spellings,
// parameter names and linkage do not count), or [FingerprintNone] if spec
// has no fuse_ops.
func Fingerprint(spec *btf.Spec) string {
	text, ok := canonicalABI(spec)
	if !ok {
		return FingerprintNone
	}
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:8])
}

// abiTypes are the types of the ABI found in one spec.
type abiTypes struct {
	ops     *btf.Struct
	wrapper *btf.Struct // nil if absent
	kfuncs  []*btf.Func // in abiKfuncs order, present ones only
	// structs described in full: those fuse_ops prototypes point to, the
	// structs of abi.go, and every named struct they embed by value.
	structs map[string]*btf.Struct
}

// collectABI finds the ABI's types in spec; ok is false without fuse_ops.
func collectABI(spec *btf.Spec) (*abiTypes, bool) {
	ops, err := findStruct(spec, OpsStruct)
	if err != nil {
		return nil, false
	}
	a := &abiTypes{ops: ops, structs: map[string]*btf.Struct{}}
	a.wrapper, _ = findStruct(spec, OpsValueStruct)
	for _, name := range abiKfuncs {
		if fn, err := findFunc(spec, name); err == nil {
			a.kfuncs = append(a.kfuncs, fn)
		}
	}

	for _, m := range ops.Members {
		proto, ok := funcPointerProto(m.Type)
		if !ok {
			continue
		}
		for _, p := range proto.Params {
			if name, ok := pointeeStructName(p.Type); ok {
				if s, err := findStruct(spec, name); err == nil {
					a.structs[name] = s
				}
			}
		}
	}
	for _, l := range layouts {
		if s, err := findStruct(spec, l.name); err == nil {
			a.structs[l.name] = s
		}
	}
	// Structs embedded by value are part of their container's layout.
	for pending := slices.Collect(maps.Keys(a.structs)); len(pending) > 0; {
		name := pending[len(pending)-1]
		pending = pending[:len(pending)-1]
		for _, emb := range embeddedStructs(a.structs[name]) {
			if _, seen := a.structs[emb.Name]; !seen {
				a.structs[emb.Name] = emb
				pending = append(pending, emb.Name)
			}
		}
	}
	delete(a.structs, OpsStruct)
	return a, true
}

// canonicalABI renders the ABI as text, one line per fact; ok is false
// without fuse_ops.
func canonicalABI(spec *btf.Spec) (string, bool) {
	a, ok := collectABI(spec)
	if !ok {
		return "", false
	}
	var b strings.Builder
	fmt.Fprintln(&b, fingerprintVersion)
	fmt.Fprintf(&b, "value %s %t\n", OpsValueStruct, a.wrapper != nil)

	fmt.Fprintf(&b, "struct %s %d\n", a.ops.Name, a.ops.Size)
	for _, m := range a.ops.Members {
		fmt.Fprintf(&b, " %s@%d %s\n", m.Name, m.Offset, typeString(m.Type))
	}
	for _, fn := range a.kfuncs {
		fmt.Fprintf(&b, "kfunc %s %s\n", fn.Name, typeString(fn.Type))
	}
	for _, name := range slices.Sorted(maps.Keys(a.structs)) {
		s := a.structs[name]
		fmt.Fprintf(&b, "struct %s %d\n", name, s.Size)
		for _, m := range s.Members {
			fmt.Fprintf(&b, " %s@%d:%d %s\n", m.Name, m.Offset, m.BitfieldSize, typeString(m.Type))
		}
	}
	return b.String(), true
}

func funcPointerProto(t btf.Type) (*btf.FuncProto, bool) {
	ptr, ok := btf.As[*btf.Pointer](t)
	if !ok {
		return nil, false
	}
	return btf.As[*btf.FuncProto](ptr.Target)
}

// embeddedStructs returns the named structs s contains by value, directly
// or through arrays and anonymous members.
func embeddedStructs(s *btf.Struct) []*btf.Struct {
	var out []*btf.Struct
	var walk func(t btf.Type)
	walk = func(t btf.Type) {
		switch v := btf.UnderlyingType(t).(type) {
		case *btf.Struct:
			if v.Name != "" {
				out = append(out, v)
				return
			}
			// Anonymous: look inside.
			for _, m := range v.Members {
				walk(m.Type)
			}
		case *btf.Union:
			for _, m := range v.Members {
				walk(m.Type)
			}
		case *btf.Array:
			walk(v.Type)
		}
	}
	for _, m := range s.Members {
		walk(m.Type)
	}
	return out
}

// typeString renders a type for the fingerprint: sizes and shapes, never
// typedef names, integer signedness or parameter names, and named
// aggregates by name only (their layout is listed separately).
func typeString(t btf.Type) string {
	var b strings.Builder
	writeType(&b, t, 0)
	return b.String()
}

func writeType(b *strings.Builder, t btf.Type, depth int) {
	if depth > 16 {
		b.WriteString("…")
		return
	}
	switch v := t.(type) {
	case nil, *btf.Void:
		b.WriteString("void")
	case *btf.Typedef:
		writeType(b, v.Type, depth+1)
	case *btf.TypeTag:
		writeType(b, v.Type, depth+1)
	case *btf.Restrict:
		writeType(b, v.Type, depth+1)
	case *btf.Volatile:
		b.WriteString("volatile ")
		writeType(b, v.Type, depth+1)
	case *btf.Const:
		b.WriteString("const ")
		writeType(b, v.Type, depth+1)
	case *btf.Int:
		if v.Encoding&btf.Bool != 0 {
			b.WriteString("bool")
		} else {
			fmt.Fprintf(b, "i%d", v.Size*8)
		}
	case *btf.Float:
		fmt.Fprintf(b, "f%d", v.Size*8)
	case *btf.Enum:
		fmt.Fprintf(b, "enum%d", v.Size*8)
	case *btf.Pointer:
		b.WriteString("*")
		writeType(b, v.Target, depth+1)
	case *btf.Array:
		writeType(b, v.Type, depth+1)
		fmt.Fprintf(b, "[%d]", v.Nelems)
	case *btf.Struct:
		writeAggregate(b, "struct", v.Name, v.Size, v.Members, depth)
	case *btf.Union:
		writeAggregate(b, "union", v.Name, v.Size, v.Members, depth)
	case *btf.Fwd:
		fmt.Fprintf(b, "%s %s", v.Kind, v.Name)
	case *btf.FuncProto:
		b.WriteString("fn(")
		writeType(b, v.Return, depth+1)
		for _, p := range v.Params {
			b.WriteString(", ")
			writeType(b, p.Type, depth+1)
		}
		b.WriteString(")")
	case *btf.Func:
		writeType(b, v.Type, depth+1)
	default:
		fmt.Fprintf(b, "%T", t)
	}
}

func writeAggregate(b *strings.Builder, kind, name string, size uint32, members []btf.Member, depth int) {
	if name != "" {
		fmt.Fprintf(b, "%s %s", kind, name)
		return
	}
	fmt.Fprintf(b, "%s%d{", kind, size)
	for i, m := range members {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(b, "%s@%d:%d ", m.Name, m.Offset, m.BitfieldSize)
		writeType(b, m.Type, depth+1)
	}
	b.WriteString("}")
}
