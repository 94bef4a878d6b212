package policy

import (
	"embed"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
)

//go:embed builtin/*.bpf.o
var builtinFS embed.FS

var (
	builtinOnce sync.Once
	builtins    map[string]*Policy
	builtinErr  error
)

// Builtins returns the names of the built-in policies, sorted.
func Builtins() []string {
	loadBuiltins()
	names := make([]string, 0, len(builtins))
	for n := range builtins {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Builtin returns a built-in policy by name ("read-only", "hide", ...).
func Builtin(name string) (*Policy, error) {
	loadBuiltins()
	if builtinErr != nil {
		return nil, builtinErr
	}
	p, ok := builtins[name]
	if !ok {
		return nil, fmt.Errorf("%w %q (built-ins: %s)", ErrUnknownBuiltin, name, strings.Join(Builtins(), ", "))
	}
	return p, nil
}

func loadBuiltins() {
	builtinOnce.Do(func() {
		builtins = map[string]*Policy{}
		ents, err := builtinFS.ReadDir("builtin")
		if err != nil {
			builtinErr = err
			return
		}
		for _, e := range ents {
			b, err := builtinFS.ReadFile("builtin/" + e.Name())
			if err != nil {
				builtinErr = err
				return
			}
			p, err := Load(b)
			if err != nil {
				builtinErr = fmt.Errorf("built-in %s: %w", e.Name(), err)
				return
			}
			builtins[strings.TrimSuffix(e.Name(), ".bpf.o")] = p
		}
	})
}

// Open returns the built-in policy ref, or, when ref names a file (it
// contains a '/' or ends in ".o"), the policy object in that file.
func Open(ref string) (*Policy, error) {
	if !strings.ContainsRune(ref, '/') && !strings.HasSuffix(ref, ".o") {
		return Builtin(ref)
	}
	fi, err := os.Stat(ref)
	if err != nil {
		return nil, err
	}
	if fi.Size() > MaxObjectSize {
		return nil, fmt.Errorf("%s: %w: %d bytes, at most %d", ref, ErrInvalidObject, fi.Size(), MaxObjectSize)
	}
	elf, err := os.ReadFile(ref)
	if err != nil {
		return nil, err
	}
	return Load(elf)
}
