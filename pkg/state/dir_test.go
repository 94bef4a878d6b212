package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func openTest(t *testing.T) *Dir {
	t.Helper()
	d, err := OpenDir(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func sample(id string) *Volume {
	return &Volume{
		ID:          id,
		Backing:     BackingHostPath,
		BackingPath: "/srv/data",
		Parameters:  map[string]string{"backing": "hostPath", "backingPath": "/srv/data"},
		Policy:      "allow-all",
		Tier:        "userspace",
		StagingPath: "/var/lib/kubelet/plugins/x/globalmount",
		MountGroup:  "2000",
		Targets:     map[string]Target{"/t/b": {ReadOnly: true}, "/t/a": {}},
	}
}

func TestPutGetRoundTrip(t *testing.T) {
	d := openTest(t)
	for _, id := range []string{"fbv1:node-1:local:0123", "with/slash and space", strings.Repeat("x", MaxIDLength)} {
		want := sample(id)
		if err := d.Put(want); err != nil {
			t.Fatalf("Put(%q): %v", id, err)
		}
		got, err := d.Get(id)
		if err != nil {
			t.Fatalf("Get(%q): %v", id, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Get(%q) = %+v, want %+v", id, got, want)
		}
	}
	if got := sample("a").TargetPaths(); !reflect.DeepEqual(got, []string{"/t/a", "/t/b"}) {
		t.Errorf("TargetPaths = %v", got)
	}
}

func TestPutReplaces(t *testing.T) {
	d := openTest(t)
	v := sample("v")
	if err := d.Put(v); err != nil {
		t.Fatal(err)
	}
	v.Targets = nil
	v.Tier = "kernel"
	if err := d.Put(v); err != nil {
		t.Fatal(err)
	}
	got, err := d.Get("v")
	if err != nil {
		t.Fatal(err)
	}
	if got.Targets != nil || got.Tier != "kernel" {
		t.Errorf("record not replaced: %+v", got)
	}
	ents, _ := os.ReadDir(d.Path())
	if len(ents) != 1 {
		t.Errorf("directory holds %d files after two Puts of one ID, want 1", len(ents))
	}
}

func TestRecordFileIsPrivate(t *testing.T) {
	d := openTest(t)
	if err := d.Put(sample("v")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(d.file("v"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("record mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestGetMissing(t *testing.T) {
	d := openTest(t)
	if _, err := d.Get("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(missing) = %v, want ErrNotFound", err)
	}
}

func TestDeleteIdempotent(t *testing.T) {
	d := openTest(t)
	if err := d.Put(sample("v")); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := d.Delete("v"); err != nil {
			t.Fatalf("Delete #%d: %v", i, err)
		}
	}
	if _, err := d.Get("v"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete = %v, want ErrNotFound", err)
	}
}

func TestInvalidIDs(t *testing.T) {
	d := openTest(t)
	for _, id := range []string{"", strings.Repeat("x", MaxIDLength+1), "a\x00b"} {
		if err := d.Put(&Volume{ID: id}); !errors.Is(err, ErrInvalidID) {
			t.Errorf("Put(%q) = %v, want ErrInvalidID", id, err)
		}
		if _, err := d.Get(id); !errors.Is(err, ErrInvalidID) {
			t.Errorf("Get(%q) = %v, want ErrInvalidID", id, err)
		}
		if err := d.Delete(id); !errors.Is(err, ErrInvalidID) {
			t.Errorf("Delete(%q) = %v, want ErrInvalidID", id, err)
		}
	}
}

func TestListSortedSkipsCorrupt(t *testing.T) {
	d := openTest(t)
	for _, id := range []string{"c", "a", "b"} {
		if err := d.Put(sample(id)); err != nil {
			t.Fatal(err)
		}
	}
	// A torn or foreign file must not hide the good records.
	if err := os.WriteFile(d.file("bad"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.file("future"), []byte(`{"version":99,"volume":{"id":"future"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	vols, err := d.List()
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("List error = %v, want ErrCorrupt", err)
	}
	var ids []string
	for _, v := range vols {
		ids = append(ids, v.ID)
	}
	if !reflect.DeepEqual(ids, []string{"a", "b", "c"}) {
		t.Errorf("List IDs = %v, want [a b c]", ids)
	}
	if _, err := d.Get("bad"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Get(bad) = %v, want ErrCorrupt", err)
	}
}

func TestGetRejectsMismatchedID(t *testing.T) {
	d := openTest(t)
	if err := d.Put(sample("a")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(d.file("a"), d.file("b")); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Get("b"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Get of a record stored under another ID = %v, want ErrCorrupt", err)
	}
}

func TestOpenRemovesTempFiles(t *testing.T) {
	d := openTest(t)
	if err := d.Put(sample("keep")); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(d.Path(), tmpPrefix+"123")
	if err := os.WriteFile(stale, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	d2, err := OpenDir(d.Path())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temp file still there: %v", err)
	}
	vols, err := d2.List()
	if err != nil || len(vols) != 1 || vols[0].ID != "keep" {
		t.Errorf("List after reopen = %v, %v", vols, err)
	}
}

func TestConcurrentPuts(t *testing.T) {
	d := openTest(t)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			id := fmt.Sprintf("vol-%02d", i%16) // four writers per ID
			if err := d.Put(sample(id)); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	vols, err := d.List()
	if err != nil || len(vols) != 16 {
		t.Fatalf("List = %d records, %v; want 16", len(vols), err)
	}
	ents, _ := os.ReadDir(d.Path())
	if len(ents) != 16 {
		t.Errorf("%d files in the state directory, want 16 (no temp files left)", len(ents))
	}
}

func TestCloneIsDeep(t *testing.T) {
	v := sample("v")
	c := v.Clone()
	c.Parameters["policy"] = "x"
	c.Targets["/new"] = Target{}
	if _, ok := v.Parameters["policy"]; ok {
		t.Error("Clone shares Parameters")
	}
	if _, ok := v.Targets["/new"]; ok {
		t.Error("Clone shares Targets")
	}
}
