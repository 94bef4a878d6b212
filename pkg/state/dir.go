package state

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

const (
	recordSuffix  = ".json"
	tmpPrefix     = ".tmp-"
	recordVersion = 1
)

// record is the on-disk form of a Volume.
type record struct {
	Version int     `json:"version"`
	Volume  *Volume `json:"volume"`
}

// Dir is a [Store] that keeps each record in its own file in a directory.
// File names are the base64url encoding of the volume ID, so any ID is a
// safe name.
type Dir struct {
	path string
}

var _ Store = (*Dir)(nil)

// OpenDir opens (creating it with mode 0700 if needed) the record directory
// path and removes temporary files that an interrupted [Dir.Put] left.
func OpenDir(path string) (*Dir, error) {
	if path == "" {
		return nil, errors.New("state: empty directory path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("state %s: %w", abs, err)
	}
	ents, err := os.ReadDir(abs)
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", abs, err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			if err := os.Remove(filepath.Join(abs, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("state %s: %w", abs, err)
			}
		}
	}
	return &Dir{path: abs}, nil
}

// Path returns the directory the records are kept in.
func (d *Dir) Path() string { return d.path }

func checkID(id string) error {
	if id == "" || len(id) > MaxIDLength || strings.IndexByte(id, 0) >= 0 {
		return fmt.Errorf("%w: %q", ErrInvalidID, id)
	}
	return nil
}

func (d *Dir) file(id string) string {
	return filepath.Join(d.path, base64.RawURLEncoding.EncodeToString([]byte(id))+recordSuffix)
}

// Get implements [Store].
func (d *Dir) Get(id string) (*Volume, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	v, err := readRecord(d.file(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("volume %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	if v.ID != id {
		return nil, fmt.Errorf("volume %s: %w: file holds volume %q", id, ErrCorrupt, v.ID)
	}
	return v, nil
}

func readRecord(file string) (*Volume, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var r record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", file, ErrCorrupt, err)
	}
	if r.Version != recordVersion {
		return nil, fmt.Errorf("%s: %w: version %d, want %d", file, ErrCorrupt, r.Version, recordVersion)
	}
	if r.Volume == nil || r.Volume.ID == "" {
		return nil, fmt.Errorf("%s: %w: no volume", file, ErrCorrupt)
	}
	return r.Volume, nil
}

// List implements [Store].
func (d *Dir) List() ([]*Volume, error) {
	ents, err := os.ReadDir(d.path)
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", d.path, err)
	}
	var (
		vols []*Volume
		errs []error
	)
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, recordSuffix) || strings.HasPrefix(name, tmpPrefix) {
			continue
		}
		v, err := readRecord(filepath.Join(d.path, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted since ReadDir
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		vols = append(vols, v)
	}
	slices.SortFunc(vols, func(a, b *Volume) int { return strings.Compare(a.ID, b.ID) })
	return vols, errors.Join(errs...)
}

// Put implements [Store].
func (d *Dir) Put(v *Volume) error {
	if v == nil {
		return errors.New("state: nil volume")
	}
	if err := checkID(v.ID); err != nil {
		return err
	}
	data, err := json.MarshalIndent(record{Version: recordVersion, Volume: v}, "", "  ")
	if err != nil {
		return fmt.Errorf("volume %s: %w", v.ID, err)
	}
	if err := writeAtomic(d.path, d.file(v.ID), append(data, '\n')); err != nil {
		return fmt.Errorf("volume %s: %w", v.ID, err)
	}
	return nil
}

// Delete implements [Store].
func (d *Dir) Delete(id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	if err := os.Remove(d.file(id)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("volume %s: %w", id, err)
	}
	if err := syncDir(d.path); err != nil {
		return fmt.Errorf("volume %s: %w", id, err)
	}
	return nil
}

// writeAtomic replaces file with data: the bytes go to a temporary file in
// the same directory, which is flushed to disk before it is renamed over
// file, and the directory is flushed so the rename itself survives a crash.
func writeAtomic(dir, file string, data []byte) (err error) {
	tmp, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
