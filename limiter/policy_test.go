package limiter_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sharedlimit/sharedlimit/internal/testutil"
	"github.com/sharedlimit/sharedlimit/limiter"
)

type fixture struct {
	store *fakeStore
	clock *testutil.SleepClock
	obs   *recorder
	log   *testutil.LogBuffer
	g     *limiter.Handle
}

// newFixture is a Handle under p on a fakeStore. The store, and the
// fallback when p needs one and has none (the Handle's default), run on
// the fixture's clock.
func newFixture(t *testing.T, p limiter.Policy) *fixture {
	t.Helper()
	clock := newFakeTime()
	f := &fixture{store: newFakeStore(clock.Now), clock: clock, obs: &recorder{}, log: &testutil.LogBuffer{}}
	p.Now, p.Sleep, p.Observer, p.Logger = f.clock.Now, f.clock.Sleep, f.obs, f.log.Logger()
	g, err := limiter.NewHandle(f.store, p)
	if err != nil {
		t.Fatal(err)
	}
	f.g = g
	t.Cleanup(func() { g.Close() })
	return f
}

var lim = limiter.Limit{Rate: 10, Period: time.Second, Burst: 4}

// TestWaitPolicyRetries: under the default policy, three failures then an
// answer: the caller gets the store's answer, after backoff pauses that
// double from MinBackoff (jittered to half..all), and the outage is logged
// once each way.
func TestWaitPolicyRetries(t *testing.T) {
	f := newFixture(t, limiter.Policy{})
	f.store.failNext.Store(3)
	r, err := f.g.AllowN(context.Background(), "k", lim, 1)
	if err != nil || !r.Allowed {
		t.Fatalf("AllowN after 3 failures: %+v, %v", r, err)
	}
	sleeps := f.clock.Sleeps()
	if len(sleeps) != 3 {
		t.Fatalf("%d pauses, want 3: %v", len(sleeps), sleeps)
	}
	for i, d := range sleeps {
		hi := limiter.DefaultMinBackoff << i
		if d < hi/2 || d > hi {
			t.Errorf("pause %d = %s, want between %s and %s", i, d, hi/2, hi)
		}
	}
	out := f.log.String()
	if strings.Count(out, "callers wait for it") != 1 || strings.Count(out, "store answers again") != 1 {
		t.Errorf("want one line per switch:\n%s", out)
	}
	if got := [3]int{f.obs.count(limiter.EventStoreError), f.obs.count(limiter.EventPolicySwitch), f.obs.count(limiter.EventAdmitted)}; got != [3]int{3, 2, 1} {
		t.Errorf("store errors, switches, admissions = %v, want [3 2 1]", got)
	}
}

