package limitertest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
)

// Run runs the conformance suite. newHarness is called once per subtest, so
// that each starts on a fresh store; each subtest also uses keys of its own.
func Run(t *testing.T, newHarness func(t testing.TB) Harness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"AllowSteps", testAllowSteps},
		{"Refill", testRefill},
		{"SharedAcrossHandles", testShared},
		{"IndependentKeys", testIndependentKeys},
		{"ExceedsBurst", testExceedsBurst},
		{"ReserveFIFO", testReserveFIFO},
		{"CancelGivesBack", testCancelGivesBack},
		{"CancelAfterLaterReservation", testCancelAfterLater},
		{"CancelAfterHold", testCancelAfterHold},
		{"CancelAfterShorterHold", testCancelAfterShorterHold},
		{"CancelsChainNewestFirst", testCancelsChain},
		{"CancelAfterResetRebuild", testCancelAfterResetRebuild},
		{"CancelAfterResetFloor", testCancelAfterResetFloor},
		{"ResetEmptiesEveryQueue", testResetEmptiesEveryQueue},
		{"RandomCancels", testRandomCancels},
		{"HoldThenSteadyRate", testHold},
		{"ResetAndStatus", testResetStatus},
		{"WaitDeadline", testWaitDeadline},
		{"WaitCancelGivesBack", testWaitCancel},
		{"WaitSleepsUntilSlot", testWaitSleeps},
		{"Close", testClose},
		{"CloseGivesBackAll", testCloseGivesBackAll},
		{"CompositeCloseGivesBack", testCompositeCloseGivesBack},
		{"MixedCloseGivesBack", testMixedCloseGivesBack},
		{"BadInput", testBadInput},
		{"Concurrent", testConcurrent},
		{"CompositeBinding", testCompositeBinding},
		{"CompositeThreeNeeds", testCompositeThreeNeeds},
		{"CompositeBurstNeed", testCompositeBurstNeed},
		{"CompositePartialCancel", testCompositePartialCancel},
		{"CompositeCancelsChain", testCompositeCancelsChain},
		{"CompositeOneNeedShorthand", testCompositeShorthand},
		{"CompositeBadInput", testCompositeBadInput},
		{"CompositeMixedLoad", testMixedLoad},
		{"CompositeBindingLoad", testBindingLoad},
		{"BatchesForm", testBatchesForm},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newHarness(t))
		})
	}
}

var keySeq atomic.Int64

// key returns a key no other subtest uses.
func key(t testing.TB) string {
	return fmt.Sprintf("limitertest/%s/%d", t.Name(), keySeq.Add(1))
}

// open returns a handle the suite closes at the end of the test.
func open(t testing.TB, h Harness) limiter.Limiter {
	t.Helper()
	l := h.Open(t)
	t.Cleanup(func() { l.Close() })
	return l
}

// unitLimit is Rate 2 per unit with the given burst: T is half a unit.
func unitLimit(c *clock, burst int) limiter.Limit {
	return limiter.Limit{Rate: 2, Period: c.u(1), Burst: burst}
}

type allowStep struct {
	at         float64 // units from the start
	n          int
	ok         bool
	remaining  int
	retryAfter float64 // units
	resetAfter float64 // units
}

func testAllowSteps(t *testing.T, h Harness) {
	l, c := open(t, h), newClock(t, h)
	k := key(t)
	lim := unitLimit(c, 3) // T = 0.5, tolerance 1.5
	steps := []allowStep{
		{at: 0, n: 1, ok: true, remaining: 2, resetAfter: 0.5},
		{at: 0, n: 2, ok: true, remaining: 0, resetAfter: 1.5},
		{at: 0, n: 1, ok: false, remaining: 0, retryAfter: 0.5, resetAfter: 1.5},
		{at: 0.5, n: 1, ok: true, remaining: 0, resetAfter: 1.5},
		{at: 0.5, n: 1, ok: false, remaining: 0, retryAfter: 0.5, resetAfter: 1.5},
		{at: 1, n: 2, ok: false, remaining: 1, retryAfter: 0.5, resetAfter: 1},
		{at: 1, n: 1, ok: true, remaining: 0, resetAfter: 1.5},
		{at: 4, n: 3, ok: true, remaining: 0, resetAfter: 1.5},
		{at: 6, n: 1, ok: true, remaining: 2, resetAfter: 0.5},
		{at: 6, n: 1, ok: true, remaining: 1, resetAfter: 1},
	}
	for i, s := range steps {
		c.to(s.at)
		got, err := l.AllowN(context.Background(), k, lim, s.n)
		if err != nil {
			t.Fatalf("step %d (at %v, n %d): %v", i, s.at, s.n, err)
		}
		want := limiter.Result{Allowed: s.ok, Remaining: s.remaining, RetryAfter: c.u(s.retryAfter), ResetAfter: c.u(s.resetAfter)}
		if got.Allowed != want.Allowed || got.Remaining != want.Remaining ||
			!c.near(got.RetryAfter, want.RetryAfter) || !c.near(got.ResetAfter, want.ResetAfter) {
			t.Errorf("step %d (at %v, n %d): got %+v, want %+v (tolerance %s)", i, s.at, s.n, got, want, c.tol())
		}
	}
}

