package bpfvm

import (
	"fmt"
	"sync/atomic"
)

// DefaultBudget is the per-run instruction budget used when Options.Budget
// is zero.
const DefaultBudget = 1_000_000

// MaxRunRegions bounds the regions one run may map (embedder buffers,
// dynptr slices, ring buffer records), so a looping program cannot grow a
// run's memory without limit.
const MaxRunRegions = 4096

// HelperFunc implements a BPF helper (called by number) or kfunc (called by
// name). It receives the run, which gives bounds-checked access to guest
// memory, dynptrs and the embedder's per-run values, and R1-R5. Its first
// result becomes R0. A non-nil error ends the run with a *RunError wrapping
// a *HelperError (errors.Is(err, ErrHelper) holds). Helpers report ordinary
// failures the way the kernel does, as a negative errno in R0, and keep Go
// errors for conditions that must stop the program.
//
// A HelperFunc may be called concurrently from many runs. A panic inside
// it is recovered and ends the run with an error matching ErrInternal.
type HelperFunc func(r *Run, a1, a2, a3, a4, a5 uint64) (uint64, error)

type boundFunc struct {
	name string
	fn   HelperFunc
}

// Caller identifies the task on whose behalf a run executes; the
// bpf_get_current_uid_gid and bpf_get_current_pid_tgid helpers report it.
type Caller struct {
	UID, GID  uint32
	PID, TGID uint32 // thread id and process id, as the kernel names them
}

// Run is the state of one execution of a Program: registers and stack live
// only inside Exec, while the regions the embedder maps, dynptrs, ring
// buffer reservations and per-run values live here until Reset or Release.
//
// A Run is used by one goroutine at a time; many Runs of one Program may
// execute concurrently. Runs are pooled: obtain one with Program.NewRun and
// hand it back with Release.
type Run struct {
	hot
	prog     *Program
	nfixed   int
	frames   [MaxCallDepth]frame
	executed uint64
	pc       int // slot of the helper call in progress, for error reports
	running  bool

	caller Caller
	data   any

	dynptrs []dynptrState
	records []ringRecord
	cookie  uint32

	scratch [2][]byte
	fmtBuf  []byte

	faultAddr  uint64
	faultSize  uint64
	faultCause error
}

// hot is the state the interpreter's fast loop uses, behind one pointer so
// that the loop keeps few values in registers.
type hot struct {
	// reg is the register file, indexed by the raw register byte so the
	// interpreter needs neither masks nor bounds checks (decode admits only
	// r0-r10).
	reg     [256]uint64
	stack   [stackBytes]byte
	regions []region
	budget  uint64
}

// runCookies gives each Run a distinct starting dynptr cookie. Within a
// Run the cookie then just counts resets: a dynptr handle only ever
// resolves against the current run's own table, so a stale or forged
// handle can at worst name a view the run already holds.
var runCookies atomic.Uint32

func newRun(p *Program) *Run {
	r := &Run{prog: p}
	r.regions = make([]region, firstStatic+len(p.env.static), firstStatic+len(p.env.static)+8)
	r.regions[regionStack] = withFastFlags(region{data: r.stack[:], flags: flagWrite | flagLive})
	copy(r.regions[firstStatic:], p.env.static)
	r.nfixed = len(r.regions)
	r.cookie = runCookies.Add(1) << 16
	return r
}

// Program returns the program this run executes.
func (r *Run) Program() *Program { return r.prog }

// SetBudget sets the maximum number of instructions one Exec may execute.
// Zero restores the program's default.
func (r *Run) SetBudget(n uint64) {
	if n == 0 {
		n = r.prog.budget
	}
	r.budget = n
}

// Executed returns the number of instruction slots the last Exec executed
// (an lddw, which occupies two slots, counts as two), including the one
// that failed. The budget is counted the same way.
func (r *Run) Executed() uint64 { return r.executed }

// SetCaller sets the task the helpers report as current.
func (r *Run) SetCaller(c Caller) { r.caller = c }

// Caller returns the task set by SetCaller.
func (r *Run) Caller() Caller { return r.caller }

// SetData attaches an embedder value to the run, for helpers and kfuncs to
// reach with Data. It is cleared by Release.
func (r *Run) SetData(v any) { r.data = v }

// Data returns the value set by SetData.
func (r *Run) Data() any { return r.data }

// MapBytes maps buf into the run's guest memory and returns its guest
// address. With ReadWrite the program may store into buf; the embedder
// reads the result from buf after Exec. The mapping lasts until Reset or
// Release. buf must not be used by other goroutines while the run executes.
// Helpers may call MapBytes during a run (for example to hand out a grown
// buffer).
func (r *Run) MapBytes(buf []byte, perm Perm) (uint64, error) {
	if uint64(len(buf)) > 1<<32-1 {
		return 0, fmt.Errorf("%w: region of %d bytes exceeds 4 GiB", ErrBadArgument, len(buf))
	}
	flags := uint32(flagLive)
	switch perm {
	case ReadOnly:
	case ReadWrite:
		flags |= flagWrite
	default:
		return 0, fmt.Errorf("%w: permission %d", ErrBadArgument, perm)
	}
	return r.addRegion(region{data: buf, flags: flags})
}

func (r *Run) addRegion(rg region) (uint64, error) {
	if len(r.regions)-r.nfixed >= MaxRunRegions {
		return 0, ErrTooManyRegions
	}
	r.regions = append(r.regions, withFastFlags(rg))
	return uint64(len(r.regions)-1) << 32, nil
}

