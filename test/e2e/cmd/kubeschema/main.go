// Command kubeschema writes standalone, strict JSON schemas for kubeconform
// without any network: one file per Kubernetes kind from the swagger.json that
// ships in the k8s.io/kubernetes module, and one per CustomResourceDefinition
// version from CRD manifests. Names follow kubeconform's
// "{{ .ResourceKind }}{{ .KindSuffix }}.json" (e.g. daemonset-apps-v1.json,
// filterpolicy-fusebpf-v1alpha1.json).
//
//	kubeschema [-swagger .../api/openapi-spec/swagger.json] -o DIR [CRD.yaml ...]
//
// Strict: objects that declare properties reject unknown ones, as kubeconform
// -strict expects of its schemas; optional fields may be null, as Helm renders
// empty values.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"

	"log"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

func main() {
	swagger := flag.String("swagger", "", "Kubernetes swagger.json (api/openapi-spec/swagger.json of k8s.io/kubernetes)")
	out := flag.String("o", "", "output directory")
	flag.Parse()
	if *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	n := 0
	if *swagger != "" {
		var err error
		if n, err = fromSwagger(*swagger, *out); err != nil {
			log.Fatal(err)
		}
	}
	for _, f := range flag.Args() {
		m, err := fromCRDs(f, *out)
		if err != nil {
			log.Fatalf("%s: %v", f, err)
		}
		n += m
	}
	fmt.Printf("kubeschema: %d schemas in %s\n", n, *out)
}

type schema = map[string]any

// fileName is kubeconform's {{ .ResourceKind }}{{ .KindSuffix }}.json.
func fileName(group, version, kind string) string {
	suffix := "-" + version
	if group != "" {
		suffix = "-" + strings.Split(group, ".")[0] + suffix
	}
	return strings.ToLower(kind) + suffix + ".json"
}

func fromSwagger(path, out string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var doc struct {
		Definitions map[string]schema `json:"definitions"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	defs := doc.Definitions
	// Types whose JSON form is not what their declared type says.
	defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] = schema{"type": []any{"string", "integer"}}
	defs["io.k8s.apimachinery.pkg.api.resource.Quantity"] = schema{"type": []any{"string", "number"}}
	n := 0
	for _, d := range defs {
		gvks, _ := d["x-kubernetes-group-version-kind"].([]any)
		for _, g := range gvks {
			gvk, _ := g.(map[string]any)
			group, _ := gvk["group"].(string)
			version, _ := gvk["version"].(string)
			kind, _ := gvk["kind"].(string)
			root := strictCopy(d, false).(schema)
			used := map[string]bool{}
			collectRefs(d, defs, used)
			sub := schema{}
			for ref := range used {
				sub[ref] = strictCopy(defs[ref], true)
			}
			root["definitions"] = sub
			root["$schema"] = "http://json-schema.org/draft-07/schema#"
			if err := write(filepath.Join(out, fileName(group, version, kind)), root); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// collectRefs adds every definition reachable from s to used.
func collectRefs(s any, defs map[string]schema, used map[string]bool) {
	switch v := s.(type) {
	case map[string]any:
		if r, ok := v["$ref"].(string); ok {
			name := strings.TrimPrefix(r, "#/definitions/")
			if !used[name] {
				used[name] = true
				collectRefs(defs[name], defs, used)
			}
		}
		for _, x := range v {
			collectRefs(x, defs, used)
		}
	case []any:
		for _, x := range v {
			collectRefs(x, defs, used)
		}
	}
}

// strictCopy copies a schema, closing objects that list their properties,
// letting optional properties be null and dropping formats that JSON Schema
// does not know.
func strictCopy(s any, nullable bool) any {
	switch v := s.(type) {
	case map[string]any:
		c := map[string]any{}
		for k, x := range v {
			switch k {
			case "properties":
				props := map[string]any{}
				for pn, ps := range x.(map[string]any) {
					props[pn] = strictCopy(ps, true)
				}
				c[k] = props
			case "items", "additionalProperties":
				c[k] = strictCopy(x, false)
			case "format":
				if x == "date-time" {
					c[k] = x
				}
			case "description", "x-kubernetes-group-version-kind", "x-kubernetes-validations":
			default:
				c[k] = strictCopy(x, false)
			}
		}
		if _, ok := c["properties"]; ok {
			if _, has := c["additionalProperties"]; !has && v["x-kubernetes-preserve-unknown-fields"] != true {
				c["additionalProperties"] = false
			}
		}
		if t, ok := c["type"].(string); ok && nullable {
			c["type"] = []any{t, "null"}
		}
		if _, ok := c["$ref"]; ok && nullable {
			return map[string]any{"oneOf": []any{c, map[string]any{"type": "null"}}}
		}
		return c
	case []any:
		c := make([]any, len(v))
		for i, x := range v {
			c[i] = strictCopy(x, false)
		}
		return c
	default:
		return v
	}
}

type crd struct {
	Kind string `json:"kind"`
	Spec struct {
		Group string `json:"group"`
		Names struct {
			Kind string `json:"kind"`
		} `json:"names"`
		Versions []struct {
			Name   string `json:"name"`
			Schema struct {
				OpenAPIV3Schema schema `json:"openAPIV3Schema"`
			} `json:"schema"`
		} `json:"versions"`
	} `json:"spec"`
}

func fromCRDs(path, out string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, doc := range bytes.Split(b, []byte("\n---")) {
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var c crd
		if err := yaml.Unmarshal(doc, &c); err != nil {
			return n, err
		}
		if c.Kind != "CustomResourceDefinition" {
			continue
		}
		for _, v := range c.Spec.Versions {
			s := v.Schema.OpenAPIV3Schema
			if s == nil {
				return n, errors.New("version " + v.Name + " has no openAPIV3Schema")
			}
			root := strictCopy(s, false).(schema)
			props, _ := root["properties"].(map[string]any)
			if props != nil {
				// ObjectMeta as the API server checks it: any labels, annotations...
				props["metadata"] = map[string]any{"type": "object"}
			}
			root["$schema"] = "http://json-schema.org/draft-07/schema#"
			if err := write(filepath.Join(out, fileName(c.Spec.Group, v.Name, c.Spec.Names.Kind)), root); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

func write(path string, s schema) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	if err := enc.Encode(s); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
