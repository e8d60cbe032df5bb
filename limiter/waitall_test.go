package limiter_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
)

// TestWaitAllSleepsToBindingSlot: WaitAll takes every need at the binding
// need's slot, sleeping (in real time) exactly the store's wait for it,
// and reports the wait and the admission under the binding need's key,
// with Needs set. (The store's clock stands still: the wait is the one the
// store gave.)
func TestWaitAllSleepsToBindingSlot(t *testing.T) {
	f := newFixture(t, limiter.Policy{})
	ctx := context.Background()
	lx := limiter.Limit{Rate: 50, Period: time.Second, Burst: 1} // 20 ms
	ly := limiter.Limit{Rate: 25, Period: time.Second, Burst: 1} // 40 ms
	for _, nd := range []limiter.Need{need("x", lx, 1), need("y", ly, 1)} {
		if _, err := f.g.Allow(ctx, nd); err != nil {
			t.Fatal(err)
		}
	}
	needs := []limiter.Need{need("x", lx, 1), need("y", ly, 1)}
	start := time.Now()
	if err := limiter.WaitAll(ctx, f.g, needs...); err != nil {
		t.Fatal(err)
	}
	if slept := time.Since(start); slept < 40*time.Millisecond {
		t.Errorf("WaitAll returned after %s, before the binding slot (40 ms)", slept)
	}
	var waited []limiter.Event
	for _, e := range f.obs.all() {
		if e.Op == "Wait" {
			waited = append(waited, e)
		}
	}
	if len(waited) != 2 {
		t.Fatalf("Wait events %+v, want waited and admitted", waited)
	}
	for i, kind := range []limiter.EventKind{limiter.EventWaited, limiter.EventAdmitted} {
		e := waited[i]
		if e.Kind != kind || e.Key != "y" || e.N != 1 || e.Limit != ly || e.Duration != 40*time.Millisecond || !slices.Equal(e.Needs, needs) {
			t.Errorf("event %d: %+v, want %s of the binding need y after 40ms, with Needs", i, e, kind)
		}
	}
	// Both keys charged from the slot at 40 ms.
	if sx, sy := status(t, f.g, "x", lx), status(t, f.g, "y", ly); sx.FullAfter != 60*time.Millisecond || sy.FullAfter != 80*time.Millisecond {
		t.Errorf("after WaitAll: x full after %s, y %s; want 60ms and 80ms", sx.FullAfter, sy.FullAfter)
	}
}

// TestWaitAllGivesBackOnCancel: a WaitAll whose context ends during its
// sleep gives its slot back on every key and returns the context's error.
func TestWaitAllGivesBackOnCancel(t *testing.T) {
	f := newFixture(t, limiter.Policy{})
	lx, lz := limiter.PerSecond(50), limiter.Every(10*time.Second)
	if _, err := f.g.AllowN(context.Background(), "z", lz, 1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- limiter.WaitAll(ctx, f.g, need("x", lx, 1), need("z", lz, 1)) }()
	waitFor(t, func() bool { return status(t, f.g, "z", lz).FullAfter == 20*time.Second })
	if st := status(t, f.g, "x", lx); st.FullAfter != 10*time.Second+20*time.Millisecond {
		t.Errorf("x while WaitAll sleeps: %+v, want charged from the slot at 10s", st)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("WaitAll whose context ended: %v, want context.Canceled", err)
	}
	if sx, sz := status(t, f.g, "x", lx), status(t, f.g, "z", lz); sx.FullAfter != 0 || sz.FullAfter != 10*time.Second {
		t.Errorf("after the cancel: x %+v, z %+v; want x empty, z back at 10s", sx, sz)
	}
}

// TestWaitAllDeadlineNamesBindingNeed: a slot after the context's
// deadline takes nothing and is a DeadlineError naming the binding need
// (not the first), matching ErrSlotTooLate and DeadlineExceeded; the
// refusal is reported under the binding need with Needs.
func TestWaitAllDeadlineNamesBindingNeed(t *testing.T) {
	f := newFixture(t, limiter.Policy{})
	lx, lz := limiter.PerSecond(50), limiter.Every(time.Second)
	if _, err := f.g.AllowN(context.Background(), "z", lz, 1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	needs := []limiter.Need{need("x", lx, 1), need("z", lz, 1)}
	err := limiter.WaitAll(ctx, f.g, needs...)
	var de *limiter.DeadlineError
	if !errors.As(err, &de) || de.Key != "z" || de.N != 1 || de.Needed != time.Second || de.Left > 200*time.Millisecond {
		t.Fatalf("WaitAll past the deadline: %v (%+v), want a DeadlineError naming z, needing 1s", err, de)
	}
	if !errors.Is(err, limiter.ErrSlotTooLate) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("%v does not match ErrSlotTooLate and DeadlineExceeded", err)
	}
	if sx, sz := status(t, f.g, "x", lx), status(t, f.g, "z", lz); sx.FullAfter != 0 || sz.FullAfter != time.Second {
		t.Errorf("after the refusal: x %+v, z %+v; want nothing taken", sx, sz)
	}
	evs := f.obs.all()
	e := evs[len(evs)-1]
	if e.Op != "Wait" || e.Kind != limiter.EventRefused || e.Key != "z" || e.Duration != time.Second || !slices.Equal(e.Needs, needs) || !errors.As(e.Err, &de) {
		t.Errorf("the refusal's event: %+v, want Wait refused on z for 1s, with Needs and the DeadlineError", e)
	}
}

// TestCompositeEvents: the Handle reports a composite Allow and Reserve
// under the binding need (Key, N, Limit), with every need in Needs; a
// request of one need leaves Needs nil.
func TestCompositeEvents(t *testing.T) {
	f := newFixture(t, limiter.Policy{})
	ctx := context.Background()
	la, lb := limiter.Limit{Rate: 10, Period: time.Second, Burst: 3}, limiter.Every(time.Second)
	needs := []limiter.Need{need("a", la, 2), need("b", lb, 1)}
	if _, err := f.g.Allow(ctx, needs...); err != nil { // admitted, a tie: a binds
		t.Fatal(err)
	}
	if _, err := f.g.Allow(ctx, needs...); err != nil { // refused on b
		t.Fatal(err)
	}
	r, err := f.g.Reserve(ctx, time.Hour, needs...) // b binds, in 1s
	if err != nil || !r.OK {
		t.Fatal(r, err)
	}
	if _, err := f.g.Allow(ctx, need("c", la, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.g.AllowN(ctx, "c", la, 1); err != nil {
		t.Fatal(err)
	}
	type ev struct {
		op    string
		kind  limiter.EventKind
		key   string
		n     int
		limit limiter.Limit
		d     time.Duration
		needs []limiter.Need
	}
	want := []ev{
		{"Allow", limiter.EventAdmitted, "a", 2, la, 0, needs},
		{"Allow", limiter.EventRefused, "b", 1, lb, time.Second, needs},
		{"Reserve", limiter.EventAdmitted, "b", 1, lb, time.Second, needs},
		{"Allow", limiter.EventAdmitted, "c", 1, la, 0, nil},
		{"AllowN", limiter.EventAdmitted, "c", 1, la, 0, nil},
	}
	got := f.obs.all()
	if len(got) != len(want) {
		t.Fatalf("%d events %+v, want %d", len(got), got, len(want))
	}
	for i, w := range want {
		e := got[i]
		if e.Op != w.op || e.Kind != w.kind || e.Key != w.key || e.N != w.n || e.Limit != w.limit || e.Duration != w.d || !slices.Equal(e.Needs, w.needs) {
			t.Errorf("event %d: %+v, want %+v", i, e, w)
		}
	}
}
