package bpfvm

import (
	"encoding/binary"
	"fmt"
	"iter"
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/cilium/ebpf"
)

// Map flags understood from a MapSpec (uapi values).
const (
	mapFNoPrealloc  = 1 << 0
	mapFNoCommonLRU = 1 << 1
	mapFNumaNode    = 1 << 2
	mapFRdonly      = 1 << 3
	mapFWronly      = 1 << 4
	mapFRdonlyProg  = 1 << 7
	mapFWronlyProg  = 1 << 8
	mapFMmapable    = 1 << 10
	mapFInnerMap    = 1 << 12

	knownMapFlags = mapFNoPrealloc | mapFNoCommonLRU | mapFNumaNode | mapFRdonly |
		mapFWronly | mapFRdonlyProg | mapFWronlyProg | mapFMmapable | mapFInnerMap
)

// Update flags for map updates, with the kernel's values.
const (
	updateAny     = uint64(ebpf.UpdateAny)
	updateNoExist = uint64(ebpf.UpdateNoExist)
	updateExist   = uint64(ebpf.UpdateExist)
)

// maxMapBytes bounds the value storage of one map.
const maxMapBytes = 1 << 30

// Map is an interpreter map with the kernel's semantics for BPF programs:
// array, hash and LRU hash maps (and their per-CPU variants, which behave as
// if there were one CPU), and ring buffers. Map values live in guest memory:
// a program's lookup returns a guest pointer into the map, exactly like in
// the kernel, and stays valid while the element exists (a deleted hash
// element's slot may be reused by a later insert, as with the kernel's
// preallocated maps).
//
// All methods are safe for concurrent use, including concurrently with
// programs using the map. Value memory is accessed with word-sized atomic
// operations on both sides, so there are no data races, though (as in the
// kernel) a value written by several parties at once may be torn between
// words.
type Map struct {
	name       string
	typ        ebpf.MapType
	keySize    uint32
	valueSize  uint32
	maxEntries uint32
	flags      uint32

	stride   uint32 // distance between values in data (power of two)
	data     []byte // value storage (word-backed), nil for ring buffers
	progRO   bool   // BPF_F_RDONLY_PROG: frozen after creation
	regionID uint32 // guest region id of data, set when added to a collection
	handle   uint64 // guest value a program gets for the map (lddw)

	hash *hashIndex
	ring *RingBuffer
}

// NewMap creates a map from a spec. Contents of the spec are copied in;
// keys and values in Contents may be []byte or fixed-size values that
// encoding/binary can encode in native byte order.
func NewMap(spec *ebpf.MapSpec) (*Map, error) {
	m, err := newMap(spec)
	if err != nil {
		return nil, fmt.Errorf("map %s: %w", spec.Name, err)
	}
	return m, nil
}

func newMap(spec *ebpf.MapSpec) (*Map, error) {
	if spec.Flags&^knownMapFlags != 0 {
		return nil, fmt.Errorf("%w: map flags %#x", ErrNotSupported, spec.Flags&^knownMapFlags)
	}
	m := &Map{
		name:       spec.Name,
		typ:        spec.Type,
		keySize:    spec.KeySize,
		valueSize:  spec.ValueSize,
		maxEntries: spec.MaxEntries,
		flags:      spec.Flags,
		progRO:     spec.Flags&mapFRdonlyProg != 0,
	}
	switch spec.Type {
	case ebpf.Array, ebpf.PerCPUArray:
		if spec.KeySize != 4 {
			return nil, fmt.Errorf("%w: array key size %d (must be 4)", ErrBadArgument, spec.KeySize)
		}
	case ebpf.Hash, ebpf.PerCPUHash, ebpf.LRUHash, ebpf.LRUCPUHash:
		if spec.KeySize == 0 || spec.KeySize > 512 {
			return nil, fmt.Errorf("%w: hash key size %d", ErrBadArgument, spec.KeySize)
		}
		lru := spec.Type == ebpf.LRUHash || spec.Type == ebpf.LRUCPUHash
		m.hash = newHashIndex(spec.MaxEntries, lru)
	case ebpf.RingBuf:
		if spec.KeySize != 0 || spec.ValueSize != 0 {
			return nil, fmt.Errorf("%w: ring buffer with key or value size", ErrBadArgument)
		}
		if spec.MaxEntries < 4096 || bits.OnesCount32(spec.MaxEntries) != 1 {
			return nil, fmt.Errorf("%w: ring buffer size %d (a power of two of at least 4096)", ErrBadArgument, spec.MaxEntries)
		}
		m.ring = newRingBuffer(spec.MaxEntries)
		return m, nil
	default:
		return nil, fmt.Errorf("%w: map type %s", ErrNotSupported, spec.Type)
	}
	if spec.ValueSize == 0 || spec.MaxEntries == 0 {
		return nil, fmt.Errorf("%w: value size %d, max entries %d", ErrBadArgument, spec.ValueSize, spec.MaxEntries)
	}
	m.stride = max(roundPow2(spec.ValueSize), 8)
	if spec.MaxEntries == 1 {
		m.data = allocWords(int(spec.ValueSize))
	} else {
		total := uint64(m.stride) * uint64(spec.MaxEntries)
		if total > maxMapBytes {
			return nil, fmt.Errorf("%w: %d entries of %d bytes exceed %d bytes", ErrNotSupported, spec.MaxEntries, spec.ValueSize, maxMapBytes)
		}
		m.data = allocWords(int(total))
	}
	for i, kv := range spec.Contents {
		k, err := encodeFixed(kv.Key, m.keySize)
		if err != nil {
			return nil, fmt.Errorf("contents[%d] key: %w", i, err)
		}
		v, err := encodeFixed(kv.Value, m.valueSize)
		if err != nil {
			return nil, fmt.Errorf("contents[%d] value: %w", i, err)
		}
		if err := m.update(k, v, updateAny); err != nil {
			return nil, fmt.Errorf("contents[%d]: %w", i, err)
		}
	}
	return m, nil
}

