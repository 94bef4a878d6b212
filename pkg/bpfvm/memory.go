package bpfvm

import (
	"encoding/binary"
	"math/bits"
	"sync/atomic"
	"unsafe"
)

// Guest addresses are 64-bit values "region id << 32 | offset". No guest
// address is ever a host pointer: every access translates the id through
// the run's region table and checks offset, length and permission.
//
// Region ids:
//
//	0                     unmapped, so NULL and small integers fault
//	1                     the run's stack (MaxCallDepth frames of StackSize bytes)
//	2                     map handles (lddw of a map); not accessible memory
//	3 .. 3+S-1            the collection's static regions (map values, data sections)
//	3+S ..                regions mapped for one run (arguments, dynptr slices, ring records)
const (
	regionNull    = 0
	regionStack   = 1
	regionMapPtrs = 2
	firstStatic   = 3

	stackBase = uint64(regionStack) << 32
)

// Perm is the access a region grants to the program.
type Perm uint8

const (
	// ReadOnly regions can be loaded from; stores and atomics fault with ErrReadOnly.
	ReadOnly Perm = 1
	// ReadWrite regions can be loaded from and stored to.
	ReadWrite Perm = 3
)

const (
	flagWrite  = 1 << 1 // region is writable
	flagShared = 1 << 2 // region is shared between concurrent runs: word-atomic access
	flagLive   = 1 << 3 // region is mapped (cleared when a ring record is submitted)

	// The interpreter's fast loop accesses regions with these flags inline:
	// live, private (no atomics needed) and not strided.
	flagFastRead  = 1 << 4
	flagFastWrite = 1 << 5
)

// withFastFlags recomputes a region's fast-path flags from the others.
func withFastFlags(rg region) region {
	rg.flags &^= flagFastRead | flagFastWrite
	if rg.flags&flagLive != 0 && rg.flags&flagShared == 0 && rg.mask == 0 {
		rg.flags |= flagFastRead
		if rg.flags&flagWrite != 0 {
			rg.flags |= flagFastWrite
		}
	}
	return rg
}

// region is one contiguous span of guest memory.
//
// Regions holding several map elements have mask != 0: elements are laid out
// at a power-of-two stride (mask+1) and an access must stay within one
// element's elem bytes, as the kernel verifier would require of a value
// pointer.
type region struct {
	data  []byte
	mask  uint32
	elem  uint32
	flags uint32
	owner uint32 // ring buffer record: index in Run.records
}

// allocWords allocates n bytes backed by 8-byte words, so that atomic word
// accesses on shared regions are aligned and stay inside the allocation.
func allocWords(n int) []byte {
	if n == 0 {
		return []byte{}
	}
	words := make([]uint64, (n+7)/8)
	return unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), n)
}

// Shared regions live in word-backed allocations (allocWords), possibly
// viewed through an alias that starts at any byte. Accesses go through the
// aligned 32-bit host words that contain the bytes, so they never leave the
// allocation and never race with other goroutines.

func hostPtr(b []byte, off uint64) unsafe.Pointer {
	return unsafe.Add(unsafe.Pointer(unsafe.SliceData(b)), off)
}

func wordOf(p unsafe.Pointer) (*uint32, uint64) {
	mis := uintptr(p) & 3
	return (*uint32)(unsafe.Add(p, -int(mis))), uint64(mis)
}

// sharedLoad reads size bytes at off of a shared region with word-atomic
// loads, so concurrent runs and host-side map updates never race.
func sharedLoad(b []byte, off uint64, size uint64) uint64 {
	p := hostPtr(b, off)
	if uintptr(p)&uintptr(size-1) == 0 {
		switch size {
		case 8:
			return atomic.LoadUint64((*uint64)(p))
		case 4:
			return uint64(atomic.LoadUint32((*uint32)(p)))
		}
	}
	var v uint64
	for i := uint64(0); i < size; {
		w, sh := wordOf(unsafe.Add(p, i))
		n := min(4-sh, size-i)
		x := atomic.LoadUint32(w) >> (8 * sh)
		if n < 4 {
			x &= 1<<(8*n) - 1
		}
		v |= uint64(x) << (8 * i)
		i += n
	}
	return v
}

// sharedStore writes the low size bytes of v at off of a shared region,
// word by word with atomic stores or compare-and-swap for partial words.
func sharedStore(b []byte, off uint64, size uint64, v uint64) {
	p := hostPtr(b, off)
	if uintptr(p)&uintptr(size-1) == 0 {
		switch size {
		case 8:
			atomic.StoreUint64((*uint64)(p), v)
			return
		case 4:
			atomic.StoreUint32((*uint32)(p), uint32(v))
			return
		}
	}
	for i := uint64(0); i < size; {
		w, sh := wordOf(unsafe.Add(p, i))
		n := min(4-sh, size-i)
		part := uint32(v >> (8 * i))
		if n == 4 {
			atomic.StoreUint32(w, part)
		} else {
			mask := uint32(1<<(8*n)-1) << (8 * sh)
			part = part << (8 * sh) & mask
			for {
				old := atomic.LoadUint32(w)
				if atomic.CompareAndSwapUint32(w, old, old&^mask|part) {
					break
				}
			}
		}
		i += n
	}
}

// sharedCopyOut copies len(dst) bytes at off of a shared region into dst.
func sharedCopyOut(dst []byte, b []byte, off uint64) {
	i := uint64(0)
	n := uint64(len(dst))
	for ; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(dst[i:], sharedLoad(b, off+i, 8))
	}
	for ; i < n; i++ {
		dst[i] = byte(sharedLoad(b, off+i, 1))
	}
}

// sharedCopyIn copies src into a shared region at off.
func sharedCopyIn(b []byte, off uint64, src []byte) {
	i := uint64(0)
	n := uint64(len(src))
	for ; i+8 <= n; i += 8 {
		sharedStore(b, off+i, 8, binary.LittleEndian.Uint64(src[i:]))
	}
	for ; i < n; i++ {
		sharedStore(b, off+i, 1, uint64(src[i]))
	}
}

func loadLE(b []byte, size uint64) uint64 {
	switch size {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.LittleEndian.Uint16(b))
	case 4:
		return uint64(binary.LittleEndian.Uint32(b))
	default:
		return binary.LittleEndian.Uint64(b)
	}
}

func storeLE(b []byte, size uint64, v uint64) {
	switch size {
	case 1:
		b[0] = byte(v)
	case 2:
		binary.LittleEndian.PutUint16(b, uint16(v))
	case 4:
		binary.LittleEndian.PutUint32(b, uint32(v))
	default:
		binary.LittleEndian.PutUint64(b, v)
	}
}

// roundPow2 returns the smallest power of two >= n (n >= 1).
func roundPow2(n uint32) uint32 {
	if n <= 1 {
		return 1
	}
	return 1 << bits.Len32(n-1)
}