func testRefill(t *testing.T, h Harness) {
	l, c := open(t, h), newClock(t, h)
	k := key(t)
	lim := unitLimit(c, 2)
	ctx := context.Background()
	for i := range 2 {
		if r, err := l.AllowN(ctx, k, lim, 1); err != nil || !r.Allowed {
			t.Fatalf("burst token %d: %+v, %v", i, r, err)
		}
	}
	if r, _ := l.AllowN(ctx, k, lim, 1); r.Allowed {
		t.Fatalf("third token at once was allowed: %+v", r)
	}
	c.to(0.5) // one interval: exactly one token back
	if r, err := l.AllowN(ctx, k, lim, 1); err != nil || !r.Allowed {
		t.Fatalf("token after one interval: %+v, %v", r, err)
	}
	if r, _ := l.AllowN(ctx, k, lim, 1); r.Allowed {
		t.Fatalf("second token after one interval was allowed: %+v", r)
	}
	c.to(10) // long idle: full burst again, not more
	for i := range 2 {
		if r, err := l.AllowN(ctx, k, lim, 1); err != nil || !r.Allowed {
			t.Fatalf("after idle, token %d: %+v, %v", i, r, err)
		}
	}
	if r, _ := l.AllowN(ctx, k, lim, 1); r.Allowed {
		t.Fatalf("idle time saved more than the burst: %+v", r)
	}
}

func testShared(t *testing.T, h Harness) {
	a, b, c := open(t, h), open(t, h), newClock(t, h)
	k := key(t)
	lim := unitLimit(c, 2)
	ctx := context.Background()
	if r, err := a.AllowN(ctx, k, lim, 2); err != nil || !r.Allowed {
		t.Fatalf("handle a: %+v, %v", r, err)
	}
	r, err := b.AllowN(ctx, k, lim, 1)
	if err != nil {
		t.Fatal(err)
	}
	if r.Allowed {
		t.Fatalf("handle b was allowed after handle a emptied the bucket: the state is not shared")
	}
	if !c.near(r.RetryAfter, c.u(0.5)) {
		t.Errorf("handle b RetryAfter = %s, want %s", r.RetryAfter, c.u(0.5))
	}
}

func testIndependentKeys(t *testing.T, h Harness) {
	l, c := open(t, h), newClock(t, h)
	k1, k2 := key(t), key(t)
	lim := unitLimit(c, 1)
	ctx := context.Background()
	if r, _ := l.AllowN(ctx, k1, lim, 1); !r.Allowed {
		t.Fatal("first key refused")
	}
	if r, _ := l.AllowN(ctx, k1, lim, 1); r.Allowed {
		t.Fatal("first key allowed twice")
	}
	if r, err := l.AllowN(ctx, k2, lim, 1); err != nil || !r.Allowed || r.Remaining != 0 {
		t.Fatalf("second key affected by the first: %+v, %v", r, err)
	}
}