func encodeFixed(v any, size uint32) ([]byte, error) {
	var b []byte
	switch x := v.(type) {
	case []byte:
		b = x
	default:
		var err error
		if b, err = binary.Append(nil, binary.NativeEndian, v); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadArgument, err)
		}
	}
	if uint32(len(b)) != size {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrBadArgument, len(b), size)
	}
	return b, nil
}

// region describes the map's value storage as guest memory.
func (m *Map) region() region {
	rg := region{data: m.data, elem: m.valueSize, flags: flagLive}
	if m.maxEntries > 1 {
		rg.mask = m.stride - 1
	}
	if !m.progRO {
		rg.flags |= flagWrite | flagShared
	}
	return withFastFlags(rg)
}

// Name returns the map's name from its spec.
func (m *Map) Name() string { return m.name }

// Type returns the map type.
func (m *Map) Type() ebpf.MapType { return m.typ }

// KeySize returns the key size in bytes.
func (m *Map) KeySize() uint32 { return m.keySize }

// ValueSize returns the value size in bytes.
func (m *Map) ValueSize() uint32 { return m.valueSize }

// MaxEntries returns the capacity (the byte size for a ring buffer).
func (m *Map) MaxEntries() uint32 { return m.maxEntries }

// RingBuffer returns the consumer side of a ring buffer map, or nil for
// other map types.
func (m *Map) RingBuffer() *RingBuffer { return m.ring }

// Lookup copies the value of key into value.
func (m *Map) Lookup(key, value []byte) error {
	if err := m.checkKV(key, value); err != nil {
		return err
	}
	slot, ok := m.find(key, false)
	if !ok {
		return fmt.Errorf("map %s: %w", m.name, ErrKeyNotExist)
	}
	sharedCopyOut(value, m.data, uint64(slot)*uint64(m.stride))
	return nil
}

// Update sets key to value with the kernel's flag semantics: UpdateAny,
// UpdateNoExist (fails with ErrKeyExist) or UpdateExist (fails with
// ErrKeyNotExist). Maps whose programs see them read-only (.rodata) are
// frozen and refuse updates with ErrReadOnly.
func (m *Map) Update(key, value []byte, flags ebpf.MapUpdateFlags) error {
	if err := m.checkKV(key, value); err != nil {
		return err
	}
	if m.progRO {
		return fmt.Errorf("map %s: %w", m.name, ErrReadOnly)
	}
	if err := m.update(key, value, uint64(flags)); err != nil {
		return fmt.Errorf("map %s: %w", m.name, err)
	}
	return nil
}

// Delete removes key from a hash map. Array elements cannot be deleted
// (ErrBadArgument, the kernel's EINVAL).
func (m *Map) Delete(key []byte) error {
	if m.ring != nil || uint32(len(key)) != m.keySize {
		return fmt.Errorf("map %s: %w: key of %d bytes", m.name, ErrBadArgument, len(key))
	}
	if err := m.delete(key); err != nil {
		return fmt.Errorf("map %s: %w", m.name, err)
	}
	return nil
}

// All iterates over copies of the map's keys and values. Hash map keys are
// snapshotted when iteration starts; elements deleted meanwhile are skipped.
func (m *Map) All() iter.Seq2[[]byte, []byte] {
	return func(yield func([]byte, []byte) bool) {
		if m.ring != nil {
			return
		}
		var keys [][]byte
		if m.hash != nil {
			keys = m.hash.snapshot()
		} else {
			for i := uint32(0); i < m.maxEntries; i++ {
				keys = append(keys, binary.NativeEndian.AppendUint32(nil, i))
			}
		}
		for _, k := range keys {
			v := make([]byte, m.valueSize)
			if m.Lookup(k, v) != nil {
				continue
			}
			if !yield(k, v) {
				return
			}
		}
	}
}

