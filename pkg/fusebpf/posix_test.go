package fusebpf

import (
	"sort"
	"testing"

	"github.com/hanwen/go-fuse/v2/posixtest"
)

// TestPOSIX runs go-fuse's POSIX conformance table against an allow-all
// mount.
func TestPOSIX(t *testing.T) {
	names := make([]string, 0, len(posixtest.All))
	for n := range posixtest.All {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			m := mountT(t, MountOptions{})
			posixtest.All[name](t, m.mnt)
		})
	}
}
