package compat

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/cilium/ebpf/btf"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/kube/apis/v1alpha1"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/policy"
)

// FingerprintNone is the ABI fingerprint a node without struct fuse_ops
// publishes (the kernel package's FingerprintNone).
const FingerprintNone = "none"

// maxReason bounds a verdict's reason; the status of a policy carries one
// per node.
const maxReason = 1024

// Finding is the outcome of one item of the check: a callback, a kfunc or
// a CO-RE relocation.
type Finding struct {
	// Name is the fuse_ops member, the kfunc, or "program/type.field" for
	// a relocation.
	Name string `json:"name"`
	// OK is true when the item fits the node.
	OK bool `json:"ok"`
	// Detail says what was compared, or what is wrong.
	Detail string `json:"detail"`
}

// Report is the verdict on one policy against one node.
type Report struct {
	// Verdict is kernel, userspace or incompatible.
	Verdict v1alpha1.Verdict `json:"verdict"`
	// Reason is one line a person can act on.
	Reason string `json:"reason"`
	// ABI is true when the node has a FUSE-BPF ABI (struct fuse_ops), so
	// the findings below were checked against it.
	ABI bool `json:"abi"`
	// Callbacks has one finding per callback of the policy.
	Callbacks []Finding `json:"callbacks"`
	// Kfuncs has one finding per kfunc the policy calls.
	Kfuncs []Finding `json:"kfuncs"`
	// Relocations has one finding per CO-RE relocation that failed, and
	// Relocated counts those that resolved.
	Relocations []Finding `json:"relocations,omitempty"`
	Relocated   int       `json:"relocated"`
}

// Fits reports whether the policy passed every check against the node's
// ABI (false when the node has none).
func (r *Report) Fits() bool {
	if !r.ABI {
		return false
	}
	for _, fs := range [][]Finding{r.Callbacks, r.Kfuncs, r.Relocations} {
		for _, f := range fs {
			if !f.OK {
				return false
			}
		}
	}
	return true
}

// Failures returns the details of the failed findings, callbacks first.
func (r *Report) Failures() []string {
	var out []string
	for _, fs := range [][]Finding{r.Callbacks, r.Kfuncs, r.Relocations} {
		for _, f := range fs {
			if !f.OK {
				out = append(out, f.Detail)
			}
		}
	}
	return out
}

// Check compares p with a node's kernel facts. It never fails: a node
// whose facts cannot be read gets an incompatible verdict saying why.
func Check(p *policy.Policy, node *v1alpha1.FuseBPFNodeStatus) *Report {
	r := &Report{}
	hasKernel := node.HasTier(v1alpha1.TierKernel)
	hasUser := node.HasTier(v1alpha1.TierUserspace)
	why := strings.Join(node.KernelTierReasons, "; ")

	if len(node.BTFSubset) == 0 {
		r.notChecked(p, "the node has no FUSE-BPF ABI (no struct fuse_ops)")
		switch {
		case hasKernel:
			r.set(v1alpha1.VerdictIncompatible, "the node reports the kernel tier but published no BTF subset to check against; restart its node plugin")
		case hasUser:
			r.set(v1alpha1.VerdictUserspace, "no FUSE-BPF ABI on the node (%s); the userspace interpreter enforces the policy", orUnknown(why))
		default:
			r.set(v1alpha1.VerdictIncompatible, "the node offers no tier: no FUSE-BPF ABI (%s) and no /dev/fuse", orUnknown(why))
		}
		return r
	}
	target, err := btf.LoadSpecFromReader(bytes.NewReader(node.BTFSubset))
	if err != nil {
		r.notChecked(p, "the node's BTF subset does not load")
		r.set(v1alpha1.VerdictIncompatible, "the node's BTF subset does not load (%v); restart its node plugin", err)
		return r
	}
	checkAgainst(r, p, target)

	switch fails := r.Failures(); {
	case len(fails) > 0:
		r.set(v1alpha1.VerdictIncompatible, "the policy does not fit the node's FUSE-BPF ABI: %s", strings.Join(fails, "; "))
	case hasKernel:
		r.set(v1alpha1.VerdictKernel, "fits the node's FUSE-BPF ABI: %d callbacks, %d kfuncs, %d CO-RE relocations",
			len(r.Callbacks), len(r.Kfuncs), r.Relocated)
	case hasUser:
		r.set(v1alpha1.VerdictUserspace, "fits the node's struct fuse_ops, but the node offers no kernel tier (%s); the userspace interpreter enforces the policy", orUnknown(why))
	default:
		r.set(v1alpha1.VerdictIncompatible, "the node offers no tier (%s) and no /dev/fuse", orUnknown(why))
	}
	return r
}

func (r *Report) set(v v1alpha1.Verdict, format string, args ...any) {
	r.Verdict = v
	r.Reason = fmt.Sprintf(format, args...)
	if len(r.Reason) > maxReason {
		r.Reason = r.Reason[:maxReason-len(" …")] + " …"
	}
}

