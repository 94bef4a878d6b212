package bpfvm

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Ring buffer constants with the kernel's values.
const (
	ringHeaderSize = 8 // BPF_RINGBUF_HDR_SZ: accounted like the kernel does

	ringNoWakeup    = 1 // BPF_RB_NO_WAKEUP
	ringForceWakeup = 2 // BPF_RB_FORCE_WAKEUP

	ringAvailData = 0 // BPF_RB_AVAIL_DATA
	ringRingSize  = 1 // BPF_RB_RING_SIZE
	ringConsPos   = 2 // BPF_RB_CONS_POS
	ringProdPos   = 3 // BPF_RB_PROD_POS
)

// RingBuffer is the consumer side of a BPF_MAP_TYPE_RINGBUF map. Programs
// reserve records (bpf_ringbuf_reserve), fill them and submit or discard
// them, or copy data in one step (bpf_ringbuf_output). The consumer sees
// submitted records in reservation order; a reserved record that is not yet
// submitted holds back the records behind it, and a full ring makes reserve
// fail (the program sees NULL), as in the kernel. Records a run reserves
// but never submits are discarded when the run is reset or released.
//
// RingBuffer is safe for concurrent use by producers and consumers.
type RingBuffer struct {
	mu   sync.Mutex
	data []byte
	size uint64
	prod uint64 // logical position of the next reservation
	cons uint64 // logical position of the oldest unconsumed byte
	// recs are outstanding records in reservation order, as a FIFO.
	recs    []ringDesc
	head    int
	nextSeq uint64

	wake    chan struct{}
	dropped atomic.Uint64
}

type ringDesc struct {
	seq    uint64
	pos    uint64 // logical position of the record header
	phys   uint32 // offset of the record data in data
	length uint32 // data length
	total  uint64 // bytes accounted, padding before the record included
	state  uint8
}

const (
	ringBusy = iota
	ringCommitted
	ringDiscarded
)

// ringRecord links a run's reserved record to its ring.
type ringRecord struct {
	rb     *RingBuffer
	seq    uint64
	region uint32
}

// Record is one sample read from a ring buffer. RawSample is reused by
// later reads into the same Record.
type Record struct {
	RawSample []byte
}

func newRingBuffer(size uint32) *RingBuffer {
	return &RingBuffer{
		data: make([]byte, size),
		size: uint64(size),
		wake: make(chan struct{}, 1),
	}
}

// Size returns the ring's capacity in bytes.
func (rb *RingBuffer) Size() int { return int(rb.size) }

// Dropped returns how many reservations failed because the ring was full.
func (rb *RingBuffer) Dropped() uint64 { return rb.dropped.Load() }

// reserve allocates a record of n bytes; it returns the data slice and the
// record's sequence number, or ok == false when the ring is full.
func (rb *RingBuffer) reserve(n uint64) (data []byte, seq uint64, ok bool) {
	if n == 0 || n > rb.size-ringHeaderSize {
		rb.dropped.Add(1)
		return nil, 0, false
	}
	need := ringHeaderSize + (n+7)&^7
	rb.mu.Lock()
	defer rb.mu.Unlock()
	phys := rb.prod % rb.size
	pad := uint64(0)
	if phys+need > rb.size { // keep records contiguous: skip the tail
		pad = rb.size - phys
		phys = 0
	}
	if rb.prod+pad+need-rb.cons > rb.size {
		rb.dropped.Add(1)
		return nil, 0, false
	}
	seq = rb.nextSeq
	rb.nextSeq++
	rb.recs = append(rb.recs, ringDesc{
		seq: seq, pos: rb.prod + pad, phys: uint32(phys + ringHeaderSize),
		length: uint32(n), total: pad + need, state: ringBusy,
	})
	rb.prod += pad + need
	off := phys + ringHeaderSize
	return rb.data[off : off+n : off+n], seq, true
}

// finish commits or discards a reserved record.
func (rb *RingBuffer) finish(seq uint64, commit bool) {
	rb.mu.Lock()
	for i := rb.head; i < len(rb.recs); i++ {
		if rb.recs[i].seq == seq {
			if commit {
				rb.recs[i].state = ringCommitted
			} else {
				rb.recs[i].state = ringDiscarded
			}
			break
		}
	}
	rb.mu.Unlock()
	select {
	case rb.wake <- struct{}{}:
	default:
	}
}

// TryRead copies the oldest submitted record into rec and reports whether
// there was one. It never blocks.
func (rb *RingBuffer) TryRead(rec *Record) bool {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	for rb.head < len(rb.recs) {
		d := rb.recs[rb.head]
		if d.state == ringBusy {
			return false
		}
		rb.head++
		rb.cons += d.total
		if rb.head == len(rb.recs) { // drained: reuse the FIFO from the start
			rb.recs = rb.recs[:0]
			rb.head = 0
		} else if rb.head > 64 && rb.head*2 > len(rb.recs) {
			n := copy(rb.recs, rb.recs[rb.head:])
			rb.recs = rb.recs[:n]
			rb.head = 0
		}
		if d.state == ringCommitted {
			rec.RawSample = append(rec.RawSample[:0], rb.data[d.phys:d.phys+d.length]...)
			return true
		}
	}
	return false
}

// Read blocks until a record is available or ctx is done, and copies it
// into rec.
func (rb *RingBuffer) Read(ctx context.Context, rec *Record) error {
	for {
		if rb.TryRead(rec) {
			return nil
		}
		select {
		case <-rb.wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Drain calls fn with every record, in order, until ctx is done, and
// returns ctx's error. After emptying the ring it waits for linger before
// it blocks for the next record, so a steady stream of records wakes the
// consumer about once per linger rather than once per record (a blocked
// reader is woken by every submit that finds it asleep). The ring must
// hold what producers submit in one linger; a record that does not fit
// is dropped and counted (Dropped). fn must not keep rec.RawSample.
func (rb *RingBuffer) Drain(ctx context.Context, linger time.Duration, fn func(rec *Record)) error {
	var rec Record
	var t *time.Timer
	if linger > 0 {
		t = time.NewTimer(linger)
		t.Stop()
		defer t.Stop()
	}
	for {
		if err := rb.Read(ctx, &rec); err != nil {
			return err
		}
		fn(&rec)
		for rb.TryRead(&rec) {
			fn(&rec)
		}
		if t == nil {
			continue
		}
		t.Reset(linger)
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (rb *RingBuffer) query(flag uint64) uint64 {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	switch flag {
	case ringAvailData:
		return rb.prod - rb.cons
	case ringRingSize:
		return rb.size
	case ringConsPos:
		return rb.cons
	case ringProdPos:
		return rb.prod
	}
	return 0
}
