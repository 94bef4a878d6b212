package kernel

import (
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/policy"
)

// memberAt finds a member by name anywhere inside s, looking through
// anonymous structs and unions, and returns its absolute byte offset.
func memberAt(s btf.Type, name string) (off uint32, size int, ok bool) {
	var members []btf.Member
	switch v := btf.UnderlyingType(s).(type) {
	case *btf.Struct:
		members = v.Members
	case *btf.Union:
		members = v.Members
	}
	for _, m := range members {
		if m.Name == name {
			size, _ := btf.Sizeof(m.Type)
			return m.Offset.Bytes(), size, true
		}
		if m.Name == "" {
			if o, sz, found := memberAt(m.Type, name); found {
				return m.Offset.Bytes() + o, sz, true
			}
		}
	}
	return 0, 0, false
}

// TestHeaderMatchesDocument checks the numbers FUSE-BPF-ABI.md states
// against the BTF of bpf/include/fuse_bpf.h (as compiled into fuse_abi.o).
func TestHeaderMatchesDocument(t *testing.T) {
	spec := syntheticBTF(t)
	type at struct {
		field string
		off   uint32
		size  int
	}
	for _, tc := range []struct {
		name   string
		size   uint32
		fields []at
	}{
		// §1.4
		{"fuse_bpf_entry_out", 24, []at{{"entry_type", 0, 4}, {"unused", 4, 4}, {"unused2", 8, 8}, {"fd", 16, 8}, {"name", 8, NameMax + 1}}},
		{"fuse_entry_out", 128, []at{{"nodeid", 0, 8}, {"attr", 40, 88}}},
		// §1.6: 16 bytes before "add error_out", 24 with it.
		{"bpf_fuse_meta_info", 24, []at{{"nodeid", 0, 8}, {"opcode", 8, 4}, {"error_in", 12, 4}, {"error_out", 16, 4}}},
		{"fuse_buffer", 24, []at{{"data", 0, 8}, {"size", 8, 4}, {"alloc_size", 12, 4}, {"max_size", 16, 4}, {"flags", 20, 4}}},
		// §1.3
		{"fuse_in_header", 40, []at{{"len", 0, 4}, {"opcode", 4, 4}, {"unique", 8, 8}, {"nodeid", 16, 8}, {"uid", 24, 4}, {"gid", 28, 4}, {"pid", 32, 4}, {"total_extlen", 36, 2}, {"padding", 38, 2}}},
		{"fuse_out_header", 16, nil},
		{"fuse_ext_header", 8, []at{{"size", 0, 4}, {"type", 4, 4}}},
		{"fuse_read_out", 16, []at{{"offset", 0, 8}, {"again", 8, 4}, {"padding", 12, 4}}},
		{"fuse_read_iter_out", 8, []at{{"ret", 0, 8}}},
		{"fuse_write_iter_out", 8, []at{{"ret", 0, 8}}},
		// §5.1
		{"fuse_open_out", 16, []at{{"fh", 0, 8}, {"open_flags", 8, 4}, {"backing_id", 12, 4}}},
		// §1.5: 64 callbacks and char name[15].
		{"fuse_ops", 64*8 + 16, []at{{"open_prefilter", 0, 8}, {"access_postfilter", 63 * 8, 8}, {"name", 64 * 8, NameMax}}},
	} {
		s, err := findStruct(spec, tc.name)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if s.Size != tc.size {
			t.Errorf("struct %s: %d bytes, document says %d", tc.name, s.Size, tc.size)
		}
		for _, f := range tc.fields {
			off, size, ok := memberAt(s, f.field)
			if !ok || off != f.off || size != f.size {
				t.Errorf("%s.%s: %d bytes at %d (found %t), document says %d at %d", tc.name, f.field, size, off, ok, f.size, f.off)
			}
		}
	}
}

