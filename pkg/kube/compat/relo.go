package compat

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cilium/ebpf/btf"
)

// describeRelocation names what a CO-RE relocation refers to, for people:
// "struct fuse_attr.mode (byte_off)". cilium/ebpf keeps the relocation's
// parts private and renders them as
// "CORERelocation(KIND, TYPE[ACCESSOR], local_id=ID)"; this reads that
// form and walks the accessor through the policy's own BTF. Anything
// unexpected falls back to the rendered form.
func describeRelocation(relo *btf.CORERelocation, local *btf.Spec) string {
	s := relo.String()
	inner, ok := strings.CutPrefix(s, "CORERelocation(")
	if !ok {
		return s
	}
	inner = strings.TrimSuffix(inner, ")")
	kind, rest, ok := strings.Cut(inner, ", ")
	if !ok {
		return s
	}
	i := strings.LastIndex(rest, ", local_id=")
	if i < 0 {
		return s
	}
	id, err := strconv.ParseUint(rest[i+len(", local_id="):], 10, 32)
	if err != nil {
		return s
	}
	typeAndAcc := rest[:i]
	open := strings.LastIndexByte(typeAndAcc, '[')
	if open < 0 || !strings.HasSuffix(typeAndAcc, "]") {
		return s
	}
	acc := typeAndAcc[open+1 : len(typeAndAcc)-1]
	typ, err := local.TypeByID(btf.TypeID(id))
	if err != nil {
		return s
	}
	return fmt.Sprintf("%s (%s)", accessPath(typ, acc), kind)
}

// accessPath renders a CO-RE accessor ("0:2:1": element 0, then member 2,
// then member 1) as a C access path on typ.
func accessPath(typ btf.Type, acc string) string {
	var b strings.Builder
	b.WriteString(typeName(typ))
	parts := strings.Split(acc, ":")
	if len(parts) > 0 && parts[0] != "0" {
		fmt.Fprintf(&b, "[%s]", parts[0])
	}
	t := typ
	for _, p := range parts[1:] {
		n, err := strconv.Atoi(p)
		if err != nil {
			return b.String()
		}
		switch v := btf.UnderlyingType(t).(type) {
		case *btf.Struct:
			if n >= len(v.Members) {
				return b.String()
			}
			writeMember(&b, v.Members[n])
			t = v.Members[n].Type
		case *btf.Union:
			if n >= len(v.Members) {
				return b.String()
			}
			writeMember(&b, v.Members[n])
			t = v.Members[n].Type
		case *btf.Array:
			fmt.Fprintf(&b, "[%d]", n)
			t = v.Type
		default:
			return b.String()
		}
	}
	return b.String()
}

func writeMember(b *strings.Builder, m btf.Member) {
	if m.Name == "" {
		b.WriteString(".<anon>")
		return
	}
	b.WriteString(".")
	b.WriteString(m.Name)
}