// TestWaitPolicyGivesUp: a store that never answers: the caller gets an
// error matching ErrUnavailable after UnavailableAfter (on the fake clock),
// with backoff capped at MaxBackoff, and nothing was admitted.
func TestWaitPolicyGivesUp(t *testing.T) {
	f := newFixture(t, limiter.Policy{UnavailableAfter: 5 * time.Second})
	f.store.failing.Store(true)
	start := f.clock.Now()
	_, err := f.g.AllowN(context.Background(), "k", lim, 1)
	if !errors.Is(err, limiter.ErrUnavailable) {
		t.Fatalf("AllowN on a dead store: %v, want ErrUnavailable", err)
	}
	if spent := f.clock.Now().Sub(start); spent != 5*time.Second {
		t.Errorf("gave up after %s of backoff, want exactly the bound 5s", spent)
	}
	for _, d := range f.clock.Sleeps() {
		if d > limiter.DefaultMaxBackoff {
			t.Errorf("pause %s above MaxBackoff", d)
		}
	}
	t.Logf("%v", err)
	if _, err := f.g.ReserveN(context.Background(), "k", lim, 1, time.Second); !errors.Is(err, limiter.ErrUnavailable) {
		t.Errorf("ReserveN: %v", err)
	}
	if err := f.g.Hold(context.Background(), "k", lim, time.Second); !errors.Is(err, limiter.ErrUnavailable) {
		t.Errorf("Hold: %v", err)
	}
	f.store.failing.Store(false)
	if st, err := f.g.Status(context.Background(), "k", lim); err != nil || st.Remaining != lim.Burst {
		t.Errorf("something was admitted without the store: %+v, %v", st, err)
	}

	// The caller's context ends first: ErrUnavailable and the context's
	// error.
	f.store.failing.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base := len(f.clock.Sleeps())
	f.clock.SetOnSleep(func(n int) {
		if n >= base+2 {
			cancel()
		}
	})
	_, err = f.g.AllowN(ctx, "k", lim, 1)
	if !errors.Is(err, limiter.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Errorf("AllowN whose context ends while the store is down: %v, want ErrUnavailable and Canceled", err)
	}

	// A negative bound gives up at once.
	g, err := limiter.NewHandle(f.store, limiter.Policy{UnavailableAfter: -1, Sleep: f.clock.Sleep, Logger: f.log.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	before := f.store.calls.Load()
	if _, err := g.AllowN(context.Background(), "k", lim, 1); !errors.Is(err, limiter.ErrUnavailable) || f.store.calls.Load() != before+1 {
		t.Errorf("UnavailableAfter < 0: %v after %d calls, want ErrUnavailable after 1", err, f.store.calls.Load()-before)
	}
}

// TestWaitPolicyReserveSpent: the time spent retrying is taken off
// ReserveN's maxWait, so that a Wait cannot sleep past its deadline.
func TestWaitPolicyReserveSpent(t *testing.T) {
	f := newFixture(t, limiter.Policy{MinBackoff: 300 * time.Millisecond, MaxBackoff: 300 * time.Millisecond})
	f.store.failNext.Store(2)
	r, err := f.g.ReserveN(context.Background(), "k", lim, 1, time.Second)
	if err != nil || !r.OK {
		t.Fatalf("ReserveN: %+v, %v", r, err)
	}
	spent := f.clock.Sleeps()[0] + f.clock.Sleeps()[1]
	// The store takes maxWait in whole microseconds, rounded down.
	if got := f.store.MaxWaits(); len(got) != 3 || got[0] != time.Second || got[2] != (time.Second-spent).Truncate(time.Microsecond) {
		t.Errorf("maxWait of the attempts: %v, want 1s then 1s minus the %s spent", got, spent)
	}
}

// The time a failing call itself takes (a Redis timeout) counts as spent
// too, so that the slot taken at last still comes before the deadline.
func TestWaitPolicyFirstCallSpent(t *testing.T) {
	f := newFixture(t, limiter.Policy{MinBackoff: 100 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	f.store.onFail = func() { f.clock.Advance(300 * time.Millisecond) } // the call timed out
	f.store.failNext.Store(1)
	if _, err := f.g.ReserveN(context.Background(), "k", lim, 1, time.Second); err != nil {
		t.Fatal(err)
	}
	got := f.store.MaxWaits()
	if spent := 300*time.Millisecond + f.clock.Sleeps()[0]; len(got) != 2 || got[1] != (time.Second-spent).Truncate(time.Microsecond) {
		t.Errorf("maxWait of the attempts: %v, want 1s then 1s minus the %s spent in the failed call and the pause", got, spent)
	}
}

// TestNotRetried: errors that are not the store's (the caller's context,
// Close, bad input) return at once.
func TestNotRetried(t *testing.T) {
	f := newFixture(t, limiter.Policy{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.g.AllowN(ctx, "k", lim, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	if _, err := f.g.AllowN(context.Background(), "k", lim, 5); !errors.Is(err, limiter.ErrExceedsBurst) {
		t.Errorf("n > burst: %v", err)
	}
	f.g.Close()
	if _, err := f.g.AllowN(context.Background(), "k", lim, 1); !errors.Is(err, limiter.ErrClosed) {
		t.Errorf("closed: %v", err)
	}
	if n := len(f.clock.Sleeps()); n != 0 {
		t.Errorf("%d pauses for errors that are not the store's", n)
	}
}

// TestOpenPolicy: while the store is down, everything is admitted at once
// without asking it again (one probe retries it in the background); one
// Warn line per switch, not per request; the probe switches back; Close
// leaves no goroutine.
func TestOpenPolicy(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	f := newFixture(t, limiter.Policy{OnFailure: limiter.FailOpen})
	f.store.failing.Store(true)
	ctx := context.Background()
	for i := range 100 {
		r, err := f.g.AllowN(ctx, "k", lim, 1)
		if err != nil || !r.Allowed {
			t.Fatalf("AllowN %d with the store down: %+v, %v", i, r, err)
		}
	}
	res, err := f.g.ReserveN(ctx, "k", lim, 1, 0)
	if err != nil || !res.OK || res.Delay != 0 {
		t.Fatalf("ReserveN with the store down: %+v, %v", res, err)
	}
	if err := limiter.Wait(ctx, f.g, "k", lim, 1); err != nil {
		t.Fatalf("Wait with the store down: %v", err)
	}
	if !f.g.Degraded() {
		t.Error("not Degraded")
	}
	f.store.failing.Store(false)
	waitFor(t, func() bool { return !f.g.Degraded() && f.obs.count(limiter.EventPolicySwitch) == 2 })
	out := f.log.String()
	if n := strings.Count(out, "level=WARN"); n != 2 {
		t.Errorf("%d Warn lines, want 2 (one per switch):\n%s", n, out)
	}
	if !strings.Contains(out, "ADMITTING WITHOUT A LIMIT") || !strings.Contains(out, "admitted_without_store=102") {
		t.Errorf("the log does not say what fail-open did:\n%s", out)
	}
	if r, err := f.g.AllowN(ctx, "k", lim, 1); err != nil || !r.Allowed || r.Remaining != lim.Burst-1 {
		t.Errorf("the store does not decide again: %+v, %v", r, err)
	}
	if got := f.obs.count(limiter.EventPolicySwitch); got != 2 {
		t.Errorf("%d switch events, want 2", got)
	}
	f.g.Close()
}

// TestFallbackPolicy: while the store is down, an in-process limiter
// decides at the share of the limit (Rate 10 -> 5, Burst 4 -> 2);
// reservations it granted are cancelled on it; after the probe the store
// decides again, charged with what the fallback admitted.
func TestFallbackPolicy(t *testing.T) {
	f := newFixture(t, limiter.Policy{OnFailure: limiter.FailFallback, FallbackShare: 0.5})
	fb := f.g.Policy().Fallback
	ctx := context.Background()
	// The probe's first pause moves the fake clock at once: hold it there
	// until the fallback's calls below are done, so that the clock does not
	// jump between a decision and the time its answer is read at (a jump
	// the Handle rightly reads as a later, fuller fallback). A call on
	// another key takes the Handle to the fallback and starts the probe.
	inPause, gate := make(chan struct{}), make(chan struct{})
	// A check failing while the gate is shut must not leave the probe
	// there: Handle.Close (a cleanup registered before) waits for it.
	var opened sync.Once
	openGate := func() { opened.Do(func() { close(gate) }) }
	t.Cleanup(openGate)
	f.clock.SetOnSleep(func(n int) {
		if n == 1 {
			close(inPause)
			<-gate
		}
	})
	f.store.failing.Store(true)
	if _, err := f.g.AllowN(ctx, "other", lim, 1); err != nil {
		t.Fatal(err)
	}
	select {
	case <-inPause:
	case <-time.After(5 * time.Second):
		t.Fatal("the probe did not pause within 5 s")
	}
	start := f.clock.Now()
	var allowed int
	for range 3 {
		r, err := f.g.AllowN(ctx, "k", lim, 1)
		if err != nil {
			t.Fatal(err)
		}
		if r.Allowed {
			allowed++
		}
	}
	if allowed != 2 {
		t.Errorf("fallback admitted %d of 3 at once, want 2 (half of burst 4)", allowed)
	}
	r, err := f.g.ReserveN(ctx, "k", lim, 1, time.Second)
	if err != nil || !r.OK || r.Delay < 150*time.Millisecond || r.Delay > 200*time.Millisecond {
		t.Fatalf("ReserveN on the fallback: %+v, %v, want a slot in about 200 ms (5/s)", r, err)
	}
	if err := r.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := statusOf(ctx, fb, "k", limiter.Limit{Rate: 5, Period: time.Second, Burst: 2}); st.NextAfter > 200*time.Millisecond || st.Remaining != 0 {
		t.Errorf("the cancel did not reach the fallback: %+v", st)
	}
	if got := f.store.calls.Load(); got != 1 {
		t.Errorf("the store was asked %d times while down (the probe aside), want 1", got)
	}
	f.store.failing.Store(false)
	openGate()
	waitFor(t, func() bool { return !f.g.Degraded() && f.obs.count(limiter.EventPolicySwitch) == 2 })
	// The fallback's two admissions took its tat to 400 ms (2 x 200 ms;
	// the cancelled slot is not charged). The store, whose tolerance is
	// 400 ms with T = 100 ms, is raised there: it refuses until 100 ms
	// after the start, where a fresh store would have admitted 4.
	elapsed := f.clock.Now().Sub(start)
	if elapsed >= 100*time.Millisecond {
		t.Fatalf("the probe took %s of the fake clock: the check below needs less than 100 ms", elapsed)
	}
	want := 100*time.Millisecond - elapsed
	if r, err := f.g.AllowN(ctx, "k", lim, 1); err != nil || r.Allowed || r.RetryAfter < want || r.RetryAfter > want+2*time.Microsecond {
		t.Errorf("after the switch back, %s in: %+v, %v; want refused for %s (the store charged with the fallback's admissions)", elapsed, r, err, want)
	}
	f.clock.Sleep(ctx, want+2*time.Microsecond)
	if r, err := f.g.AllowN(ctx, "k", lim, 1); err != nil || !r.Allowed {
		t.Errorf("after the charge has run out the store admits: %+v, %v", r, err)
	}
	out := f.log.String()
	if !strings.Contains(out, "in-process limiter decides") || !strings.Contains(out, "charged with what the fallback admitted") {
		t.Errorf("both switches are not logged:\n%s", out)
	}
}

// TestNewHandleRejects: a policy out of range, or no store, is an error
// matching ErrInvalidArgument; FailFallback without a Fallback gets the
// Handle's own in-process one.
func TestNewHandleRejects(t *testing.T) {
	m := newFakeStore(nil)
	for _, p := range []limiter.Policy{
		{FallbackShare: 1.5},
		{FallbackShare: -1},
		{OnFailure: 7},
	} {
		if _, err := limiter.NewHandle(m, p); !errors.Is(err, limiter.ErrInvalidArgument) {
			t.Errorf("NewHandle(%+v): %v", p, err)
		}
	}
	if _, err := limiter.NewHandle(nil, limiter.Policy{}); !errors.Is(err, limiter.ErrInvalidArgument) {
		t.Errorf("NewHandle(nil): %v", err)
	}
	if h, err := limiter.NewHandle(m, limiter.Policy{OnFailure: limiter.FailFallback}); err != nil {
		t.Errorf("NewHandle(FailFallback without a Fallback): %v", err)
	} else {
		if h.Policy().Fallback == nil {
			t.Error("FailFallback without a Fallback: no default fallback")
		}
		h.Close()
	}
	for _, s := range []string{"wait", "open", "fallback"} {
		m, err := limiter.ParseFailureMode(s)
		if err != nil || m.String() != s {
			t.Errorf("ParseFailureMode(%q) = %v, %v", s, m, err)
		}
	}
	if _, err := limiter.ParseFailureMode("close"); err == nil || !strings.Contains(err.Error(), "wait, open, fallback") {
		t.Errorf("ParseFailureMode(close): %v", err)
	}
}