// notChecked records every callback and kfunc as failed for one reason.
func (r *Report) notChecked(p *policy.Policy, why string) {
	for _, c := range p.Callbacks {
		r.Callbacks = append(r.Callbacks, Finding{Name: c.Member(), Detail: why})
	}
	for _, k := range p.Kfuncs {
		r.Kfuncs = append(r.Kfuncs, Finding{Name: k, Detail: why})
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "reason not published"
	}
	return s
}

// checkAgainst runs the three checks against a target with fuse_ops.
func checkAgainst(r *Report, p *policy.Policy, target *btf.Spec) {
	r.ABI = true
	spec := p.Spec()
	var nodeOps *btf.Struct
	if err := target.TypeByName(policy.OpsStruct, &nodeOps); err != nil {
		// Only reachable for a subset without fuse_ops, which a node
		// never publishes.
		r.ABI = false
		r.notChecked(p, "no struct fuse_ops in the node's BTF")
		return
	}
	localOps, _ := spec.Maps[p.Name].Value.(*btf.Struct)
	for _, c := range p.Callbacks {
		r.Callbacks = append(r.Callbacks, checkCallback(c, localOps, nodeOps))
	}
	for _, k := range p.Kfuncs {
		r.Kfuncs = append(r.Kfuncs, checkKfunc(k, spec.Types, target))
	}

	names := make([]string, 0, len(spec.Programs))
	for name := range spec.Programs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		prog := spec.Programs[name]
		var relos []*btf.CORERelocation
		for i := range prog.Instructions {
			if relo := btf.CORERelocationMetadata(&prog.Instructions[i]); relo != nil {
				relos = append(relos, relo)
			}
		}
		if len(relos) == 0 {
			continue
		}
		fixups, err := btf.CORERelocate(relos, []*btf.Spec{target}, spec.ByteOrder, spec.Types.TypeID)
		if err != nil {
			r.Relocations = append(r.Relocations, Finding{Name: name, Detail: fmt.Sprintf("program %s: CO-RE relocation failed: %v", name, err)})
			continue
		}
		for i, f := range fixups {
			what := describeRelocation(relos[i], spec.Types)
			if strings.HasSuffix(f.String(), "=poison") {
				if slices.ContainsFunc(r.Relocations, func(f Finding) bool { return f.Name == name+"/"+what }) {
					continue // the same access twice in one program
				}
				r.Relocations = append(r.Relocations, Finding{
					Name:   name + "/" + what,
					Detail: fmt.Sprintf("program %s: CO-RE relocation of %s finds no match in the node's BTF", name, what),
				})
				continue
			}
			r.Relocated++
		}
	}
}

func checkCallback(c policy.Callback, localOps, nodeOps *btf.Struct) Finding {
	member := c.Member()
	f := Finding{Name: member}
	nm, ok := memberByName(nodeOps, member)
	if !ok {
		f.Detail = fmt.Sprintf("callback %s (program %s): the node's struct fuse_ops has no member %s", member, c.Program, member)
		return f
	}
	nodeProto, ok := funcPointerProto(nm.Type)
	if !ok {
		f.Detail = fmt.Sprintf("callback %s: the node's fuse_ops.%s is not a function pointer", member, member)
		return f
	}
	var localProto *btf.FuncProto
	if localOps != nil {
		if lm, ok := memberByName(localOps, member); ok {
			localProto, _ = funcPointerProto(lm.Type)
		}
	}
	if localProto == nil {
		// Load guarantees the member exists in the object's fuse_ops;
		// without its prototype only existence can be checked.
		f.OK = true
		f.Detail = fmt.Sprintf("callback %s: member present (the object carries no prototype to compare)", member)
		return f
	}
	if d := compareProtos("callback "+member, "the policy's", localProto, nodeProto); d != "" {
		f.Detail = d
		return f
	}
	f.OK = true
	f.Detail = protoString(nodeProto)
	return f
}

func checkKfunc(name string, local, target *btf.Spec) Finding {
	f := Finding{Name: name}
	nodeFn, err := findFunc(target, name)
	if err != nil {
		f.Detail = fmt.Sprintf("kfunc %s: not in the node's BTF", name)
		if other := otherNameSet(name); other != "" {
			if _, err := findFunc(target, other); err == nil {
				f.Detail += fmt.Sprintf(" (the node names it %s; rebuild the policy against that name set)", other)
			}
		}
		return f
	}
	nodeProto, ok := nodeFn.Type.(*btf.FuncProto)
	if !ok {
		f.Detail = fmt.Sprintf("kfunc %s: the node's BTF has no prototype for it", name)
		return f
	}
	localFn, err := findFunc(local, name)
	if err != nil {
		f.OK = true
		f.Detail = fmt.Sprintf("kfunc %s: present (the object carries no prototype to compare)", name)
		return f
	}
	localProto, ok := localFn.Type.(*btf.FuncProto)
	if !ok {
		f.OK = true
		f.Detail = fmt.Sprintf("kfunc %s: present", name)
		return f
	}
	if d := compareProtos("kfunc "+name, "the policy's", localProto, nodeProto); d != "" {
		f.Detail = d
		return f
	}
	f.OK = true
	f.Detail = protoString(nodeProto)
	return f
}

