package kernel

import (
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// nameMember is the struct_ops member that holds the registration name,
// in fuse_ops and in the in-tree types that have one (tcp_congestion_ops).
const nameMember = "name"

// RegisterOptions configure [Register].
type RegisterOptions struct {
	// VolumeID derives the instance name (see [InstanceName]); on EEXIST
	// the next candidate is tried.
	VolumeID string
	// Name, if set, is registered as is instead, with no retry.
	Name string
	// Constants set the object's constant globals (const volatile, in
	// .rodata) by name before loading: the per-volume policy parameters.
	// A value must have the variable's size, as for
	// [ebpf.VariableSpec.Set].
	Constants map[string]any
	// Collection is passed to ebpf.NewCollectionWithOptions (verifier log
	// level, BTF cache).
	Collection ebpf.CollectionOptions
}

// Instance is a registered struct_ops instance. Close unregisters it.
type Instance struct {
	name     string
	typeName string
	mapName  string
	coll     *ebpf.Collection
	lnk      link.Link
}

// Name returns the name the instance is registered under: what root_bpf=
// refers to for fuse_ops, or TCP_CONGESTION for tcp_congestion_ops.
func (i *Instance) Name() string { return i.name }

// Type returns the struct_ops type, e.g. "fuse_ops".
func (i *Instance) Type() string { return i.typeName }

// Collection returns the loaded object, for access to its other maps and
// variables (audit ring buffers, counters). It is closed by Close.
func (i *Instance) Collection() *ebpf.Collection { return i.coll }

// Close unregisters the instance and releases its programs and maps.
func (i *Instance) Close() error {
	var errs []error
	if i.lnk != nil {
		if err := i.lnk.Close(); err != nil {
			errs = append(errs, fmt.Errorf("unregister %s: %w", i.name, err))
		}
		i.lnk = nil
	}
	if i.coll != nil {
		i.coll.Close()
		i.coll = nil
	}
	return errors.Join(errs...)
}

// Register loads a struct_ops object and registers its one instance with
// the running kernel under a per-volume name: map creation, program load
// against the kernel's attach targets, the struct_ops map update that
// copies the name, and a BPF link that registers it. spec is not modified.
//
// For fuse_ops the kernel's BTF must carry the complete Generation A ABI;
// otherwise Register fails before touching the kernel with an
// [*UnsupportedError] listing what is missing (errors.Is ErrNotSupported).
// Other failures are [*Error]s whose hint says what to fix. The same code
// registers any struct_ops type that has a char name[] member, such as
// tcp_congestion_ops.
func Register(spec *ebpf.CollectionSpec, opts RegisterOptions) (*Instance, error) {
	mapName, ms, err := structOpsMap(spec)
	if err != nil {
		return nil, err
	}
	userType, ok := btf.As[*btf.Struct](ms.Value)
	if !ok {
		return nil, fmt.Errorf("struct_ops map %s: value is %T, not a struct: %w", mapName, ms.Value, ErrNoStructOps)
	}
	if opts.Name == "" && opts.VolumeID == "" {
		return nil, fmt.Errorf("register %s: neither a name nor a volume ID: %w", userType.Name, ErrInvalidName)
	}
	if err := kernelSupports(userType.Name); err != nil {
		return nil, err
	}

	for attempt := 0; ; attempt++ {
		name := opts.Name
		if name == "" {
			if name, err = InstanceName(opts.VolumeID, attempt); err != nil {
				return nil, fmt.Errorf("register %s for volume %q: %w", userType.Name, opts.VolumeID, err)
			}
		}
		inst, err := registerAs(spec, mapName, userType.Name, name, opts)
		if err == nil {
			return inst, nil
		}
		if opts.Name != "" || !errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("%s %q: %w", userType.Name, name, err)
		}
	}
}

