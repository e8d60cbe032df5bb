package limiter_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
)

// TestCompositeFailOpen: while the store is down, FailOpen admits a
// request of several needs at once (Allow, Reserve, WaitAll), each need
// reporting its Limit's Burst less its N, and the store is not charged
// when it answers again.
func TestCompositeFailOpen(t *testing.T) {
	f := newFixture(t, limiter.Policy{OnFailure: limiter.FailOpen})
	f.store.failing.Store(true)
	ctx := context.Background()
	la, lb := limiter.Limit{Rate: 10, Period: time.Second, Burst: 4}, limiter.Every(time.Second)
	needs := []limiter.Need{need("a", la, 3), need("b", lb, 1)}
	wantNeeds := []limiter.NeedResult{nr("a", 1, 0), nr("b", 0, 0)}
	for i := range 3 {
		r, err := f.g.Allow(ctx, needs...)
		if err != nil || !r.Allowed || !slices.Equal(r.Needs, wantNeeds) {
			t.Fatalf("Allow %d with the store down: %+v, %v; want admitted, needs %+v", i, r, err, wantNeeds)
		}
	}
	res, err := f.g.Reserve(ctx, 0, needs...)
	if err != nil || !res.OK || res.Delay != 0 || !slices.Equal(res.Needs, wantNeeds) {
		t.Fatalf("Reserve with the store down: %+v, %v", res, err)
	}
	if err := limiter.WaitAll(ctx, f.g, needs...); err != nil {
		t.Fatalf("WaitAll with the store down: %v", err)
	}
	f.store.failing.Store(false)
	// The probe logs the switch back just after Degraded turns false.
	waitFor(t, func() bool { return !f.g.Degraded() && strings.Contains(f.log.String(), "limiting resumes") })
	if sa, sb := status(t, f.g, "a", la), status(t, f.g, "b", lb); sa.FullAfter != 0 || sb.FullAfter != 0 {
		t.Errorf("the store was charged with what FailOpen admitted: a %+v, b %+v", sa, sb)
	}
	if out := f.log.String(); !strings.Contains(out, "admitted_without_store=5") {
		t.Errorf("the log does not count the 5 composite admissions:\n%s", out)
	}
	if r, err := f.g.Allow(ctx, needs...); err != nil || !r.Allowed || !slices.Equal(r.Needs, []limiter.NeedResult{nr("a", 1, 300*time.Millisecond), nr("b", 0, time.Second)}) {
		t.Errorf("the store does not decide again: %+v, %v", r, err)
	}
}

// TestCompositeFailFallback: while the store is down the fallback decides
// on every need of a composite at the share of each need's limit (a:
// 10/s burst 4 -> 5/s burst 2; b: 10/s burst 2 -> 5/s burst 1); when the
// store answers again, every key of the composite is charged with what
// the fallback admitted on it, not only the binding one.
func TestCompositeFailFallback(t *testing.T) {
	r := newFlapRig(t, 0.5)
	ctx := context.Background()
	la := limiter.Limit{Rate: 10, Period: time.Second, Burst: 4}
	lb := limiter.Limit{Rate: 10, Period: time.Second, Burst: 2}
	ab := []limiter.Need{need("a", la, 1), need("b", lb, 1)}
	r.step(0, true)
	if res, err := r.g.Allow(ctx, ab...); err != nil || !res.Allowed ||
		!slices.Equal(res.Needs, []limiter.NeedResult{nr("a", 1, 200*time.Millisecond), nr("b", 0, 200*time.Millisecond)}) {
		t.Fatalf("fallback Allow(a, b): %+v, %v; want admitted at the share (T 200 ms, bursts 2 and 1)", res, err)
	}
	r.settle()
	if res, err := r.g.Allow(ctx, ab...); err != nil || res.Allowed || res.Binding != 1 || res.RetryAfter != 200*time.Millisecond {
		t.Fatalf("second fallback Allow(a, b): %+v, %v; want refused on b (burst 1 at the share) for 200ms", res, err)
	}
	r.settle()
	if res, err := r.g.AllowN(ctx, "a", la, 1); err != nil || !res.Allowed || res.Remaining != 0 {
		t.Fatalf("fallback AllowN(a): %+v, %v; want a's second (last) token at the share", res, err)
	}
	r.settle()
	// The fallback's tats: a at 400 ms, b at 200 ms. The store answers
	// again at 1 ms.
	r.step(time.Millisecond, false)
	if r.g.Degraded() {
		t.Fatal("the probe did not switch back")
	}
	res, err := r.g.Allow(ctx, ab...)
	if err != nil || res.Allowed {
		t.Fatalf("store Allow(a, b) 1 ms after the fallback's admissions: %+v, %v; want refused", res, err)
	}
	// Each key raised to the fallback's tat (plus the raise's margin of
	// a microsecond): a fresh store would have admitted on both.
	for _, k := range []struct {
		key   string
		limit limiter.Limit
		full  time.Duration
	}{{"a", la, 399 * time.Millisecond}, {"b", lb, 199 * time.Millisecond}} {
		st := status(t, r.g, k.key, k.limit)
		if st.FullAfter < k.full || st.FullAfter > k.full+2*time.Microsecond {
			t.Errorf("store's %s after the switch back: %+v, want full after %s (charged with the fallback's admissions)", k.key, st, k.full)
		}
	}
	if n := r.store.holds.Load(); n != 2 {
		t.Errorf("%d raises of the store, want 2 (one per key)", n)
	}
}

// TestFallbackCompositeAnswerAcrossSwitch is TestFallbackAnswerAcrossSwitch
// on the second need of a composite: call A, Allow(a, b), is admitted by
// the store and its answer held back; the store goes down and call B,
// AllowN(b), is admitted by the fallback (which had not heard of A's slot
// on b); then A's answer arrives. It must not stand, although nothing was
// admitted on a, its first need: A decides again, on the fallback, and is
// refused on b.
func TestFallbackCompositeAnswerAcrossSwitch(t *testing.T) {
	lim := limiter.Every(time.Second)
	r := newFlapRig(t, 1)
	resA, b := r.acrossSwitch(
		func(ctx context.Context) (limiter.Result, error) {
			return r.g.Allow(ctx, need("a", lim, 1), need("b", lim, 1))
		},
		func(ctx context.Context) (limiter.Result, error) { return r.g.AllowN(ctx, "b", lim, 1) })
	if !b.Allowed || resA.Allowed || resA.Binding != 1 {
		t.Errorf("A (the store's answer in flight across the switch): %+v; B (the fallback's, on b): %+v; want B alone admitted, A refused on b", resA, b)
	}
}