// Exec runs the program with R1-R5 set to args (at most five; missing ones
// are zero) and returns R0. It must not be called from the run's own
// helpers. A run that does not reach its final exit returns
// a *RunError. Regions mapped before Exec stay mapped after it, so the
// embedder can read results and Exec again.
func (r *Run) Exec(args ...uint64) (uint64, error) {
	if len(args) > 5 {
		return 0, fmt.Errorf("%w: %d arguments, at most 5", ErrBadArgument, len(args))
	}
	if r.running {
		return 0, fmt.Errorf("%w: Exec called by a helper of the same run", ErrBadArgument)
	}
	var a [5]uint64
	copy(a[:], args)
	r.executed = 0
	r.pc = -1
	r.running = true
	ret, err := r.exec(0, &a)
	r.running = false
	r.pc = -1
	return ret, err
}

// Reset unmaps the regions mapped for this run, invalidates its dynptrs
// and discards ring buffer records it reserved but did not submit, so the
// Run can be reused for an unrelated execution.
func (r *Run) Reset() {
	for i := range r.records {
		if rec := &r.records[i]; rec.rb != nil {
			rec.rb.finish(rec.seq, false)
		}
	}
	clear(r.records)
	r.records = r.records[:0]
	clear(r.regions[r.nfixed:])
	r.regions = r.regions[:r.nfixed]
	r.dynptrs = r.dynptrs[:0]
	r.cookie++ // stale dynptrs from before the reset no longer resolve
	r.budget = r.prog.budget
	r.executed = 0
}

// Release resets the run and returns it to its program's pool. The Run
// must not be used afterwards.
func (r *Run) Release() {
	r.Reset()
	r.data = nil
	r.caller = Caller{}
	r.prog.pool.Put(r)
}

// Read copies len(p) bytes of guest memory at addr into p.
func (r *Run) Read(addr uint64, p []byte) error {
	rg, off := r.translate(addr, uint64(len(p)), false)
	if rg == nil {
		return r.memErr()
	}
	if rg.flags&flagShared != 0 {
		sharedCopyOut(p, rg.data, off)
	} else {
		copy(p, rg.data[off:])
	}
	return nil
}

// Write copies p into guest memory at addr, which must be writable.
func (r *Run) Write(addr uint64, p []byte) error {
	rg, off := r.translate(addr, uint64(len(p)), true)
	if rg == nil {
		return r.memErr()
	}
	if rg.flags&flagShared != 0 {
		sharedCopyIn(rg.data, off, p)
	} else {
		copy(rg.data[off:], p)
	}
	return nil
}

// ReadUint reads a little-endian integer of size 1, 2, 4 or 8 bytes.
func (r *Run) ReadUint(addr uint64, size int) (uint64, error) {
	switch size {
	case 1, 2, 4, 8:
	default:
		return 0, fmt.Errorf("%w: integer size %d", ErrBadArgument, size)
	}
	v, ok := r.load(addr, uint64(size))
	if !ok {
		return 0, r.memErr()
	}
	return v, nil
}

// WriteUint writes a little-endian integer of size 1, 2, 4 or 8 bytes.
func (r *Run) WriteUint(addr uint64, size int, v uint64) error {
	switch size {
	case 1, 2, 4, 8:
	default:
		return fmt.Errorf("%w: integer size %d", ErrBadArgument, size)
	}
	if !r.store(addr, uint64(size), v) {
		return r.memErr()
	}
	return nil
}

func (r *Run) memErr() error {
	return &RunError{PC: r.pc, Addr: r.faultAddr, Size: int(r.faultSize), Err: r.faultCause}
}

// view returns n bytes of guest memory at addr for reading. Private memory
// is returned in place; shared memory is copied into scratch buffer i, so
// the result is valid until the next view with the same i.
func (r *Run) view(addr, n uint64, i int) ([]byte, error) {
	rg, off := r.translate(addr, n, false)
	if rg == nil {
		return nil, r.memErr()
	}
	if rg.flags&flagShared == 0 {
		return rg.data[off : off+n : off+n], nil
	}
	if uint64(cap(r.scratch[i])) < n {
		r.scratch[i] = make([]byte, n)
	}
	b := r.scratch[i][:n]
	sharedCopyOut(b, rg.data, off)
	return b, nil
}

// span returns up to max bytes of guest memory starting at addr (fewer if
// the region ends first), for reading; at least the first byte must be
// mapped. Like view, shared memory is copied into scratch buffer i.
func (r *Run) span(addr, max uint64, i int) ([]byte, error) {
	rg, off := r.translate(addr, 1, false)
	if rg == nil {
		return nil, r.memErr()
	}
	n := min(max, uint64(len(rg.data))-off)
	if rg.mask != 0 {
		n = min(n, uint64(rg.elem)-uint64(uint32(off)&rg.mask))
	}
	if rg.flags&flagShared == 0 {
		return rg.data[off : off+n : off+n], nil
	}
	if uint64(cap(r.scratch[i])) < n {
		r.scratch[i] = make([]byte, n)
	}
	b := r.scratch[i][:n]
	sharedCopyOut(b, rg.data, off)
	return b, nil
}

// byteAt reads one byte of guest memory.
func (r *Run) byteAt(addr uint64) (byte, error) {
	v, ok := r.load(addr, 1)
	if !ok {
		return 0, r.memErr()
	}
	return byte(v), nil
}
