package limiter_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
)

// recorder is an Observer that keeps every event.
type recorder struct {
	mu     sync.Mutex
	events []limiter.Event
}

func (r *recorder) Observe(_ context.Context, e limiter.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// all is a copy of the events so far.
func (r *recorder) all() []limiter.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]limiter.Event(nil), r.events...)
}

func (r *recorder) count(k limiter.EventKind) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.Kind == k {
			n++
		}
	}
	return n
}

// errs returns the errors of the events of kind k.
func (r *recorder) errs(k limiter.EventKind) []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []error
	for _, e := range r.events {
		if e.Kind == k {
			out = append(out, e.Err)
		}
	}
	return out
}

// waitFor polls cond, for at most 5 s of real time.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met after 5 s")
		}
		time.Sleep(time.Millisecond)
	}
}