func testExceedsBurst(t *testing.T, h Harness) {
	l, c := open(t, h), newClock(t, h)
	k := key(t)
	lim := unitLimit(c, 3)
	ctx := context.Background()
	r, err := l.AllowN(ctx, k, lim, 4)
	if !errors.Is(err, limiter.ErrExceedsBurst) {
		t.Fatalf("AllowN(n=4) with burst 3: err = %v, want ErrExceedsBurst", err)
	}
	if r.RetryAfter != 0 {
		t.Errorf("n > burst got a RetryAfter of %s: such a request can never succeed", r.RetryAfter)
	}
	if _, err := l.ReserveN(ctx, k, lim, 4, time.Hour); !errors.Is(err, limiter.ErrExceedsBurst) {
		t.Errorf("ReserveN(n=4) with burst 3: err = %v, want ErrExceedsBurst", err)
	}
	if err := limiter.Wait(ctx, l, k, lim, 4); !errors.Is(err, limiter.ErrExceedsBurst) {
		t.Errorf("Wait(n=4) with burst 3: err = %v, want ErrExceedsBurst", err)
	}
	// Nothing was taken: the whole burst is still there.
	if r, err := l.AllowN(ctx, k, lim, 3); err != nil || !r.Allowed {
		t.Errorf("after refused oversize requests, n=3: %+v, %v", r, err)
	}
}

func testReserveFIFO(t *testing.T, h Harness) {
	l, c := open(t, h), newClock(t, h)
	k := key(t)
	lim := limiter.Limit{Rate: 1, Period: c.u(1), Burst: 1}
	ctx := context.Background()
	for i := range 5 {
		r, err := l.ReserveN(ctx, k, lim, 1, c.u(100))
		if err != nil {
			t.Fatal(err)
		}
		if !r.OK || !c.near(r.Delay, c.u(float64(i))) {
			t.Fatalf("reservation %d: OK=%v Delay=%s, want the slot in %s", i, r.OK, r.Delay, c.u(float64(i)))
		}
	}
	// The sixth slot is 5 units away: refused within 2, and nothing taken.
	r, err := l.ReserveN(ctx, k, lim, 1, c.u(2))
	if err != nil {
		t.Fatal(err)
	}
	if r.OK || !c.near(r.RetryAfter, c.u(5)) {
		t.Fatalf("reservation beyond maxWait: OK=%v RetryAfter=%s, want refused with %s", r.OK, r.RetryAfter, c.u(5))
	}
	r, err = l.ReserveN(ctx, k, lim, 1, c.u(100))
	if err != nil || !r.OK || !c.near(r.Delay, c.u(5)) {
		t.Fatalf("after a refused reservation: %+v, %v; want the slot in %s", r, err, c.u(5))
	}
}

// reserveChain takes count slots of one token each; the first is
// immediate.
func reserveChain(t *testing.T, l limiter.Limiter, k string, lim limiter.Limit, count int) []*limiter.Reservation {
	t.Helper()
	var rs []*limiter.Reservation
	for i := range count {
		r, err := l.ReserveN(context.Background(), k, lim, 1, time.Duration(count+1)*lim.Interval())
		if err != nil || !r.OK {
			t.Fatalf("reservation %d: %+v, %v", i, r, err)
		}
		rs = append(rs, r)
	}
	return rs
}

func nextDelay(t *testing.T, l limiter.Limiter, k string, lim limiter.Limit) time.Duration {
	t.Helper()
	r, err := l.ReserveN(context.Background(), k, lim, 1, 100*lim.Interval())
	if err != nil || !r.OK {
		t.Fatalf("probe reservation: %+v, %v", r, err)
	}
	return r.Delay
}

// cancelCase is a queue of count reservations of one token each on a new
// key (reserveChain), a limit of one token every 10 units, then a Hold of
// hold units (0: none) and the cancel of slot cancel. The next slot,
// probed from another handle (other) or the same, must come in want units
// (with atLeast: no earlier than want).
type cancelCase struct {
	count, cancel  int
	hold, want     float64 // in units
	other, atLeast bool
	what           string // the case, for the failure
}

