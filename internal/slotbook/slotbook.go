// Package slotbook holds a test helper: the book of the slots a random
// sequence of reservations, cancels, Holds and Resets on one key (Burst 1)
// has granted, which fails the test when a slot is granted twice or when a
// cancel from before a Hold or a Reset gives a slot back. The conformance
// suite's RandomCancels (limitertest) and the previous release's
// compatibility tests of the Redis and SQLite backends share it.
package slotbook

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
)

// Slot is one granted slot.
type Slot struct {
	// R is the reservation of this release's handle, or nil.
	R *limiter.Reservation
	// Undo cancels a reservation of another writer (the previous
	// release's), or is nil when the slot cannot be cancelled that way.
	Undo func() error
	// At is the slot's offset from the sequence's start, measured after
	// the call; Lo the same measured before it (equal on a fake clock).
	At, Lo time.Duration
	// Queued: the slot is ahead (a delay) and not cancelled yet.
	Queued bool

	epoch int  // Resets before it
	held  bool // a Hold or a Reset came after it: its cancel gives nothing back
}

// Book is the set of slots granted and not given back.
type Book struct {
	T         testing.TB
	Interval  time.Duration        // the limit's emission interval (Burst 1)
	Tol       time.Duration        // how far apart two measures of one instant may be (a real clock)
	Now       func() time.Duration // the offset from the sequence's start
	FullAfter func() time.Duration // another handle's Status(...).FullAfter on the key

	live  []*Slot
	epoch int
}

// Add books s, granted by what at step, and fails the test when it comes
// within one interval of another slot granted since the last Reset and not
// given back.
func (b *Book) Add(s *Slot, what string, step int) {
	b.T.Helper()
	s.epoch = b.epoch
	for _, o := range b.live {
		if o.epoch != s.epoch {
			continue
		}
		// The slots are known within [Lo, At]: too close only when even
		// their farthest ends are.
		if d := max(s.At-o.Lo, o.At-s.Lo); d < b.Interval-b.Tol-time.Microsecond {
			b.T.Fatalf("step %d %s: slot at %s and another at %s, both granted since the last Reset and neither given back: a slot given twice", step, what, s.At, o.At)
		}
	}
	b.live = append(b.live, s)
}

// CancelOne cancels a queued slot whose time is ahead, picked with rng
// among this release's reservations and the other writer's from since the
// last Reset (nothing when there is none). A cancel that gives a slot back
// (FullAfter one half interval shorter) takes it off the book, and fails
// the test when the slot is from before a Hold or a Reset.
func (b *Book) CancelOne(ctx context.Context, rng *rand.Rand, step int) {
	b.T.Helper()
	var cands []int
	for i, s := range b.live {
		if s.Queued && s.At > b.Now()+b.Tol && (s.R != nil || (s.Undo != nil && s.epoch == b.epoch)) {
			cands = append(cands, i)
		}
	}
	if len(cands) == 0 {
		return
	}
	i := cands[rng.IntN(len(cands))]
	s := b.live[i]
	before := b.FullAfter()
	if s.R != nil {
		if err := s.R.Cancel(ctx); err != nil {
			b.T.Fatalf("step %d Cancel: %v", step, err)
		}
	} else if err := s.Undo(); err != nil {
		b.T.Fatalf("step %d Cancel: %v", step, err)
	}
	after := b.FullAfter()
	given := before-after > b.Interval/2
	if given && (s.held || s.epoch != b.epoch) {
		b.T.Fatalf("step %d: a cancel of a reservation from before a Hold or a Reset gave %s back", step, before-after)
	}
	if given {
		b.live = append(b.live[:i], b.live[i+1:]...)
	} else {
		s.Queued = false
	}
}

// Hold holds key k on l for d, failing the test on an error, and records
// it: no slot booked so far may be given back.
func (b *Book) Hold(ctx context.Context, step int, l limiter.Limiter, k string, lim limiter.Limit, d time.Duration) {
	b.T.Helper()
	if err := l.Hold(ctx, k, lim, d); err != nil {
		b.T.Fatalf("step %d Hold: %v", step, err)
	}
	b.held()
}

// Reset resets key k on l, failing the test on an error, and records it:
// a new epoch, in which the slots booked so far count no more and may not
// be given back.
func (b *Book) Reset(ctx context.Context, step int, l limiter.Limiter, k string) {
	b.T.Helper()
	if err := l.Reset(ctx, k); err != nil {
		b.T.Fatalf("step %d Reset: %v", step, err)
	}
	b.epoch++
	b.held()
}

func (b *Book) held() {
	for _, s := range b.live {
		s.held = true
	}
}

// FullAfter returns a Book's FullAfter: l's Status(...).FullAfter on key
// k, failing the test on an error.
func FullAfter(t testing.TB, l limiter.Limiter, k string, lim limiter.Limit) func() time.Duration {
	return func() time.Duration {
		t.Helper()
		st, err := l.Status(context.Background(), k, lim)
		if err != nil {
			t.Fatal(err)
		}
		return st.FullAfter
	}
}

// Len returns how many slots stand on the book.
func (b *Book) Len() int { return len(b.live) }
