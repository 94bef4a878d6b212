package csi

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
)

func TestKeyLocks(t *testing.T) {
	l := newKeyLocks()
	unlock, err := l.tryLock("a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.tryLock("a"); !errors.Is(err, ErrBusy) || toStatus(err).Code() != codes.Aborted {
		t.Errorf("second lock: %v, want Aborted", err)
	}
	if u, err := l.tryLock("b"); err != nil {
		t.Errorf("other key: %v", err)
	} else {
		u()
	}
	unlock()
	unlock() // idempotent
	u2, err := l.tryLock("a")
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	unpin := l.pin("a")
	u2()
	if _, err := l.tryLock("a"); !errors.Is(err, ErrBusy) {
		t.Errorf("pinned key could be locked: %v", err)
	}
	unpin()
	if u, err := l.tryLock("a"); err != nil {
		t.Errorf("after unpin: %v", err)
	} else {
		u()
	}
	if len(l.held) != 0 {
		t.Errorf("locks left: %v", l.held)
	}
}

// A step that outlives its timeout keeps the volume locked until it ends.
func TestTimedPinsUntilDone(t *testing.T) {
	d := &Driver{locks: newKeyLocks(), opts: Options{OperationTimeout: time.Millisecond, HealthTimeout: time.Millisecond}}
	release := make(chan struct{})
	finished := make(chan struct{})
	err := d.op(context.Background(), "v", "stuck step", func() error {
		<-release
		close(finished)
		return nil
	})
	if !errors.Is(err, context.DeadlineExceeded) || toStatus(err).Code() != codes.DeadlineExceeded {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	if _, err := d.locks.tryLock("v"); !errors.Is(err, ErrBusy) {
		t.Errorf("volume not pinned while its step runs: %v", err)
	}
	close(release)
	<-finished
	for {
		u, err := d.locks.tryLock("v")
		if err == nil {
			u()
			break
		}
		time.Sleep(time.Millisecond) // the unpin runs right after the step returns
	}
}