func (cc cancelCase) check(t *testing.T, h Harness) {
	t.Helper()
	l := open(t, h)
	probe := l
	if cc.other {
		probe = open(t, h)
	}
	c := newClock(t, h)
	k := key(t)
	lim := limiter.Limit{Rate: 1, Period: c.u(10), Burst: 1}
	rs := reserveChain(t, l, k, lim, cc.count)
	ctx := context.Background()
	if cc.hold > 0 {
		if err := l.Hold(ctx, k, lim, c.u(cc.hold)); err != nil {
			t.Fatal(err)
		}
	}
	if err := rs[cc.cancel].Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	d, want := nextDelay(t, probe, k, lim), c.u(cc.want)
	if cc.atLeast && d < want-c.tol() {
		t.Fatalf("%s: the next slot comes in %s, below %s", cc.what, d, want)
	}
	if !cc.atLeast && !c.near(d, want) {
		t.Fatalf("%s: the next slot comes in %s, want %s", cc.what, d, want)
	}
}

// Another handle gets the cancelled slot, not the one after it.
func testCancelGivesBack(t *testing.T, h Harness) {
	cancelCase{count: 2, cancel: 1, want: 10, other: true, what: "after cancelling the last slot"}.check(t, h)
}

// A slot in the middle of the queue cannot be given back without moving
// the later one: the cancel is a no-op (no over-admission).
func testCancelAfterLater(t *testing.T, h Harness) {
	cancelCase{count: 3, cancel: 1, want: 30, what: "after cancelling a slot under a later one"}.check(t, h)
}

// A Hold past the queue (tat 20 -> 25), then a cancel: the hold stands.
func testCancelAfterHold(t *testing.T, h Harness) {
	cancelCase{count: 2, cancel: 1, hold: 25, want: 25, what: "after a Hold and a cancel"}.check(t, h)
}

// A Hold shorter than the queue does not move the next slot, but a cancel
// after it must not take the key below the hold (floor 25 < tat 30).
func testCancelAfterShorterHold(t *testing.T, h Harness) {
	cancelCase{count: 3, cancel: 2, hold: 25, want: 25, atLeast: true, what: "a cancel after a Hold of 25 units"}.check(t, h)
}

func testHold(t *testing.T, h Harness) {
	l, c := open(t, h), newClock(t, h)
	k := key(t)
	lim := unitLimit(c, 3) // T = 0.5
	ctx := context.Background()
	if err := l.Hold(ctx, k, lim, c.u(2)); err != nil {
		t.Fatal(err)
	}
	r, err := l.AllowN(ctx, k, lim, 1)
	if err != nil {
		t.Fatal(err)
	}
	if r.Allowed || !c.near(r.RetryAfter, c.u(2)) {
		t.Fatalf("during a hold of 2 units: %+v, want refused with RetryAfter %s", r, c.u(2))
	}
	st, err := l.Status(ctx, k, lim)
	if err != nil {
		t.Fatal(err)
	}
	if st.Remaining != 0 || !c.near(st.NextAfter, c.u(2)) {
		t.Errorf("Status during the hold: %+v, want no tokens and the next in %s", st, c.u(2))
	}
	c.to(2)
	if r, _ := l.AllowN(ctx, k, lim, 1); !r.Allowed {
		t.Fatalf("after the hold: refused %+v", r)
	}
	// Steady rate, not a burst of 3.
	r, _ = l.AllowN(ctx, k, lim, 1)
	if r.Allowed || !c.near(r.RetryAfter, c.u(0.5)) {
		t.Fatalf("second request right after the hold: %+v, want refused for one interval", r)
	}
	// A shorter hold never shortens a longer one.
	if err := l.Hold(ctx, k, lim, c.u(5)); err != nil {
		t.Fatal(err)
	}
	if err := l.Hold(ctx, k, lim, c.u(1)); err != nil {
		t.Fatal(err)
	}
	// (A Hold moves the stored time by at least 1 µs; see gcra.Hold.)
	if r, _ := l.AllowN(ctx, k, lim, 1); r.Allowed || r.RetryAfter < c.u(5)-c.tol() || r.RetryAfter > c.u(5)+c.tol()+time.Microsecond {
		t.Fatalf("a shorter hold shortened a longer one: %+v", r)
	}
}

