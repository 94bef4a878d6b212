package v1alpha1_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"
	"sigs.k8s.io/controller-tools/pkg/crd"
	"sigs.k8s.io/controller-tools/pkg/deepcopy"
	"sigs.k8s.io/controller-tools/pkg/genall"
	"sigs.k8s.io/controller-tools/pkg/loader"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/kube/apis/v1alpha1"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/policy"
)

// crdDir is where the chart keeps the generated CRDs, relative to this
// package.
const crdDir = "../../../../deploy/helm/fusebpf-csi/crds"

// memOutput collects generated files by name.
type memOutput map[string]*bytes.Buffer

type nopCloser struct{ *bytes.Buffer }

func (nopCloser) Close() error { return nil }

func (m memOutput) Open(_ *loader.Package, path string) (io.WriteCloser, error) {
	b := &bytes.Buffer{}
	m[path] = b
	return nopCloser{b}, nil
}

// TestGeneratedFilesCurrent regenerates the CRDs and the deep-copy code
// from the types with the same generators and options as go:generate in
// doc.go, and fails if the committed files differ: the chart's CRDs always
// describe exactly these Go types.
func TestGeneratedFilesCurrent(t *testing.T) {
	maxDesc := 1024
	crdGen := genall.Generator(crd.Generator{MaxDescLen: &maxDesc})
	objGen := genall.Generator(deepcopy.Generator{})
	rt, err := genall.Generators{&crdGen, &objGen}.ForRoots(".")
	if err != nil {
		t.Fatal(err)
	}
	crds, code := memOutput{}, memOutput{}
	rt.OutputRules = genall.OutputRules{ByGenerator: map[*genall.Generator]genall.OutputRule{&crdGen: crds, &objGen: code}}
	var errs bytes.Buffer
	rt.ErrorWriter = &errs
	if rt.Run() {
		t.Fatalf("generators failed:\n%s", errs.String())
	}

	// As a library controller-gen cannot tell its own version; stamp
	// the one go.mod pins, which doc.go's go:generate must also use.
	ver := controllerToolsVersion(t)
	docGo, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(docGo, []byte("controller-gen@"+ver+" ")) {
		t.Errorf("doc.go's go:generate does not run controller-gen@%s, the version go.mod pins", ver)
	}
	want := map[string]*bytes.Buffer{}
	for name, b := range crds {
		b = bytes.NewBuffer(bytes.Replace(b.Bytes(), []byte("controller-gen.kubebuilder.io/version: (devel)"),
			[]byte("controller-gen.kubebuilder.io/version: "+ver), 1))
		want[filepath.Join(crdDir, name)] = b
	}
	for name, b := range code {
		want[name] = b
	}
	if len(crds) != 2 || len(code) != 1 {
		t.Fatalf("generated %d CRDs and %d code files, want 2 and 1", len(crds), len(code))
	}
	for path, b := range want {
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: %v (run go generate ./pkg/kube/apis/v1alpha1)", path, err)
			continue
		}
		if !bytes.Equal(got, b.Bytes()) {
			t.Errorf("%s is not what the types generate; run go generate ./pkg/kube/apis/v1alpha1 and commit\n%s",
				path, firstDiff(string(got), b.String()))
		}
	}
	// No stale CRD lingers in the chart.
	ents, err := os.ReadDir(crdDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if _, ok := crds[e.Name()]; !ok {
			t.Errorf("%s/%s is not generated from the types", crdDir, e.Name())
		}
	}
}

// controllerToolsVersion returns the controller-tools version the
// repository's go.mod requires.
func controllerToolsVersion(t *testing.T) string {
	const gomod = "../../../../go.mod"
	b, err := os.ReadFile(gomod)
	if err != nil {
		t.Fatal(err)
	}
	f, err := modfile.ParseLax(gomod, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range f.Require {
		if r.Mod.Path == "sigs.k8s.io/controller-tools" {
			return r.Mod.Version
		}
	}
	t.Fatal("go.mod does not require sigs.k8s.io/controller-tools")
	return ""
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return "line " + itoa(i+1) + ":\n  committed: " + x + "\n  generated: " + y
		}
	}
	return ""
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestLimitsMatch: the API's limits are the policy package's.
func TestLimitsMatch(t *testing.T) {
	if v1alpha1.MaxProgramSize != policy.MaxObjectSize {
		t.Errorf("MaxProgramSize %d, policy.MaxObjectSize %d", v1alpha1.MaxProgramSize, policy.MaxObjectSize)
	}
	// The CRD bounds the base64 text: 4 characters per 3 bytes, padded.
	b, err := os.ReadFile(filepath.Join(crdDir, "fusebpf.csi.io_filterpolicies.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"maxLength: " + itoa((v1alpha1.MaxProgramSize+2)/3*4),
	} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("filterpolicies CRD lacks %q", want)
		}
	}
}
