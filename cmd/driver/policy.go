package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cilium/ebpf/btf"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/fusebpf/kernel"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/kube"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/kube/apis/v1alpha1"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/kube/compat"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/policy"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/version"
)

func init() {
	register(&command{name: "policy", summary: "inspect a policy, check it against a kernel, or pack it as a FilterPolicy", run: runPolicy})
}

const policyUsage = `Usage: fusebpf-csi policy inspect|check|pack [FLAGS] FILE|NAME

  inspect  callbacks, kfuncs and parameters (types, defaults) of an object
  check    whether the kernel tier of a BTF (a file, /sys/kernel/btf/vmlinux,
           or a node's published FuseBPFNode) can run the policy; exit status
           0 compatible, 1 incompatible, 2 bad input
  pack     print a FilterPolicy manifest carrying the object

FILE is a compiled policy object; NAME a built-in (` + "%s" + `).
Run 'fusebpf-csi policy SUBCOMMAND --help' for its flags.
`

func runPolicy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{msg: "want a subcommand: inspect, check or pack"}
	}
	switch args[0] {
	case "inspect":
		return runPolicyInspect(args[1:], stdout, stderr)
	case "check":
		return runPolicyCheck(ctx, args[1:], stdout, stderr)
	case "pack":
		return runPolicyPack(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprintf(stdout, policyUsage, strings.Join(policy.Builtins(), ", "))
		return nil
	}
	return usageError{msg: fmt.Sprintf("unknown subcommand %q: want inspect, check or pack", args[0])}
}

// loadPolicyArg loads FILE or the built-in NAME; failures are bad input.
func loadPolicyArg(arg string) (p *policy.Policy, source string, err error) {
	if _, statErr := os.Stat(arg); statErr == nil || strings.ContainsAny(arg, "/.") {
		elf, err := os.ReadFile(arg)
		if err != nil {
			return nil, "", usageError{msg: err.Error()}
		}
		if p, err = policy.Load(elf); err != nil {
			return nil, "", usageError{msg: fmt.Sprintf("%s: %v", arg, err)}
		}
		return p, "file " + arg, nil
	}
	if p, err = policy.Builtin(arg); err != nil {
		return nil, "", usageError{msg: fmt.Sprintf("no file %s, and %v", arg, err)}
	}
	return p, "built-in " + arg, nil
}

func oneArg(fs interface{ NArg() int }, what string) error {
	if fs.NArg() != 1 {
		return usageError{msg: "want one " + what}
	}
	return nil
}

func runPolicyInspect(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("policy inspect", "FILE|NAME", "List the callbacks, kfuncs and parameters (with types and defaults) of a policy object or built-in.", stderr)
	out := fs.String("o", "text", "output format: text or json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := oneArg(fs, "FILE or NAME"); err != nil {
		return err
	}
	p, source, err := loadPolicyArg(fs.Arg(0))
	if err != nil {
		return err
	}
	switch *out {
	case "json":
		type param struct {
			Name, Type, Description, Default string
		}
		v := struct {
			Source, Name, Digest string
			Callbacks            []policy.Callback
			Members              []string
			Kfuncs               []string
			Parameters           []param
		}{Source: source, Name: p.Name, Digest: p.Digest, Callbacks: p.Callbacks, Kfuncs: p.Kfuncs}
		for _, c := range p.Callbacks {
			v.Members = append(v.Members, c.Member())
		}
		for _, prm := range p.Params {
			v.Parameters = append(v.Parameters, param{prm.Name, string(prm.Kind), prm.Describe(), prm.Default})
		}
		return writeJSON(stdout, v)
	case "text":
	default:
		return usageError{msg: fmt.Sprintf("-o %q: want text or json", *out)}
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "policy:\t%s\nfuse_ops:\t%s\ndigest:\tsha256:%s\n", source, p.Name, p.Digest)
	fmt.Fprintf(tw, "\ncallbacks (%d):\n", len(p.Callbacks))
	for _, c := range p.Callbacks {
		fmt.Fprintf(tw, "  %s\tprogram %s\tFUSE opcode %d\n", c.Member(), c.Program, c.Op.Opcode())
	}
	kfuncs := strings.Join(p.Kfuncs, ", ")
	if kfuncs == "" {
		kfuncs = "none"
	}
	fmt.Fprintf(tw, "\nkfuncs:\t%s\n", kfuncs)
	fmt.Fprintf(tw, "\nparameters (%d; StorageClass key policy.<name>):\n", len(p.Params))
	if len(p.Params) > 0 {
		fmt.Fprintf(tw, "  NAME\tTYPE\tDEFAULT\n")
	}
	for _, prm := range p.Params {
		fmt.Fprintf(tw, "  %s\t%s\t%q\n", prm.Name, prm.Describe(), prm.Default)
	}
	return tw.Flush()
}

// errIncompatible is the exit-1 result of `policy check`.
var errIncompatible = errors.New("incompatible")

func runPolicyCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("policy check", "FILE|NAME", `Check a policy against the FUSE-BPF ABI of a kernel: each callback's
struct fuse_ops member and prototype, each kfunc, and every CO-RE
relocation. Compatible means the kernel tier can run it. Exit status: 0
compatible, 1 incompatible, 2 bad input.`, stderr)
	btfPath := fs.String("btf", "/sys/kernel/btf/vmlinux", "BTF to check against: vmlinux BTF, raw BTF or an ELF with .BTF")
	node := fs.String("node", "", "check against this node's published FuseBPFNode instead of --btf")
	var ko kube.Options
	fs.StringVar(&ko.Kubeconfig, "kubeconfig", "", "kubeconfig for --node (default: in-cluster, then $KUBECONFIG)")
	out := fs.String("o", "text", "output format: text or json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := oneArg(fs, "FILE or NAME"); err != nil {
		return err
	}
	btfSet := false
	fs.Visit(func(f *flag.Flag) { btfSet = btfSet || f.Name == "btf" })
	if *node != "" && btfSet {
		return usageError{msg: "--btf and --node exclude each other"}
	}
	if *out != "text" && *out != "json" {
		return usageError{msg: fmt.Sprintf("-o %q: want text or json", *out)}
	}
	p, source, err := loadPolicyArg(fs.Arg(0))
	if err != nil {
		return err
	}

	var st v1alpha1.FuseBPFNodeStatus
	target := *btfPath
	if *node != "" {
		target = "node " + *node
		if st, err = nodeFacts(ctx, &ko, *node); err != nil {
			return err
		}
	} else {
		spec, err := btf.LoadSpec(*btfPath)
		if err != nil {
			return usageError{msg: fmt.Sprintf("--btf %s: %v", *btfPath, err)}
		}
		probe, err := kernel.ProbeKernel(kernel.ProbeOptions{BTF: spec, Release: "n/a"})
		if err != nil {
			return err
		}
		st = kube.NodeStatusFromProbe(probe, version.Version, time.Now())
	}
	r := compat.Check(p, &st)
	compatible := r.Verdict == v1alpha1.VerdictKernel
	if *out == "json" {
		if err := writeJSON(stdout, struct {
			Policy, Target string
			Compatible     bool
			Report         *compat.Report
		}{source, target, compatible, r}); err != nil {
			return err
		}
	} else {
		printReport(stdout, source, target, r, compatible)
	}
	if !compatible {
		return fmt.Errorf("%s: %w with the kernel tier of %s", source, errIncompatible, target)
	}
	return nil
}

func printReport(w io.Writer, source, target string, r *compat.Report, compatible bool) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "%s against %s:\n", source, target)
	mark := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "FAIL"
	}
	for _, f := range r.Callbacks {
		fmt.Fprintf(tw, "  callback %s\t%s\t%s\n", f.Name, mark(f.OK), f.Detail)
	}
	for _, f := range r.Kfuncs {
		fmt.Fprintf(tw, "  kfunc %s\t%s\t%s\n", f.Name, mark(f.OK), f.Detail)
	}
	if r.ABI {
		fmt.Fprintf(tw, "  CO-RE relocations\t%s\t%d resolved, %d failed\n", mark(len(r.Relocations) == 0), r.Relocated, len(r.Relocations))
	}
	for _, f := range r.Relocations {
		fmt.Fprintf(tw, "    %s\tFAIL\t%s\n", f.Name, f.Detail)
	}
	tw.Flush()
	if compatible {
		fmt.Fprintf(w, "compatible: %s\n", r.Reason)
		return
	}
	fmt.Fprintf(w, "incompatible with the kernel tier: %s\n", r.Reason)
}

// nodeFacts reads a node's published FuseBPFNode.
func nodeFacts(ctx context.Context, o *kube.Options, node string) (v1alpha1.FuseBPFNodeStatus, error) {
	cfg, err := o.RESTConfig()
	if err != nil {
		return v1alpha1.FuseBPFNodeStatus{}, err
	}
	c, err := kube.NewForConfig(cfg)
	if err != nil {
		return v1alpha1.FuseBPFNodeStatus{}, err
	}
	n, err := c.FuseBPFNodes.Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return v1alpha1.FuseBPFNodeStatus{}, fmt.Errorf("fusebpfnode %s: %w", node, err)
	}
	if n.Status.LastProbeTime.IsZero() {
		return v1alpha1.FuseBPFNodeStatus{}, fmt.Errorf("fusebpfnode %s: its node plugin has not published a probe yet", node)
	}
	return n.Status, nil
}

type paramFlag map[string]string

func (p paramFlag) String() string { return "" }
func (p paramFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q: want NAME=VALUE", s)
	}
	p[k] = v
	return nil
}

func runPolicyPack(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("policy pack", "FILE|NAME", `Print a FilterPolicy manifest that carries the policy object (or names
the built-in) with default parameters, after checking them.`, stderr)
	name := fs.String("name", "", "name of the FilterPolicy (required)")
	desc := fs.String("description", "", "spec.description")
	params := paramFlag{}
	fs.Var(params, "param", "default parameter NAME=VALUE; repeat for several")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := oneArg(fs, "FILE or NAME"); err != nil {
		return err
	}
	if errs := validation.IsDNS1123Subdomain(*name); len(errs) > 0 {
		return usageError{msg: fmt.Sprintf("--name %q: %s", *name, strings.Join(errs, "; "))}
	}
	p, source, err := loadPolicyArg(fs.Arg(0))
	if err != nil {
		return err
	}
	if err := p.Validate(policy.Values(params)); err != nil {
		return usageError{msg: err.Error()}
	}
	fp := v1alpha1.FilterPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.SchemeGroupVersion.String(), Kind: "FilterPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: *name},
		Spec:       v1alpha1.FilterPolicySpec{Description: *desc},
	}
	if len(params) > 0 {
		fp.Spec.Parameters = params
	}
	if b, ok := strings.CutPrefix(source, "built-in "); ok {
		fp.Spec.Builtin = b
	} else {
		fp.Spec.Program = p.ELF()
	}
	// Without status and the zero creationTimestamp a typed object carries.
	raw, err := json.Marshal(fp)
	if err != nil {
		return err
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return err
	}
	delete(obj, "status")
	delete(obj["metadata"].(map[string]any), "creationTimestamp")
	out, err := yaml.Marshal(obj)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "# %s, sha256:%s\n", source, p.Digest)
	_, err = stdout.Write(out)
	return err
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