// TestHeaderMatchesLayoutTable checks every struct of the header against
// abi.go's table, in both directions: each table struct has exactly the
// table's size and fields, and each header struct and field is in the table.
func TestHeaderMatchesLayoutTable(t *testing.T) {
	spec := syntheticBTF(t)
	for _, l := range layouts {
		s, err := findStruct(spec, l.name)
		if err != nil {
			t.Errorf("header lacks struct %s", l.name)
			continue
		}
		if s.Size != l.size {
			t.Errorf("struct %s: header %d bytes, table %d", l.name, s.Size, l.size)
		}
		for _, f := range l.fields {
			off, size, ok := memberAt(s, f.name)
			if !ok || off != f.off || uint32(size) != f.size {
				t.Errorf("%s.%s: header %d bytes at %d (found %t), table %d at %d", l.name, f.name, size, off, ok, f.size, f.off)
			}
		}
	}

	for typ, err := range spec.All() {
		if err != nil {
			t.Fatal(err)
		}
		s, ok := typ.(*btf.Struct)
		if !ok || !(strings.HasPrefix(s.Name, "fuse_") || strings.HasPrefix(s.Name, "bpf_fuse_")) || s.Name == OpsStruct {
			continue
		}
		l, ok := layoutByName(s.Name)
		if !ok {
			t.Errorf("header struct %s is not in the layout table", s.Name)
			continue
		}
		for _, m := range s.Members {
			if m.Name == "" {
				continue // fuse_bpf_entry_out's union, checked by TestHeaderMatchesDocument
			}
			found := false
			for _, f := range l.fields {
				found = found || f.name == m.Name
			}
			if !found {
				t.Errorf("header field %s.%s is not in the layout table", s.Name, m.Name)
			}
		}
	}
}

// TestHeaderOpsMatchPolicyTable checks fuse_ops in the header against the
// operation table of package policy and the prototypes of abi.go: the
// synthetic kernel built from the header must pass the probe's own check.
func TestHeaderOpsMatchPolicyTable(t *testing.T) {
	spec := syntheticBTF(t)
	c := checkABI(spec)
	if !c.intact() {
		t.Fatalf("header's ABI fails the probe: %v", c.reasons)
	}
	if c.kfuncs != KfuncsV3 {
		t.Errorf("kfunc set %q, want %q", c.kfuncs, KfuncsV3)
	}
	ops, _ := findStruct(spec, OpsStruct)
	if len(ops.Members) != 2*int(policy.NumOps)+1 {
		t.Errorf("fuse_ops has %d members, want %d", len(ops.Members), 2*int(policy.NumOps)+1)
	}
	for i := range policy.NumOps {
		for j, post := range []bool{false, true} {
			if got, want := ops.Members[2*int(i)+j].Name, i.Member(post); got != want {
				t.Errorf("member #%d is %s, want %s", 2*int(i)+j, got, want)
			}
		}
	}
}

// TestHeaderOpcodes checks the header's enum fuse_opcode against the
// opcode each operation runs for (package policy, FUSE-BPF-ABI.md §1.5).
func TestHeaderOpcodes(t *testing.T) {
	spec := syntheticBTF(t)
	var opcodes, entryTypes *btf.Enum
	if err := spec.TypeByName("fuse_opcode", &opcodes); err != nil {
		t.Fatal(err)
	}
	if err := spec.TypeByName("fuse_bpf_type", &entryTypes); err != nil {
		t.Fatal(err)
	}
	value := func(e *btf.Enum, name string) (uint64, bool) {
		for _, v := range e.Values {
			if v.Name == name {
				return v.Value, true
			}
		}
		return 0, false
	}
	// Operations whose FUSE opcode is not named after them.
	opcodeName := map[string]string{
		"create_open": "CREATE", "dir_fsync": "FSYNCDIR", "read_iter": "READ",
		"write_iter": "WRITE", "file_fallocate": "FALLOCATE", "get_link": "READLINK",
	}
	for op := range policy.NumOps {
		name, ok := opcodeName[op.String()]
		if !ok {
			name = strings.ToUpper(op.String())
		}
		got, ok := value(opcodes, "FUSE_"+name)
		if !ok || got != uint64(op.Opcode()) {
			t.Errorf("%s: header FUSE_%s = %d (found %t), policy table says %d", op, name, got, ok, op.Opcode())
		}
	}
	for name, want := range map[string]uint64{
		"FUSE_ENTRY_BACKING": 1, "FUSE_ENTRY_BPF": 2, "FUSE_ENTRY_REMOVE_BACKING": 3, "FUSE_ENTRY_REMOVE_BPF": 4,
	} {
		if got, ok := value(entryTypes, name); !ok || got != want {
			t.Errorf("%s = %d (found %t), want %d", name, got, ok, want)
		}
	}
}