// kfuncRenames pairs the two FUSE kfunc name sets (FUSE-BPF-ABI.md §1.6).
var kfuncRenames = map[string]string{
	"bpf_fuse_get_ro_dynptr":         "bpf_dynptr_from_fuse_buffer_ro",
	"bpf_fuse_get_rw_dynptr":         "bpf_dynptr_from_fuse_buffer_rw",
	"bpf_dynptr_from_fuse_buffer_ro": "bpf_fuse_get_ro_dynptr",
	"bpf_dynptr_from_fuse_buffer_rw": "bpf_fuse_get_rw_dynptr",
}

func otherNameSet(name string) string { return kfuncRenames[name] }

// compareProtos returns "" when node's prototype has local's shape: the
// same arity, a return of the same size, and pointer parameters to the
// same named structs.
func compareProtos(what, localWho string, local, node *btf.FuncProto) string {
	if len(local.Params) != len(node.Params) {
		return fmt.Sprintf("%s: the node's prototype takes %d parameters, %s %d (node: %s)",
			what, len(node.Params), localWho, len(local.Params), protoString(node))
	}
	if ls, ns := sizeOf(local.Return), sizeOf(node.Return); ls != ns {
		return fmt.Sprintf("%s: the node's prototype returns %d bytes, %s %d", what, ns, localWho, ls)
	}
	for i := range local.Params {
		ln, lok := pointee(local.Params[i].Type)
		nn, nok := pointee(node.Params[i].Type)
		if lok != nok || ln != nn {
			return fmt.Sprintf("%s: parameter %d is %s on the node, %s in the policy",
				what, i, typeName(node.Params[i].Type), typeName(local.Params[i].Type))
		}
	}
	return ""
}

func memberByName(s *btf.Struct, name string) (btf.Member, bool) {
	for _, m := range s.Members {
		if m.Name == name {
			return m, true
		}
	}
	return btf.Member{}, false
}

func funcPointerProto(t btf.Type) (*btf.FuncProto, bool) {
	ptr, ok := btf.As[*btf.Pointer](t)
	if !ok {
		return nil, false
	}
	return btf.As[*btf.FuncProto](ptr.Target)
}

func findFunc(spec *btf.Spec, name string) (*btf.Func, error) {
	types, err := spec.AnyTypesByName(name)
	if err != nil {
		return nil, err
	}
	for _, t := range types {
		if fn, ok := t.(*btf.Func); ok {
			return fn, nil
		}
	}
	return nil, fmt.Errorf("func %s: %w", name, btf.ErrNotFound)
}

// pointee names what a pointer parameter points to ("struct fuse_buffer",
// "void"); ok is false for a non-pointer.
func pointee(t btf.Type) (string, bool) {
	ptr, ok := btf.As[*btf.Pointer](t)
	if !ok {
		return "", false
	}
	return typeName(ptr.Target), true
}

func sizeOf(t btf.Type) int {
	if t == nil {
		return 0
	}
	if _, ok := t.(*btf.Void); ok {
		return 0
	}
	n, err := btf.Sizeof(t)
	if err != nil {
		return -1
	}
	return n
}

// typeName renders a type the way C spells it, without qualifiers or
// typedefs: "struct fuse_buffer *", "u32".
func typeName(t btf.Type) string {
	switch v := btf.UnderlyingType(t).(type) {
	case nil, *btf.Void:
		return "void"
	case *btf.Pointer:
		return typeName(v.Target) + " *"
	case *btf.Struct:
		return "struct " + v.Name
	case *btf.Union:
		return "union " + v.Name
	case *btf.Fwd:
		return v.Kind.String() + " " + v.Name
	case *btf.Int:
		if v.Encoding&btf.Bool != 0 {
			return "bool"
		}
		if v.Encoding&btf.Signed != 0 {
			return fmt.Sprintf("s%d", 8*v.Size)
		}
		return fmt.Sprintf("u%d", 8*v.Size)
	case *btf.Enum:
		return "enum " + v.Name
	case *btf.FuncProto:
		return "function"
	case *btf.Array:
		return fmt.Sprintf("%s[%d]", typeName(v.Type), v.Nelems)
	default:
		return fmt.Sprint(t)
	}
}

func protoString(p *btf.FuncProto) string {
	params := make([]string, len(p.Params))
	for i, q := range p.Params {
		params[i] = typeName(q.Type)
	}
	return fmt.Sprintf("%s (%s)", typeName(p.Return), strings.Join(params, ", "))
}