func testResetStatus(t *testing.T, h Harness) {
	l, c := open(t, h), newClock(t, h)
	k := key(t)
	lim := unitLimit(c, 3)
	ctx := context.Background()
	st, err := l.Status(ctx, k, lim)
	if err != nil {
		t.Fatal(err)
	}
	if st != (limiter.Status{Remaining: 3}) {
		t.Fatalf("Status of a new key: %+v, want a full bucket", st)
	}
	if _, err := l.AllowN(ctx, k, lim, 3); err != nil {
		t.Fatal(err)
	}
	for range 2 { // Status changes nothing.
		st, err = l.Status(ctx, k, lim)
		if err != nil {
			t.Fatal(err)
		}
		if st.Remaining != 0 || !c.near(st.NextAfter, c.u(0.5)) || !c.near(st.FullAfter, c.u(1.5)) {
			t.Fatalf("Status after emptying: %+v, want 0 left, next in %s, full in %s", st, c.u(0.5), c.u(1.5))
		}
	}
	if err := l.Reset(ctx, k); err != nil {
		t.Fatal(err)
	}
	if r, _ := l.AllowN(ctx, k, lim, 3); !r.Allowed {
		t.Fatalf("after Reset the bucket is not full: %+v", r)
	}
}

func testWaitDeadline(t *testing.T, h Harness) {
	l := open(t, h)
	k := key(t)
	lim := limiter.Limit{Rate: 1, Period: time.Hour, Burst: 1}
	bg := context.Background()
	if err := limiter.Wait(bg, l, k, lim, 1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	start := time.Now()
	err := limiter.Wait(ctx, l, k, lim, 1)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, limiter.ErrSlotTooLate) {
		t.Fatalf("Wait for a slot an hour away with a 10 s deadline: %v, want DeadlineExceeded and ErrSlotTooLate", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("Wait slept instead of failing at once")
	}
	// Nothing was taken: the next slot is still one interval away.
	st, err := l.Status(bg, k, lim)
	if err != nil {
		t.Fatal(err)
	}
	if st.FullAfter > time.Hour+time.Second {
		t.Fatalf("a refused Wait took a slot: full after %s", st.FullAfter)
	}
}

// waitQueued starts a Wait that queues behind a taken token, and returns its
// error channel once the store shows the queued slot.
func waitQueued(t *testing.T, ctx context.Context, l, probe limiter.Limiter, k string, lim limiter.Limit) <-chan error {
	t.Helper()
	bg := context.Background()
	if err := limiter.Wait(bg, l, k, lim, 1); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- limiter.Wait(ctx, l, k, lim, 1) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := probe.Status(bg, k, lim)
		if err != nil {
			t.Fatal(err)
		}
		if st.FullAfter > lim.Interval()+lim.Interval()/2 {
			return errc
		}
		if time.Now().After(deadline) {
			t.Fatalf("the waiting slot never showed in the store: %+v", st)
		}
		time.Sleep(time.Millisecond)
	}
}

// checkGivenBack fails unless the queued slot was given back.
func checkGivenBack(t *testing.T, probe limiter.Limiter, k string, lim limiter.Limit) {
	t.Helper()
	st, err := probe.Status(context.Background(), k, lim)
	if err != nil {
		t.Fatal(err)
	}
	if st.FullAfter > lim.Interval() {
		t.Fatalf("the slot of the ended Wait was not given back: full after %s, want at most %s", st.FullAfter, lim.Interval())
	}
}

func testWaitCancel(t *testing.T, h Harness) {
	l, probe := open(t, h), open(t, h)
	k := key(t)
	lim := limiter.Limit{Rate: 1, Period: time.Hour, Burst: 1}
	ctx, cancel := context.WithCancel(context.Background())
	errc := waitQueued(t, ctx, l, probe, k, lim)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Wait returned %v, want context.Canceled", err)
	}
	checkGivenBack(t, probe, k, lim)
}

func testWaitSleeps(t *testing.T, h Harness) {
	l := open(t, h)
	k := key(t)
	lim := limiter.Limit{Rate: 1, Period: 30 * time.Millisecond, Burst: 1}
	ctx := context.Background()
	if err := limiter.Wait(ctx, l, k, lim, 1); err != nil {
		t.Fatal(err)
	}
	r, err := l.ReserveN(ctx, k, lim, 1, time.Minute)
	if err != nil || !r.OK || r.Delay <= 0 {
		t.Fatalf("second slot: %+v, %v; want a positive delay", r, err)
	}
	start := time.Now()
	if err := limiter.Wait(ctx, l, k, lim, 1); err != nil {
		t.Fatal(err)
	}
	// The third slot comes after the second: Wait cannot have returned
	// before the store's interval passed (a lower bound only).
	if el := time.Since(start); el < r.Delay {
		t.Fatalf("Wait returned after %s, before its slot (at least %s away)", el, r.Delay)
	}
}

