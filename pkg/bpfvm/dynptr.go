package bpfvm

import (
	"encoding/binary"
	"fmt"
)

// DynptrMaxSize is the largest size a dynptr can describe (the kernel's
// DYNPTR_MAX_SIZE).
const DynptrMaxSize = 1<<24 - 1

// DynptrSize is the size of struct bpf_dynptr in guest memory.
const DynptrSize = 16

// Dynptr describes an initialised struct bpf_dynptr: a view of Size bytes of
// guest memory starting at Addr.
type Dynptr struct {
	Addr     uint64
	Size     uint32
	ReadOnly bool
}

// The guest's 16-byte struct bpf_dynptr holds only a handle: the index of
// the run's dynptr table entry (+1, so zeroed memory is the NULL dynptr), a
// per-run cookie, and the size for debugging. The view itself is kept on
// the host, so a program that scribbles over a dynptr can at worst make it
// invalid, never widen it or make a read-only dynptr writable.
func (r *Run) dynptrAt(ptr uint64) (dynptrState, bool, error) {
	var b [DynptrSize]byte
	if err := r.Read(ptr, b[:]); err != nil {
		return dynptrState{}, false, err
	}
	idx := binary.LittleEndian.Uint32(b[0:4])
	cookie := binary.LittleEndian.Uint32(b[4:8])
	if idx == 0 || idx > uint32(len(r.dynptrs)) || cookie != r.cookie {
		return dynptrState{}, false, nil
	}
	return r.dynptrs[idx-1], true, nil
}

type dynptrState struct {
	addr   uint64
	size   uint32
	rdonly bool
}

// InitDynptr initialises the struct bpf_dynptr at guest address ptr (16
// writable bytes, usually on the program's stack) as a view of size bytes at
// guest address data. With ReadOnly the program can read through the dynptr
// but bpf_dynptr_write, bpf_dynptr_data and bpf_dynptr_slice_rdwr refuse
// it; ReadWrite requires data to be writable memory. The dynptr is valid
// until the run is reset.
func (r *Run) InitDynptr(ptr, data uint64, size uint32, perm Perm) error {
	if size > DynptrMaxSize {
		return fmt.Errorf("%w: dynptr of %d bytes exceeds %d", ErrBadArgument, size, DynptrMaxSize)
	}
	if perm != ReadOnly && perm != ReadWrite {
		return fmt.Errorf("%w: permission %d", ErrBadArgument, perm)
	}
	if rg, _ := r.translate(data, uint64(size), perm == ReadWrite); rg == nil {
		return r.memErr()
	}
	if len(r.dynptrs) >= MaxRunRegions {
		return ErrTooManyRegions
	}
	r.dynptrs = append(r.dynptrs, dynptrState{addr: data, size: size, rdonly: perm == ReadOnly})
	return r.writeDynptr(ptr, uint32(len(r.dynptrs)), size)
}

func (r *Run) writeDynptr(ptr uint64, idx, size uint32) error {
	var b [DynptrSize]byte
	if idx != 0 {
		binary.LittleEndian.PutUint32(b[0:4], idx)
		binary.LittleEndian.PutUint32(b[4:8], r.cookie)
		binary.LittleEndian.PutUint32(b[8:12], size)
	}
	return r.Write(ptr, b[:])
}

// SetDynptrNull makes the struct bpf_dynptr at ptr the NULL dynptr, as the
// kernel does when a dynptr constructor fails.
func (r *Run) SetDynptrNull(ptr uint64) error { return r.writeDynptr(ptr, 0, 0) }

// Dynptr returns the view described by the struct bpf_dynptr at ptr, or an
// error wrapping ErrInvalidDynptr if it is NULL or was not initialised by
// this run.
func (r *Run) Dynptr(ptr uint64) (Dynptr, error) {
	d, ok, err := r.dynptrAt(ptr)
	if err != nil {
		return Dynptr{}, err
	}
	if !ok {
		return Dynptr{}, fmt.Errorf("dynptr at %#x: %w", ptr, ErrInvalidDynptr)
	}
	return Dynptr{Addr: d.addr, Size: d.size, ReadOnly: d.rdonly}, nil
}

// dynptrView returns a guest address through which the program may access
// n bytes at off of dynptr d, read-only or writable. When the permission
// the program gets equals that of the underlying region the address points
// into the region itself; a read-only view of writable memory gets an alias
// region without write permission.
func (r *Run) dynptrView(d dynptrState, off, n uint64, writable bool) (uint64, error) {
	addr := d.addr + off
	rg, roff := r.translate(addr, n, writable)
	if rg == nil {
		return 0, r.memErr()
	}
	if writable || rg.flags&flagWrite == 0 {
		return addr, nil
	}
	return r.addRegion(region{data: rg.data[roff : roff+n : roff+n], flags: rg.flags &^ flagWrite})
}

// copyGuest copies n bytes of guest memory from src to dst.
func (r *Run) copyGuest(dst, src, n uint64) error {
	b, err := r.view(src, n, 0)
	if err != nil {
		return err
	}
	return r.Write(dst, b)
}
