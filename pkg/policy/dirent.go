package policy

import (
	"encoding/binary"
	"strings"
)

// Dirent is one struct fuse_dirent record of a readdir buffer, the layout
// a readdir postfilter reads and compacts.
type Dirent struct {
	Ino  uint64
	Off  uint64
	Type uint32 // DT_* value: the file type bits of the mode, shifted right by 12
	Name string
}

// DirentHeader is the size of struct fuse_dirent before its name.
const DirentHeader = 24

// DirentSize is the size of a record whose name has n bytes: the header
// and the name, padded to 8 bytes (FUSE_DIRENT_ALIGN).
func DirentSize(n int) int { return (DirentHeader + n + 7) &^ 7 }

// AppendDirent appends d to b as a struct fuse_dirent record.
func AppendDirent(b []byte, d Dirent) []byte {
	o := len(b)
	b = append(b, make([]byte, DirentSize(len(d.Name)))...)
	binary.LittleEndian.PutUint64(b[o:], d.Ino)
	binary.LittleEndian.PutUint64(b[o+8:], d.Off)
	binary.LittleEndian.PutUint32(b[o+16:], uint32(len(d.Name)))
	binary.LittleEndian.PutUint32(b[o+20:], d.Type)
	copy(b[o+DirentHeader:], d.Name)
	return b
}

// ParseDirents reads the records of a readdir buffer, up to the end or the
// first record that does not fit (a name length of 0 or past the end).
func ParseDirents(b []byte) []Dirent {
	var out []Dirent
	for o := 0; o+DirentHeader <= len(b); {
		n := int(binary.LittleEndian.Uint32(b[o+16:]))
		if n == 0 || o+DirentHeader+n > len(b) {
			break
		}
		out = append(out, Dirent{
			Ino:  binary.LittleEndian.Uint64(b[o:]),
			Off:  binary.LittleEndian.Uint64(b[o+8:]),
			Type: binary.LittleEndian.Uint32(b[o+20:]),
			Name: string(b[o+DirentHeader : o+DirentHeader+n]),
		})
		o += DirentSize(n)
	}
	return out
}

// HideMatches reports whether the built-in hide policy, given patterns,
// hides name: its documented semantics in Go, for checking a filtered view
// from outside (tests, the benchmark). A pattern is an exact name,
// "prefix*", "*suffix", or "*" for every name.
func HideMatches(patterns []string, name string) bool {
	for _, p := range patterns {
		switch {
		case p == "*":
			return true
		case strings.HasPrefix(p, "*"):
			if strings.HasSuffix(name, p[1:]) {
				return true
			}
		case strings.HasSuffix(p, "*"):
			if strings.HasPrefix(name, p[:len(p)-1]) {
				return true
			}
		case p == name:
			return true
		}
	}
	return false
}
