package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is the release version of this build; "dev" when the linker did
// not set it.
var Version = "dev"

// Info describes the running build.
type Info struct {
	// Version is [Version].
	Version string
	// Revision is the VCS commit the binary was built from, with a
	// "-dirty" suffix for a modified tree; empty when unknown.
	Revision string
	// GoVersion is the Go toolchain that built the binary.
	GoVersion string
	// Platform is GOOS/GOARCH.
	Platform string
}

// Get returns the build information of the running binary.
func Get() Info {
	i := Info{
		Version:   Version,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		dirty := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				i.Revision = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if i.Revision != "" && dirty {
			i.Revision += "-dirty"
		}
	}
	return i
}

// String formats the information on one line, for example
// "v0.1.0 (revision 1a2b3c, go1.26.0, linux/amd64)".
func (i Info) String() string {
	if i.Revision == "" {
		return fmt.Sprintf("%s (%s, %s)", i.Version, i.GoVersion, i.Platform)
	}
	return fmt.Sprintf("%s (revision %s, %s, %s)", i.Version, i.Revision, i.GoVersion, i.Platform)
}
