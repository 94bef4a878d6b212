package csi

import (
	"flag"
	"strings"
	"testing"
)

func TestOptionsFlags(t *testing.T) {
	var o Options
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	o.AddFlags(fs)
	err := fs.Parse([]string{"--endpoint", "unix:///run/csi/csi.sock", "--nodeid", "worker-1", "--mode", "node",
		"--data-dir", "/var/lib/fusebpf-csi/", "--allowed-backing-root", "/srv/a", "--allowed-backing-root", "/srv/b/"})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if o.Mode != ModeNode || o.DataDir != "/var/lib/fusebpf-csi" || o.StateDir != "/var/lib/fusebpf-csi/state" {
		t.Errorf("options %+v", o)
	}
	if strings.Join(o.AllowedBackingRoots, ",") != "/srv/a,/srv/b" {
		t.Errorf("roots %v", o.AllowedBackingRoots)
	}
	if !o.RecoverMounts || o.OperationTimeout != DefaultOperationTimeout || o.HealthTimeout != DefaultHealthTimeout {
		t.Errorf("defaults not applied: %+v", o)
	}
}

func TestOptionsValidate(t *testing.T) {
	good := func() Options {
		return Options{Endpoint: "unix:///tmp/csi.sock", NodeID: "n1", Mode: ModeAll, DataDir: "/var/lib/x"}
	}
	for _, tc := range []struct {
		name  string
		edit  func(*Options)
		error string
	}{
		{"tcp endpoint", func(o *Options) { o.Endpoint = "tcp://127.0.0.1:10000" }, "only unix://"},
		{"no endpoint", func(o *Options) { o.Endpoint = "" }, "--endpoint is required"},
		{"relative socket", func(o *Options) { o.Endpoint = "unix://csi.sock" }, "unix:///absolute/path"},
		{"no node", func(o *Options) { o.NodeID = "" }, "--nodeid is required"},
		{"node with colon", func(o *Options) { o.NodeID = "a:b" }, "--nodeid"},
		{"upper-case node", func(o *Options) { o.NodeID = "Node1" }, "--nodeid"},
		{"long node", func(o *Options) { o.NodeID = strings.Repeat("a", 64) }, "longer than 63"},
		{"bad mode", func(o *Options) { o.Mode = "both" }, "--mode"},
		{"relative data dir", func(o *Options) { o.DataDir = "data" }, "--data-dir"},
		{"relative root", func(o *Options) { o.AllowedBackingRoots = []string{"srv"} }, "--allowed-backing-root"},
		{"slash root", func(o *Options) { o.AllowedBackingRoots = []string{"/"} }, "whole file system"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := good()
			tc.edit(&o)
			err := o.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.error) {
				t.Errorf("Validate() = %v, want an error containing %q", err, tc.error)
			}
		})
	}
	o := good()
	if err := o.Validate(); err != nil {
		t.Errorf("good options: %v", err)
	}
}
