package bpfvm

import (
	"context"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrentRuns runs programs of one collection from many goroutines:
// atomics on an array map, .bss and .data must not lose updates, and plain
// loads and stores the programs make to shared hash map values, together
// with host-side map access and a ring buffer consumer, must be free of
// data races (run with -race).
func TestConcurrentRuns(t *testing.T) {
	c := loadCollection(t, "vm_maps", nil)
	rbc := loadCollection(t, "vm_ringbuf", nil)
	const workers, iters = 8, 300

	var records int
	ctx, cancel := context.WithCancel(context.Background())
	consumerDone := make(chan struct{})
	go func() {
		defer close(consumerDone)
		var rec Record
		for rbc.Maps["events"].RingBuffer().Read(ctx, &rec) == nil {
			records++
		}
	}()

	var wg sync.WaitGroup
	errs := make(chan error, workers)
	var sum uint64
	var produced atomic.Int64 // records the emit runs report as written
	for w := 0; w < workers; w++ {
		sum += uint64(w) * iters
		wg.Add(1)
		go func() {
			defer wg.Done()
			count := program(t, c, "count")
			hash := program(t, c, "hash_ops")
			emit := program(t, rbc, "emit")
			buf := make([]byte, vmArgsSize)
			v := make([]byte, 16)
			for i := 0; i < iters; i++ {
				for _, p := range []*Program{count, hash, emit} {
					r := p.NewRun()
					clear(buf)
					binary.LittleEndian.PutUint64(buf, uint64(w))
					addr, err := r.MapBytes(buf, ReadWrite)
					if err == nil {
						_, err = r.Exec(addr)
					}
					r.Release()
					if err != nil {
						errs <- err
						return
					}
					if p == emit {
						a := parseArgs(buf)
						if a.Out[0] == 0 && w%2 == 0 {
							produced.Add(1) // submitted reservation
						}
						if a.Out[0] == 0 && a.Out[1] == 0 {
							produced.Add(1) // bpf_ringbuf_output
						}
					}
				}
				// The host reads a value the programs are updating.
				_ = c.Maps["table"].Lookup(u32key(uint32(w)), v)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	total := uint64(0)
	v := make([]byte, 8)
	for i := uint32(0); i < 4; i++ {
		if err := c.Maps["counters"].Lookup(u32key(i), v); err != nil {
			t.Fatal(err)
		}
		total += binary.LittleEndian.Uint64(v)
	}
	if total != workers*iters {
		t.Errorf("counters sum to %d, want %d (lost atomic increments)", total, workers*iters)
	}
	bss := make([]byte, 8)
	if err := c.Maps[".bss"].Lookup(u32key(0), bss); err != nil {
		t.Fatal(err)
	}
	if got := binary.LittleEndian.Uint64(bss); got != sum {
		t.Errorf(".bss total = %d, want %d", got, sum)
	}
	data := make([]byte, c.Maps[".data"].ValueSize())
	if err := c.Maps[".data"].Lookup(u32key(0), data); err != nil {
		t.Fatal(err)
	}
	if got := binary.LittleEndian.Uint64(data); got != 42+workers*iters {
		t.Errorf(".data seed = %d, want %d", got, 42+workers*iters)
	}
	// hits: every hash_ops run adds 10 to its worker's element after the
	// first run (re)creates it with hits = 1.
	for w := uint32(0); w < workers; w++ {
		val := make([]byte, 16)
		if err := c.Maps["table"].Lookup(u32key(w), val); err != nil {
			t.Fatal(err)
		}
		if hits := binary.LittleEndian.Uint64(val); hits != 1+10*iters {
			t.Errorf("table[%d].hits = %d, want %d", w, hits, 1+10*iters)
		}
	}

	// The consumer sees exactly the records the programs wrote: submitted
	// reservations and outputs, not discarded or failed ones.
	deadline := time.Now().Add(10 * time.Second)
	rb := rbc.Maps["events"].RingBuffer()
	want := int(produced.Load())
	for time.Now().Before(deadline) {
		if rb.query(ringAvailData) == 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-consumerDone
	if records != want {
		t.Errorf("consumer read %d records, want %d (dropped %d)", records, want, rb.Dropped())
	}
}
