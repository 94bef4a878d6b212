package kernel

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestInstanceName(t *testing.T) {
	seen := map[string]string{}
	volumes := []string{"", "a", "pvc-6f0c7a5e-1a2b-4c3d-8e9f-0123456789ab", strings.Repeat("x", 4096), "vol/with spaces\x00and-bytes\xff"}
	for _, vol := range volumes {
		for attempt := range MaxNameAttempts {
			name, err := InstanceName(vol, attempt)
			if err != nil {
				t.Fatalf("%q/%d: %v", vol, attempt, err)
			}
			if err := ValidateName(name); err != nil {
				t.Errorf("%q/%d: generated invalid name: %v", vol, attempt, err)
			}
			if len(name) > MaxNameLen || len(name) > NameMax-1 {
				t.Errorf("%q/%d: %q is %d characters, must fit char name[%d] with its NUL", vol, attempt, name, len(name), NameMax)
			}
			if !strings.HasPrefix(name, "fb") {
				t.Errorf("%q: %q lacks the project prefix", vol, name)
			}
			key := fmt.Sprintf("%q/%d", vol, attempt)
			if other, dup := seen[name]; dup {
				t.Errorf("%s and %s both map to %q", key, other, name)
			}
			seen[name] = key
			again, _ := InstanceName(vol, attempt)
			if again != name {
				t.Errorf("%s: not deterministic: %q then %q", key, name, again)
			}
		}
	}
	for _, attempt := range []int{-1, MaxNameAttempts} {
		if _, err := InstanceName("v", attempt); !errors.Is(err, ErrNameTaken) {
			t.Errorf("attempt %d: %v, want ErrNameTaken", attempt, err)
		}
	}
	if first, _ := InstanceName("v", 0); strings.Contains(first, "_") {
		t.Errorf("first attempt %q carries a retry suffix", first)
	}
}

func TestValidateName(t *testing.T) {
	for name, ok := range map[string]bool{
		"fb0123456789":    true,
		"fb0123456789_z":  true, // 14: the longest
		"fb0123456789_zz": false,
		"a.b_C9":          true,
		"":                false,
		"has-dash":        false,
		"has space":       false,
		"slash/":          false,
		"ünïcode":         false,
	} {
		err := ValidateName(name)
		if (err == nil) != ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%t", name, err, ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidateName(%q) = %v, want ErrInvalidName", name, err)
		}
	}
}
