// Package bpfvm is a userspace eBPF interpreter that runs clang-compiled
// BPF objects — the same FUSE-BPF policy objects the patched kernel runs —
// on kernels that cannot run them.
//
// # What it implements
//
// The instruction set of RFC 9669 in the conformance groups base32, base64,
// atomic32, atomic64, divmul32 and divmul64, plus the clang -mcpu=v4
// additions (sign-extending loads and moves, SDIV/SMOD, unconditional byte
// swap, the 32-bit-offset ja), bpf-to-bpf calls (StackSize bytes of stack
// per frame, at most MaxCallDepth frames), lddw references to maps and to
// .rodata/.data/.bss, helper calls by number and kfunc calls by name. Legacy
// packet loads, callx, tail calls, callbacks (lddw of a function) and
// ksym/kconfig externs are refused at load with ErrNotSupported or
// ErrUnknownHelper. Instructions run as compiled: CO-RE relocations are
// not applied here (apply them to the spec first if the target layout
// differs from the object's).
//
// Every program is checked once when it is loaded: known opcodes only,
// reserved fields zero, registers r0-r10 with r10 read-only, jump and call
// targets inside the program and never on the second half of an lddw, the
// last instruction exit or ja, every helper, kfunc and map resolved. A
// problem is an *InstructionError naming the instruction's slot index.
//
// # Memory safety without a verifier
//
// Guest addresses are "region << 32 | offset"; no guest address is a host
// pointer. Regions are the run's stack, buffers the embedder maps for the
// run (MapBytes), map values and global data sections, dynptr views and
// ring buffer records. Every load, store, atomic and helper access is
// checked against its region's bounds (for map values, against one
// element) and permission. Division by zero follows the RFC. Faults, writes
// to read-only memory, an exhausted instruction budget, too deep calls and
// helper errors end the run with a *RunError whose cause is one of
// ErrOutOfBounds, ErrReadOnly, ErrMisaligned, ErrBudget, ErrCallDepth or a
// *HelperError; the interpreter does not panic and does not loop past its
// budget.
//
// # Using it
//
// Build a Collection from an *ebpf.CollectionSpec (ebpf.LoadCollectionSpec
// needs no kernel) after setting the spec's Variables: each Collection is an
// independent instance with its own maps and frozen .rodata, so a policy
// gets one per volume. Programs are found by name in Collection.Programs;
// struct_ops callbacks ("struct_ops/<name>" sections) report their member in
// AttachTo.
//
// A run maps the embedder's memory and passes guest addresses in R1-R5:
//
//	spec, _ := ebpf.LoadCollectionSpec("policy.bpf.o")
//	_ = spec.Variables["max_uid"].Set(uint32(1000))
//	coll, err := bpfvm.NewCollection(spec, &bpfvm.Options{
//		Kfuncs: map[string]bpfvm.HelperFunc{"bpf_fuse_get_ro_dynptr": getRODynptr},
//		Trace:  func(r *bpfvm.Run, msg string) { log.Print(msg) },
//	})
//	...
//	r := coll.Programs["lookup_prefilter"].NewRun()
//	defer r.Release()
//	r.SetCaller(bpfvm.Caller{UID: uid, GID: gid, PID: pid, TGID: tgid})
//	r.SetData(request) // for the kfuncs
//	meta, _ := r.MapBytes(metaBytes, bpfvm.ReadWrite)
//	args, _ := r.MapBytes(argArray(meta, name), bpfvm.ReadOnly) // BPF_PROG's u64 ctx[]
//	ret, err := r.Exec(args)
//	// metaBytes now holds what the program stored; int32(ret) is its verdict.
//
// Helpers (by number) and kfuncs (by name) are HelperFuncs given in
// Options; they may replace the built-ins. A HelperFunc receives the *Run,
// through which it reads and writes guest memory with bounds checks (Read,
// Write, ReadUint, WriteUint), maps new memory (MapBytes), creates and
// inspects dynptrs in guest struct bpf_dynptr slots (InitDynptr, Dynptr,
// SetDynptrNull) and reaches the embedder's per-run values (Caller, Data).
// A kfunc like FUSE-BPF's bpf_fuse_get_rw_dynptr grows a buffer by mapping
// a larger []byte with MapBytes and handing out a ReadWrite dynptr over it;
// after Exec the embedder reads that []byte.
//
// Built-in helpers: map lookup/update/delete, ktime_get_ns (and _boot_ns),
// trace_printk and trace_vprintk (to Options.Trace), get_current_pid_tgid
// and get_current_uid_gid (from SetCaller), ringbuf output/reserve/submit/
// discard/query, strncmp, dynptr_from_mem/read/write/data; built-in kfuncs:
// bpf_dynptr_slice, bpf_dynptr_slice_rdwr (NULL buffer allowed),
// bpf_dynptr_size, bpf_dynptr_is_null, bpf_dynptr_is_rdonly,
// bpf_dynptr_adjust.
//
// # Maps
//
// Array, hash, LRU hash (bounded, CLOCK eviction) and their per-CPU
// variants (one CPU), with BPF_ANY/BPF_NOEXIST/BPF_EXIST, and ring buffers
// whose consumer side is Map.RingBuffer (Read blocks, TryRead does not).
// Map methods are safe for concurrent use with running programs.
//
// # Concurrency and cost
//
// A Program is immutable; Runs come from a per-program pool and each is
// used by one goroutine at a time, so one program serves any number of
// goroutines. Map values are accessed with word-sized atomic operations on
// both sides, so there are no data races, and BPF atomics are atomic. A
// steady-state run allocates nothing. The interpreter pre-decodes programs
// into 16-byte instructions, fuses common clang instruction pairs and
// triples into superinstructions (one dispatch, the same semantics and
// slot count), and runs ALU, jumps and accesses to the stack and other
// private memory in a loop without calls; the budget (SetBudget,
// Options.Budget, counted in instruction slots) is checked at taken jumps,
// calls, exit and every access that leaves that loop.
package bpfvm