func registerAs(spec *ebpf.CollectionSpec, mapName, typeName, name string, opts RegisterOptions) (*Instance, error) {
	cs := spec.Copy()
	if err := setInstanceName(cs.Maps[mapName], name); err != nil {
		return nil, err
	}
	for _, k := range sortedKeys(opts.Constants) {
		v, ok := cs.Variables[k]
		if !ok || !v.Constant() {
			return nil, fmt.Errorf("constant %q: no such const volatile global in the object", k)
		}
		if err := v.Set(opts.Constants[k]); err != nil {
			return nil, fmt.Errorf("constant %q: %w", k, err)
		}
	}

	coll, err := ebpf.NewCollectionWithOptions(cs, opts.Collection)
	if err != nil {
		phase := PhaseLoad
		if errors.Is(err, unix.EEXIST) {
			// init_member of some types rejects a taken name at map update.
			phase = PhaseRegister
		}
		return nil, Explain(phase, err)
	}
	lnk, err := link.AttachStructOps(link.StructOpsOptions{Map: coll.Maps[mapName]})
	if err != nil {
		coll.Close()
		return nil, Explain(PhaseRegister, err)
	}
	return &Instance{name: name, typeName: typeName, mapName: mapName, coll: coll, lnk: lnk}, nil
}

// structOpsMap returns the object's only struct_ops map.
func structOpsMap(spec *ebpf.CollectionSpec) (string, *ebpf.MapSpec, error) {
	var names []string
	for name, ms := range spec.Maps {
		if ms.Type == ebpf.StructOpsMap {
			names = append(names, name)
		}
	}
	if len(names) != 1 {
		sort.Strings(names)
		return "", nil, fmt.Errorf("found %d %v: %w", len(names), names, ErrNoStructOps)
	}
	return names[0], spec.Maps[names[0]], nil
}

// setInstanceName writes name into the name member of a struct_ops map's
// initial value (the ELF's .struct_ops.link data).
func setInstanceName(ms *ebpf.MapSpec, name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	st, ok := btf.As[*btf.Struct](ms.Value)
	if !ok {
		return fmt.Errorf("struct_ops map %s: value is not a struct: %w", ms.Name, ErrNoStructOps)
	}
	i := slices.IndexFunc(st.Members, func(m btf.Member) bool { return m.Name == nameMember })
	if i < 0 {
		return fmt.Errorf("struct %s has no %s member to register under", st.Name, nameMember)
	}
	m := st.Members[i]
	arr, ok := btf.As[*btf.Array](m.Type)
	if !ok {
		return fmt.Errorf("%s.%s is not a char array", st.Name, nameMember)
	}
	if len(name)+1 > int(arr.Nelems) {
		return fmt.Errorf("%q does not fit %s.%s[%d]: %w", name, st.Name, nameMember, arr.Nelems, ErrInvalidName)
	}
	if len(ms.Contents) != 1 {
		return fmt.Errorf("struct_ops map %s: %d initial values, want 1", ms.Name, len(ms.Contents))
	}
	orig, ok := ms.Contents[0].Value.([]byte)
	off := int(m.Offset.Bytes())
	if !ok || off+int(arr.Nelems) > len(orig) {
		return fmt.Errorf("struct_ops map %s: initial value does not cover %s", ms.Name, nameMember)
	}
	// MapSpec.Copy shares the bytes with the original spec.
	data := slices.Clone(orig)
	clear(data[off : off+int(arr.Nelems)])
	copy(data[off:], name)
	ms.Contents[0].Value = data
	return nil
}

// kernelSupports checks, before anything is loaded, that the running
// kernel can register the struct_ops type. Only fuse_ops is checked: other
// types may live in a module's BTF, which the loader searches itself (and
// reports as ebpf.ErrNotSupported when absent).
func kernelSupports(typeName string) error {
	if typeName != OpsStruct {
		return nil
	}
	spec, err := loadKernelBTF()
	if err != nil {
		return &UnsupportedError{Feature: featureFuseOps, Reasons: []string{"no kernel BTF: " + err.Error()}}
	}
	if c := checkABI(spec); !c.intact() {
		return &UnsupportedError{Feature: featureFuseOps, Reasons: c.reasons}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