func testClose(t *testing.T, h Harness) {
	l, probe := h.Open(t), open(t, h)
	k := key(t)
	lim := limiter.Limit{Rate: 1, Period: time.Hour, Burst: 1}
	errc := waitQueued(t, context.Background(), l, probe, k, lim)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, limiter.ErrClosed) {
		t.Fatalf("Wait in flight at Close returned %v, want ErrClosed", err)
	}
	checkGivenBack(t, probe, k, lim)
	ctx := context.Background()
	if _, err := l.AllowN(ctx, k, lim, 1); !errors.Is(err, limiter.ErrClosed) {
		t.Errorf("AllowN after Close: %v", err)
	}
	if _, err := l.ReserveN(ctx, k, lim, 1, 0); !errors.Is(err, limiter.ErrClosed) {
		t.Errorf("ReserveN after Close: %v", err)
	}
	if err := l.Hold(ctx, k, lim, time.Second); !errors.Is(err, limiter.ErrClosed) {
		t.Errorf("Hold after Close: %v", err)
	}
	if err := l.Reset(ctx, k); !errors.Is(err, limiter.ErrClosed) {
		t.Errorf("Reset after Close: %v", err)
	}
	if _, err := l.Status(ctx, k, lim); !errors.Is(err, limiter.ErrClosed) {
		t.Errorf("Status after Close: %v", err)
	}
	if err := limiter.Wait(ctx, l, k, lim, 1); !errors.Is(err, limiter.ErrClosed) {
		t.Errorf("Wait after Close: %v", err)
	}
	select {
	case <-l.Done():
	default:
		t.Errorf("Done is not closed after Close")
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// The other handle goes on.
	if _, err := probe.AllowN(ctx, k, lim, 1); err != nil {
		t.Errorf("another handle after Close of the first: %v", err)
	}
}

