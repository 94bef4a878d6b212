package bench

import (
	"archive/tar"
	"bufio"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path"
	"time"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/policy"
)

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x6675736562706621)) }

// sourceTree describes the generated small-file tree.
type sourceTree struct {
	tarball string
	files   int
	dirs    int
	bytes   int64 // file contents, without tar headers
}

var (
	treeWords = []string{"alloc", "api", "buffer", "cache", "client", "codec", "config", "conn",
		"decode", "dir", "encode", "errors", "event", "export", "file", "format", "handle", "hash",
		"http", "index", "inode", "io", "list", "lock", "log", "map", "mount", "node", "option",
		"parse", "path", "pool", "proto", "queue", "reader", "ring", "route", "scan", "server",
		"session", "sort", "state", "stream", "sync", "table", "text", "time", "token", "tree",
		"types", "util", "value", "version", "watch", "writer", "zone"}
	treeExts = []string{".go", ".go", ".go", "_test.go", ".c", ".h", ".md", ".txt", ".json", ".yaml", ".s", ".sh"}
)

// generateTree writes a deterministic tarball of n regular files shaped
// like a source tree: directories nested up to eight deep holding 2–16
// files each, names from a small vocabulary, sizes log-normal around
// 3 KiB (a Go or C source tree's median) up to 256 KiB. No name matches
// a hide pattern, so every configuration can untar all of it.
func generateTree(file string, n int) (sourceTree, error) {
	t := sourceTree{tarball: file}
	f, err := os.Create(file)
	if err != nil {
		return t, err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	tw := tar.NewWriter(bw)
	rng := newRand(uint64(n))
	pool := make([]byte, 1<<20)
	const alphabet = " \n\tabcdefghijklmnopqrstuvwxyz(){}=;,.0123456789"
	for i := range pool {
		pool[i] = alphabet[rng.IntN(len(alphabet))]
	}
	mtime := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type dir struct {
		path  string
		depth int
	}
	queue := []dir{{".", 0}}
	for len(queue) > 0 && t.files < n {
		d := queue[0]
		queue = queue[1:]
		used := map[string]bool{}
		name := func(ext string) string {
			for {
				s := treeWords[rng.IntN(len(treeWords))]
				if rng.IntN(3) == 0 {
					s += "_" + treeWords[rng.IntN(len(treeWords))]
				}
				s += ext
				if !used[s] && !policy.HideMatches(HidePatterns, s) {
					used[s] = true
					return s
				}
			}
		}
		for range 2 + rng.IntN(15) {
			if t.files >= n {
				break
			}
			size := int64(math.Exp(math.Log(3072) + 1.1*rng.NormFloat64()))
			size = min(max(size, 0), 256<<10)
			p := path.Join(d.path, name(treeExts[rng.IntN(len(treeExts))]))
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: p, Size: size, Mode: 0o644, ModTime: mtime, Format: tar.FormatPAX}); err != nil {
				return t, err
			}
			off := rng.IntN(len(pool) / 2)
			for left := size; left > 0; {
				c := min(left, int64(len(pool)-off))
				if _, err := tw.Write(pool[off : off+int(c)]); err != nil {
					return t, err
				}
				left -= c
				off = 0
			}
			t.files++
			t.bytes += size
		}
		if d.depth < 8 {
			// Enough subdirectories that the tree keeps growing until it
			// holds n files.
			for range 1 + rng.IntN(4) {
				p := path.Join(d.path, name(""))
				if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: p + "/", Mode: 0o755, ModTime: mtime, Format: tar.FormatPAX}); err != nil {
					return t, err
				}
				t.dirs++
				queue = append(queue, dir{p, d.depth + 1})
			}
		}
	}
	if t.files < n {
		return t, fmt.Errorf("generated tree has %d files, want %d", t.files, n)
	}
	if err := tw.Close(); err != nil {
		return t, err
	}
	if err := bw.Flush(); err != nil {
		return t, err
	}
	return t, f.Close()
}
