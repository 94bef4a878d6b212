package policy

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestBuiltinsLoadAndCheck(t *testing.T) {
	want := map[string]struct {
		callbacks int
		params    []string
	}{
		"allow-all":   {0, nil},
		"read-only":   {16, nil},
		"hide":        {10, []string{"hidePatterns"}},
		"append-only": {11, nil},
		"audit":       {2 * 30, nil},
		"uid-gate":    {30, []string{"allowRoot", "allowedGids", "allowedUids"}},
	}
	names := Builtins()
	if len(names) != len(want) {
		t.Fatalf("built-ins %v, want %d", names, len(want))
	}
	for name, w := range want {
		p, err := Builtin(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(p.Callbacks) != w.callbacks {
			t.Errorf("%s: %d callbacks, want %d", name, len(p.Callbacks), w.callbacks)
		}
		var got []string
		for _, pp := range p.Params {
			got = append(got, pp.Name)
		}
		if strings.Join(got, ",") != strings.Join(w.params, ",") {
			t.Errorf("%s: params %v, want %v", name, got, w.params)
		}
	}
	if _, err := Builtin("nope"); !errors.Is(err, ErrUnknownBuiltin) {
		t.Errorf("unknown builtin: %v", err)
	}
}

func TestParamsSchemaAndApply(t *testing.T) {
	hide, _ := Builtin("hide")
	pp, _ := hide.Param("hidePatterns")
	if pp.Kind != KindStringList || pp.Elems != 1024 || pp.Size != 64 || pp.Default != "" {
		t.Fatalf("hidePatterns schema %+v", pp)
	}
	spec, err := hide.Apply(Values{"hidePatterns": ".git, *.key,tmp*"})
	if err != nil {
		t.Fatal(err)
	}
	var n uint32
	spec.Variables["hidePatternsCount"].Get(&n)
	if n != 3 {
		t.Fatalf("count %d", n)
	}
	var pats [1024][64]byte
	spec.Variables["hidePatterns"].Get(&pats)
	if cstr(pats[1][:]) != "*.key" || cstr(pats[2][:]) != "tmp*" {
		t.Fatalf("patterns %q %q", pats[1][:8], pats[2][:8])
	}
	// The original is untouched.
	hide.spec.Variables["hidePatternsCount"].Get(&n)
	if n != 0 {
		t.Fatal("Apply changed the policy's own spec")
	}

	ug, _ := Builtin("uid-gate")
	if p, _ := ug.Param("allowRoot"); p.Kind != KindBool || p.Default != "true" {
		t.Fatalf("allowRoot %+v", p)
	}
	if _, err := ug.Apply(Values{"allowedUids": "1000, 2000", "allowRoot": "false"}); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		p      *Policy
		values Values
		want   string
	}{
		{hide, Values{"nope": "x"}, `no parameter "nope"`},
		{hide, Values{"hidePatterns": strings.Repeat("a,", 1025)}, "at most 1024"},
		{hide, Values{"hidePatterns": strings.Repeat("x", 64)}, "at most 63"},
		{hide, Values{"hidePatterns": "a,,b"}, "entry 2 is empty"},
		{ug, Values{"allowRoot": "maybe"}, "not true or false"},
		{ug, Values{"allowedUids": "12,-1"}, `entry 2 "-1"`},
		{ug, Values{"allowedUids": "4294967296"}, "out of range"},
	} {
		_, err := c.p.Apply(c.values)
		if !errors.Is(err, ErrInvalidParameter) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want ErrInvalidParameter mentioning %q", c.values, err, c.want)
		}
		for name := range c.values {
			if err != nil && !strings.Contains(err.Error(), name) {
				t.Errorf("error %q does not name the parameter %q", err, name)
			}
		}
	}
}

func TestLoadRejects(t *testing.T) {
	good, err := os.ReadFile("builtin/hide.bpf.o")
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		elf  []byte
		want string
	}{
		"empty":     {nil, "not an ELF"},
		"truncated": {good[:len(good)/2], "invalid policy object"},
		"corrupt":   {append(append([]byte{}, good[:64]...), make([]byte, 4096)...), "invalid policy object"},
		"oversized": {make([]byte, MaxObjectSize+1), "at most"},
	} {
		if _, err := Load(c.elf); !errors.Is(err, ErrInvalidObject) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrInvalidObject with %q", name, err, c.want)
		}
	}
}

func TestLoadRejectsBadObjects(t *testing.T) {
	for file, want := range map[string]string{
		"bad_no_ops.o":  "exactly one struct_ops instance",
		"bad_license.o": `license "MIT"`,
		"bad_member.o":  `no member "teleport_prefilter"`,
	} {
		elf, err := os.ReadFile("../../bpf/testdata/" + file)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Load(elf); !errors.Is(err, ErrInvalidObject) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want ErrInvalidObject with %q", file, err, want)
		}
	}
	elf, _ := os.ReadFile("../../bpf/testdata/custom_noexec.o")
	p, err := Load(elf)
	if err != nil {
		t.Fatal(err)
	}
	if pp, _ := p.Param("suffix"); pp.Kind != KindString || pp.Default != ".exe" {
		t.Errorf("custom policy param %+v", pp)
	}
}