func testBadInput(t *testing.T, h Harness) {
	l := open(t, h)
	ctx := context.Background()
	good := limiter.PerSecond(10)
	k := key(t)
	type call struct {
		name string
		run  func() error
		want error
	}
	allow := func(k string, lim limiter.Limit, n int) func() error {
		return func() error { _, err := l.AllowN(ctx, k, lim, n); return err }
	}
	reserve := func(k string, lim limiter.Limit, n int, w time.Duration) func() error {
		return func() error { _, err := l.ReserveN(ctx, k, lim, n, w); return err }
	}
	calls := []call{
		{"AllowN empty key", allow("", good, 1), limiter.ErrInvalidArgument},
		{"AllowN n=0", allow(k, good, 0), limiter.ErrInvalidArgument},
		{"AllowN n=-1", allow(k, good, -1), limiter.ErrInvalidArgument},
		{"AllowN Rate 0", allow(k, limiter.Limit{Period: time.Second, Burst: 1}, 1), limiter.ErrInvalidLimit},
		{"AllowN Period 0", allow(k, limiter.Limit{Rate: 1, Burst: 1}, 1), limiter.ErrInvalidLimit},
		{"AllowN Burst 0", allow(k, limiter.Limit{Rate: 1, Period: time.Second}, 1), limiter.ErrInvalidLimit},
		{"ReserveN empty key", reserve("", good, 1, 0), limiter.ErrInvalidArgument},
		{"ReserveN n=0", reserve(k, good, 0, 0), limiter.ErrInvalidArgument},
		{"ReserveN maxWait<0", reserve(k, good, 1, -time.Second), limiter.ErrInvalidArgument},
		{"ReserveN bad limit", reserve(k, limiter.Limit{Rate: -1, Period: time.Second, Burst: 1}, 1, 0), limiter.ErrInvalidLimit},
		{"Hold empty key", func() error { return l.Hold(ctx, "", good, time.Second) }, limiter.ErrInvalidArgument},
		{"Hold d<0", func() error { return l.Hold(ctx, k, good, -time.Second) }, limiter.ErrInvalidArgument},
		{"Hold bad limit", func() error { return l.Hold(ctx, k, limiter.Limit{}, time.Second) }, limiter.ErrInvalidLimit},
		{"Reset empty key", func() error { return l.Reset(ctx, "") }, limiter.ErrInvalidArgument},
		{"Status empty key", func() error { _, err := l.Status(ctx, "", good); return err }, limiter.ErrInvalidArgument},
		{"Status bad limit", func() error { _, err := l.Status(ctx, k, limiter.Limit{Rate: 1}); return err }, limiter.ErrInvalidLimit},
		{"Wait n=0", func() error { return limiter.Wait(ctx, l, k, good, 0) }, limiter.ErrInvalidArgument},
	}
	for _, c := range calls {
		err := c.run()
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
	// None of it took a token.
	if st, err := l.Status(ctx, k, good); err != nil || st.Remaining != 1 {
		t.Errorf("bad input changed the key: %+v, %v", st, err)
	}
}

// testConcurrent: 32 goroutines over 4 handles on one key stay within the
// bound in every window and use at least 99 % of it.
func testConcurrent(t *testing.T, h Harness) {
	var handles []limiter.Limiter
	for range 4 {
		handles = append(handles, open(t, h))
	}
	k := key(t)
	if h.Advance != nil {
		concurrentStepped(t, h, handles, k)
	} else {
		concurrentReal(t, h, handles, k)
	}
}

// concurrentStepped moves the store's clock in quarter intervals; in each
// step every goroutine asks once (half with AllowN, half with ReserveN and
// no wait). Admissions are stamped with the store time of the step, so the
// window check is exact.
func concurrentStepped(t *testing.T, h Harness, handles []limiter.Limiter, k string) {
	lim := limiter.Limit{Rate: 100, Period: time.Second, Burst: 4} // T = 10 ms
	var mu sync.Mutex
	var times []time.Duration
	runStepped(h, handles, 32, 200, lim.Interval()/4, func(l limiter.Limiter, g, _ int, now time.Duration) {
		var ok bool
		if g%2 == 0 {
			res, err := l.AllowN(context.Background(), k, lim, 1)
			if err != nil {
				t.Error(err)
			}
			ok = res.Allowed
		} else {
			res, err := l.ReserveN(context.Background(), k, lim, 1, 0)
			if err != nil {
				t.Error(err)
			}
			ok = err == nil && res.OK
		}
		if ok {
			mu.Lock()
			times = append(times, now)
			mu.Unlock()
		}
	})
	CheckWindows(t, times, lim, 0)
	CheckUsage(t, times, lim, 0)
}

// runStepped runs goroutines over handles for steps of the store's clock:
// in each step every goroutine calls try once, all at the same time, with
// the step's index and store time (since the run's start); when all have
// returned, the clock moves by step. Nothing moves the clock during a
// step, so that admissions can be stamped exactly.
func runStepped(h Harness, handles []limiter.Limiter, goroutines, steps int, step time.Duration,
	try func(l limiter.Limiter, g, i int, now time.Duration)) {
	now := time.Duration(0)
	for i := range steps {
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() { try(handles[g%len(handles)], g, i, now) })
		}
		wg.Wait()
		h.Advance(step)
		now += step
	}
}

