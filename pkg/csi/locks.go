package csi

import (
	"fmt"
	"sync"
)

// keyLocks are per-key try-locks: a second call on a key that is held
// fails at once (codes.Aborted) instead of queueing behind a mount that may
// hang. A key can also be pinned by an operation that timed out but is
// still running, so nothing else touches the volume until it returns.
type keyLocks struct {
	mu   sync.Mutex
	held map[string]int
}

func newKeyLocks() *keyLocks { return &keyLocks{held: map[string]int{}} }

// tryLock takes key and returns its release function, or an ErrBusy error.
func (l *keyLocks) tryLock(key string) (func(), error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held[key] > 0 {
		return nil, fmt.Errorf("%s: %w", key, ErrBusy)
	}
	l.held[key] = 1
	var once sync.Once
	return func() { once.Do(func() { l.release(key) }) }, nil
}

// pin holds key until the returned function is called, whether or not it
// is locked now.
func (l *keyLocks) pin(key string) func() {
	l.mu.Lock()
	l.held[key]++
	l.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { l.release(key) }) }
}

func (l *keyLocks) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held[key]--; l.held[key] <= 0 {
		delete(l.held, key)
	}
}
