package bpfvm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// conformanceDir finds the bpf_conformance test files, which live in the
// shared directory next to the repository root (never copied into it).
func conformanceDir(t testing.TB) string {
	t.Helper()
	dir, err := findConformanceDir()
	if err != nil {
		t.Skipf("bpf_conformance data not available next to the repository: %v", err)
	}
	return dir
}

func findConformanceDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("repository root (go.mod) not found")
		}
		dir = parent
	}
	tests := filepath.Join(dir, "..", "shared", "conformance", "bpf", "tests")
	if _, err := os.Stat(tests); err != nil {
		return "", err
	}
	return tests, nil
}

// unclaimedGroup reports why a program falls outside the conformance groups
// this interpreter claims (base32, base64, atomic32, atomic64, divmul32,
// divmul64 and the -mcpu=v4 additions), or "" if it does not.
func unclaimedGroup(code []byte) string {
	for i := 0; i+8 <= len(code); i += 8 {
		op := code[i]
		switch {
		case op == clsJMP|jmpCALL|srcX:
			return "callx (non-RFC group)"
		case op&0x07 == clsLD && (op&0xe0 == modeABS || op&0xe0 == modeIND):
			return "packet group (legacy ABS/IND loads)"
		}
		if op == opLDDW {
			i += 8
		}
	}
	return ""
}

// conformanceHelpers provides helper 5 the way the suite expects (uBPF's
// "unwind" helper: it returns its first argument).
var conformanceHelpers = map[int32]HelperFunc{
	5: func(_ *Run, a1, _, _, _, _ uint64) (uint64, error) { return a1, nil },
}

func TestConformance(t *testing.T) {
	dir := conformanceDir(t)
	files, err := filepath.Glob(filepath.Join(dir, "*.data"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no .data files in %s", dir)
	}
	sort.Strings(files)
	var passed, failed int
	skipped := map[string][]string{}
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".data")
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		dt, err := parseDataFile(f)
		f.Close()
		if err != nil {
			t.Errorf("%s: parse: %v", name, err)
			failed++
			continue
		}
		code, err := dt.bytecode()
		if err != nil {
			t.Errorf("%s: assemble: %v", name, err)
			failed++
			continue
		}
		if reason := unclaimedGroup(code); reason != "" {
			// The interpreter must refuse these at load, not misrun them.
			if _, err := NewRawProgram(name, code, &Options{Helpers: conformanceHelpers}); !errors.Is(err, ErrNotSupported) {
				t.Errorf("%s: skipped as %s, but load did not fail with ErrNotSupported: %v", name, reason, err)
			}
			skipped[reason] = append(skipped[reason], name)
			continue
		}
		if !dt.hasResult && !dt.hasError {
			skipped["no expected result"] = append(skipped["no expected result"], name)
			continue
		}
		if err := runDataTest(name, code, dt); err != nil {
			t.Errorf("%s: %v", name, err)
			failed++
			continue
		}
		passed++
	}
	nskip := 0
	reasons := make([]string, 0, len(skipped))
	for reason, names := range skipped {
		nskip += len(names)
		reasons = append(reasons, reason)
	}
	sort.Strings(reasons)
	for _, reason := range reasons {
		t.Logf("skipped %d (%s): %s", len(skipped[reason]), reason, strings.Join(skipped[reason], ", "))
	}
	summary := fmt.Sprintf("bpf_conformance: %d files, %d passed, %d failed, %d skipped", len(files), passed, failed, nskip)
	t.Log(summary)
	fmt.Println(summary)
}

func runDataTest(name string, code []byte, dt *dataTest) error {
	p, err := NewRawProgram(name, code, &Options{Helpers: conformanceHelpers})
	if err != nil {
		if dt.hasError {
			return nil // the suite's error strings are runner-specific
		}
		return fmt.Errorf("load: %w", err)
	}
	r := p.NewRun()
	defer r.Release()
	mem := append([]byte(nil), dt.mem...)
	addr, err := r.MapBytes(mem, ReadWrite)
	if err != nil {
		return err
	}
	got, err := r.Exec(addr, uint64(len(mem)))
	switch {
	case dt.hasError && err == nil:
		return fmt.Errorf("want error %q, got r0 = %#x", dt.errText, got)
	case dt.hasError:
		return nil
	case err != nil:
		return fmt.Errorf("run: %w", err)
	case got != dt.result:
		return fmt.Errorf("r0 = %#x, want %#x", got, dt.result)
	}
	return nil
}
