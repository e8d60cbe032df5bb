package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
)

// reserveDelay takes one slot and returns its delay.
func reserveDelay(t *testing.T, l limiter.Limiter, k string, lim limiter.Limit) (*limiter.Reservation, time.Duration) {
	t.Helper()
	r, err := l.ReserveN(context.Background(), k, lim, 1, time.Hour)
	if err != nil || !r.OK {
		t.Fatalf("ReserveN: %+v, %v", r, err)
	}
	return r, r.Delay
}

// A Redis that lost its data (a restart without persistence) must not give
// a handle's queued slots a second time: the handle's next slot comes after
// the last it holds.
func TestLostDataKeepsQueuedSlots(t *testing.T) {
	m := startMini(t)
	l := open(t, m.Addr())
	defer l.Close()
	lim := limiter.Limit{Rate: 1, Period: 10 * time.Second, Burst: 1}
	for i := range 3 {
		if _, d := reserveDelay(t, l, "k", lim); d != time.Duration(i)*10*time.Second {
			t.Fatalf("slot %d in %s", i, d)
		}
	}
	m.FlushAll() // the restart lost every key
	if _, d := reserveDelay(t, l, "k", lim); d != 30*time.Second {
		t.Fatalf("after Redis lost the key, the next slot is in %s, want 30s (after the 3 slots still queued)", d)
	}
	// Another handle (process) knows nothing of them: at most one slot of
	// its own may coincide, which is the bound the README states.
	other := open(t, m.Addr())
	defer other.Close()
	if _, d := reserveDelay(t, other, "k", lim); d != 40*time.Second {
		t.Fatalf("another handle's slot is in %s, want 40s (after the first handle's new one)", d)
	}
}

// The floor follows cancels and Reset, so that it never holds back more than
// the handle really holds.
func TestFloorFollowsCancelAndReset(t *testing.T) {
	m := startMini(t)
	l := open(t, m.Addr())
	defer l.Close()
	lim := limiter.Limit{Rate: 1, Period: 10 * time.Second, Burst: 1}
	ctx := context.Background()
	reserveDelay(t, l, "k", lim)
	r, _ := reserveDelay(t, l, "k", lim) // slot in 10 s
	if err := r.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	m.FlushAll()
	if _, d := reserveDelay(t, l, "k", lim); d != 10*time.Second {
		t.Fatalf("after a cancel and lost data, the next slot is in %s, want 10s (the cancelled one is not held)", d)
	}
	if err := l.Reset(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, d := reserveDelay(t, l, "k", lim); d != 0 {
		t.Fatalf("after Reset the next slot is in %s, want now", d)
	}
}