// concurrentReal runs two real-time loads of 600 ms each on keys of their
// own: goroutines polling with AllowN and with ReserveN without waiting
// (sleeping RetryAfter when refused), then goroutines calling Wait. Each
// admission is a Span on this process's clock: within its call for the
// first, within its reservation's call plus Delay for Wait. The window
// check counts only admissions certainly in a window (no tolerance), so a
// limit loosened by one interval shows even against a store whose clock
// cannot be moved (a real Redis), on every path.
func concurrentReal(t *testing.T, h Harness, handles []limiter.Limiter, k string) {
	lim := limiter.Limit{Rate: 200, Period: time.Second, Burst: 2}
	const d = 600 * time.Millisecond
	t.Run("AllowN+ReserveN", func(t *testing.T) {
		spans := runReal(t, handles, 16, d, func(ctx context.Context, l limiter.Limiter, g int, clk *spanClock) (Span, time.Duration, error) {
			lo := clk.lo()
			if g%2 == 0 {
				r, err := l.AllowN(ctx, k+"/immediate", lim, 1)
				return Span{lo, clk.now()}, refusedFor(r.Allowed, r.RetryAfter), err
			}
			r, err := l.ReserveN(ctx, k+"/immediate", lim, 1, 0)
			if err != nil {
				return Span{}, 0, err
			}
			if r.OK && r.Delay != 0 {
				return Span{}, 0, fmt.Errorf("ReserveN with maxWait 0 granted a slot in %s", r.Delay)
			}
			return Span{lo, clk.now()}, refusedFor(r.OK, r.RetryAfter), nil
		})
		// No usage check here: what polling uses depends on how late
		// its sleepers wake (under -race on 2 cores, 2 slots of 121
		// were missed), not on the limiter.
		CheckSpans(t, spans, lim, d)
	})
	t.Run("Wait", func(t *testing.T) {
		spans := runReal(t, handles, 32, d, func(ctx context.Context, l limiter.Limiter, _ int, clk *spanClock) (Span, time.Duration, error) {
			s, err := WaitSpan(ctx, l, k+"/wait", lim, 1, clk.start)
			return s, 0, err
		})
		CheckSpans(t, spans, lim, d)
		CheckSpanUsage(t, spans, lim)
	})
}

// refusedFor is 0 for an admission, else how long to sleep before asking
// again (at least 1 µs: a refusal is never a reason to spin).
func refusedFor(ok bool, retryAfter time.Duration) time.Duration {
	if ok {
		return 0
	}
	return max(retryAfter, time.Microsecond)
}

// spanClock is a real-time run's clock: durations since its start.
type spanClock struct{ start time.Time }

func (c *spanClock) now() time.Duration { return time.Since(c.start) }

// lo is now as the start of a span: one microsecond earlier, since stores
// read their clocks in whole microseconds (a decision's "now" may lie up
// to 1 µs before the instant it was read).
func (c *spanClock) lo() time.Duration { return c.now() - time.Microsecond }

// stamped records the Span of the slot its last granted reservation holds:
// the call (less 1 µs, see lo) and the answer, each plus the Delay; and
// that reservation.
type stamped struct {
	limiter.Limiter
	clk  *spanClock
	span Span
	res  *limiter.Reservation
}

func (s *stamped) ReserveN(ctx context.Context, key string, limit limiter.Limit, n int, maxWait time.Duration) (*limiter.Reservation, error) {
	lo := s.clk.lo()
	r, err := s.Limiter.ReserveN(ctx, key, limit, n, maxWait)
	s.keep(lo, r, err)
	return r, err
}

func (s *stamped) Reserve(ctx context.Context, maxWait time.Duration, needs ...limiter.Need) (*limiter.Reservation, error) {
	lo := s.clk.lo()
	r, err := s.Limiter.Reserve(ctx, maxWait, needs...)
	s.keep(lo, r, err)
	return r, err
}

func (s *stamped) keep(lo time.Duration, r *limiter.Reservation, err error) {
	if err == nil && r.OK {
		s.span, s.res = Span{lo + r.Delay, s.clk.now() + r.Delay}, r
	}
}

// runReal runs n goroutines over handles for d, each calling try until the
// run ends; try returns an admission (its span, or a record R of its
// own), or how long to sleep after a refusal. The run's end (its context, or a Wait's slot past it) stops a
// goroutine; any other error fails t.
func runReal[R any](t *testing.T, handles []limiter.Limiter, n int, d time.Duration,
	try func(ctx context.Context, l limiter.Limiter, g int, clk *spanClock) (R, time.Duration, error)) []R {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	clk := &spanClock{start: time.Now()}
	var mu sync.Mutex
	var spans []R
	var wg sync.WaitGroup
	for g := range n {
		wg.Go(func() {
			l := handles[g%len(handles)]
			for ctx.Err() == nil {
				s, sleep, err := try(ctx, l, g, clk)
				if err != nil {
					if ctx.Err() == nil && !errors.Is(err, limiter.ErrSlotTooLate) {
						t.Errorf("goroutine %d: %v", g, err)
					}
					return
				}
				if sleep > 0 {
					tm := time.NewTimer(sleep)
					select {
					case <-tm.C:
					case <-ctx.Done():
					}
					tm.Stop()
					continue
				}
				mu.Lock()
				spans = append(spans, s)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return spans
}