func (m *Map) checkKV(key, value []byte) error {
	if m.ring != nil {
		return fmt.Errorf("map %s: %w: ring buffers have no keys", m.name, ErrBadArgument)
	}
	if uint32(len(key)) != m.keySize || uint32(len(value)) != m.valueSize {
		return fmt.Errorf("map %s: %w: key of %d bytes, value of %d bytes (want %d, %d)",
			m.name, ErrBadArgument, len(key), len(value), m.keySize, m.valueSize)
	}
	return nil
}

// slotOf finds the element for key (len(key) == keySize) for a program,
// which counts as a use of an LRU element.
func (m *Map) slotOf(key []byte) (uint32, bool) { return m.find(key, true) }

// find looks key up; touch marks an LRU element as used. Like the kernel,
// only programs' lookups touch: the host reading a map does not change what
// gets evicted.
func (m *Map) find(key []byte, touch bool) (uint32, bool) {
	if m.hash == nil {
		i := binary.NativeEndian.Uint32(key)
		return i, i < m.maxEntries
	}
	return m.hash.lookup(key, touch)
}

// update is the shared path of Map.Update and the update helper.
func (m *Map) update(key, value []byte, flags uint64) error {
	if flags > updateExist {
		return fmt.Errorf("%w: update flags %#x", ErrBadArgument, flags)
	}
	if m.hash == nil {
		i := binary.NativeEndian.Uint32(key)
		if i >= m.maxEntries {
			return ErrMapFull // the kernel's E2BIG
		}
		if flags == updateNoExist {
			return ErrKeyExist
		}
		sharedCopyIn(m.data, uint64(i)*uint64(m.stride), value)
		return nil
	}
	return m.hash.update(key, flags, func(slot uint32) {
		sharedCopyIn(m.data, uint64(slot)*uint64(m.stride), value)
	})
}

func (m *Map) delete(key []byte) error {
	if m.hash == nil {
		return fmt.Errorf("%w: array elements cannot be deleted", ErrBadArgument)
	}
	return m.hash.delete(key)
}

// hashIndex maps keys to value slots. Slots are preallocated, freed slots
// are reused, and an LRU map evicts with the CLOCK approximation of LRU
// (the kernel's LRU is approximate too): lookups set a referenced bit,
// eviction sweeps for an unreferenced slot.
type hashIndex struct {
	mu    sync.RWMutex
	slots map[string]uint32
	keys  []string // slot -> key, "" when free
	free  []uint32
	next  uint32 // slots below next have been handed out before
	max   uint32
	lru   bool
	ref   []atomic.Uint32
	hand  uint32
}

func newHashIndex(maxEntries uint32, lru bool) *hashIndex {
	h := &hashIndex{slots: make(map[string]uint32), max: maxEntries, lru: lru}
	if lru {
		h.ref = make([]atomic.Uint32, maxEntries)
	}
	return h
}

func (h *hashIndex) lookup(key []byte, touch bool) (uint32, bool) {
	h.mu.RLock()
	slot, ok := h.slots[string(key)]
	h.mu.RUnlock()
	if ok && touch && h.lru {
		if h.ref[slot].Load() == 0 {
			h.ref[slot].Store(1)
		}
	}
	return slot, ok
}

func (h *hashIndex) update(key []byte, flags uint64, write func(slot uint32)) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if slot, ok := h.slots[string(key)]; ok {
		if flags == updateNoExist {
			return ErrKeyExist
		}
		write(slot)
		if h.lru {
			h.ref[slot].Store(1)
		}
		return nil
	}
	if flags == updateExist {
		return ErrKeyNotExist
	}
	var slot uint32
	switch {
	case len(h.free) > 0:
		slot = h.free[len(h.free)-1]
		h.free = h.free[:len(h.free)-1]
	case h.next < h.max:
		slot = h.next
		h.next++
		h.keys = append(h.keys, "")
	case h.lru:
		slot = h.evict()
	default:
		return ErrMapFull
	}
	k := string(key)
	h.slots[k] = slot
	h.keys[slot] = k
	write(slot)
	if h.lru {
		h.ref[slot].Store(1)
	}
	return nil
}

// evict frees the first unreferenced slot under the clock hand; called
// with mu held and every slot in use.
func (h *hashIndex) evict() uint32 {
	for {
		s := h.hand
		h.hand++
		if h.hand == h.max {
			h.hand = 0
		}
		if h.ref[s].Swap(0) == 0 {
			delete(h.slots, h.keys[s])
			h.keys[s] = ""
			return s
		}
	}
}

func (h *hashIndex) delete(key []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	slot, ok := h.slots[string(key)]
	if !ok {
		return ErrKeyNotExist
	}
	delete(h.slots, string(key))
	h.keys[slot] = ""
	h.free = append(h.free, slot)
	return nil
}

func (h *hashIndex) snapshot() [][]byte {
	h.mu.RLock()
	defer h.mu.RUnlock()
	keys := make([][]byte, 0, len(h.slots))
	for k := range h.slots {
		keys = append(keys, []byte(k))
	}
	return keys
}
