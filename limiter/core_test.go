package limiter_test

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
)

// need is n tokens of key under limit.
func need(key string, limit limiter.Limit, n int) limiter.Need {
	return limiter.Need{Key: key, Limit: limit, N: n}
}

// status is key's Status under limit, failing t on an error.
func status(t *testing.T, l limiter.Limiter, key string, limit limiter.Limit) limiter.Status {
	t.Helper()
	st, err := l.Status(context.Background(), key, limit)
	if err != nil {
		t.Fatalf("Status(%q): %v", key, err)
	}
	return st
}

// nr is a NeedResult.
func nr(key string, remaining int, resetAfter time.Duration) limiter.NeedResult {
	return limiter.NeedResult{Key: key, Remaining: remaining, ResetAfter: resetAfter}
}

// TestCompositeBindingAndRetryAfter: a request of several needs is
// decided at the latest of its needs' own earliest slots; a refusal's
// RetryAfter is the binding need's wait, Binding its index (the first on a
// tie), Remaining and ResetAfter the binding need's; every need reports
// its key's Remaining and ResetAfter; a refused request changes no key;
// a granted one charges every key from the request's slot.
func TestCompositeBindingAndRetryAfter(t *testing.T) {
	f := newFixture(t, limiter.Policy{})
	ctx := context.Background()
	la := limiter.Limit{Rate: 10, Period: 10 * time.Second, Burst: 2} // T 1 s, tau 2 s
	lb := limiter.Every(10 * time.Second)
	a, b, c := need("a", la, 1), need("b", lb, 1), need("c", lb, 1)

	r, err := f.g.Allow(ctx, a, b)
	if err != nil {
		t.Fatal(err)
	}
	want := limiter.Result{Allowed: true, Remaining: 1, ResetAfter: time.Second, Binding: 0,
		Needs: []limiter.NeedResult{nr("a", 1, time.Second), nr("b", 0, 10*time.Second)}}
	if !equalResult(r, want) {
		t.Errorf("first Allow(a, b): %+v, want %+v (both free: a tie, the first binds)", r, want)
	}
	r, err = f.g.Allow(ctx, a, b)
	if err != nil {
		t.Fatal(err)
	}
	want = limiter.Result{Allowed: false, Remaining: 0, RetryAfter: 10 * time.Second, ResetAfter: 10 * time.Second, Binding: 1,
		Needs: []limiter.NeedResult{nr("a", 1, time.Second), nr("b", 0, 10*time.Second)}}
	if !equalResult(r, want) {
		t.Errorf("second Allow(a, b): %+v, want %+v (b binds)", r, want)
	}
	if r, _ := f.g.Allow(ctx, b, a); r.Allowed || r.Binding != 0 || r.RetryAfter != 10*time.Second {
		t.Errorf("Allow(b, a): %+v, want refused, binding 0 (b), RetryAfter 10s", r)
	}
	// A tie of waits: the first of them binds.
	if _, err := f.g.AllowN(ctx, "c", lb, 1); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		needs   []limiter.Need
		binding int
	}{{[]limiter.Need{b, c}, 0}, {[]limiter.Need{c, b}, 0}, {[]limiter.Need{a, c, b}, 1}, {[]limiter.Need{a, b, c}, 1}} {
		r, err := f.g.Allow(ctx, tc.needs...)
		if err != nil || r.Allowed || r.Binding != tc.binding || r.RetryAfter != 10*time.Second {
			t.Errorf("Allow(%s): %+v, %v; want refused, binding %d, RetryAfter 10s", keysOf(tc.needs), r, err, tc.binding)
		}
	}
	// Nothing refused changed a key.
	for _, k := range []struct {
		key   string
		limit limiter.Limit
		want  limiter.Status
	}{
		{"a", la, limiter.Status{Remaining: 1, FullAfter: time.Second}},
		{"b", lb, limiter.Status{Remaining: 0, NextAfter: 10 * time.Second, FullAfter: 10 * time.Second}},
		{"c", lb, limiter.Status{Remaining: 0, NextAfter: 10 * time.Second, FullAfter: 10 * time.Second}},
	} {
		if st := status(t, f.g, k.key, k.limit); st != k.want {
			t.Errorf("Status(%s) after the refusals: %+v, want %+v", k.key, st, k.want)
		}
	}

	// 4 s on, a is full and b 6 s away.
	f.clock.Advance(4 * time.Second)
	a2 := need("a", la, 2)
	res, err := f.g.Reserve(ctx, 5990*time.Millisecond, a2, b)
	if err != nil || res.OK || res.RetryAfter != 6*time.Second || res.Binding != 1 ||
		!slices.Equal(res.Needs, []limiter.NeedResult{nr("a", 2, 0), nr("b", 0, 6*time.Second)}) {
		t.Errorf("Reserve(5.99s, a×2, b): %+v, %v; want refused, RetryAfter 6s, binding 1, a full", res, err)
	}
	res, err = f.g.Reserve(ctx, 6*time.Second, a2, b)
	if err != nil || !res.OK || res.Delay != 6*time.Second || res.Binding != 1 {
		t.Fatalf("Reserve(6s, a×2, b): %+v, %v; want a slot in 6s, binding 1", res, err)
	}
	// a is charged from the request's slot (10 s), not from now: its tat
	// is 10 s + 2 x 1 s, 8 s ahead, where it alone would have been 2 s
	// ahead. (Long slots: the cancel below must come before the slot in
	// real time.)
	if want := []limiter.NeedResult{nr("a", 0, 8*time.Second), nr("b", 0, 16*time.Second)}; !slices.Equal(res.Needs, want) ||
		res.Remaining != 0 || res.ResetAfter != 16*time.Second {
		t.Errorf("the reservation's needs: %+v (Remaining %d, ResetAfter %s), want %+v", res.Needs, res.Remaining, res.ResetAfter, want)
	}
	if st := status(t, f.g, "a", la); st.FullAfter != 8*time.Second {
		t.Errorf("a after the reservation: %+v, want full after 8s", st)
	}
	if err := res.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	if sa, sb := status(t, f.g, "a", la), status(t, f.g, "b", lb); sa.FullAfter != 0 || sa.Remaining != 2 || sb.FullAfter != 6*time.Second {
		t.Errorf("after the cancel: a %+v, b %+v; want a full, b as before (6s)", sa, sb)
	}
}

// equalResult compares Results, Needs included.
func equalResult(a, b limiter.Result) bool { return reflect.DeepEqual(a, b) }

func keysOf(needs []limiter.Need) []string {
	var ks []string
	for _, nd := range needs {
		ks = append(ks, nd.Key)
	}
	return ks
}

// TestOneNeedResultsLeaveNeedsNil: AllowN and ReserveN are the requests
// of one need: their results are those of Allow and Reserve of that need,
// but for Needs, which they leave nil.
func TestOneNeedResultsLeaveNeedsNil(t *testing.T) {
	f := newFixture(t, limiter.Policy{})
	ctx := context.Background()
	l := limiter.Limit{Rate: 10, Period: time.Second, Burst: 3}
	r1, err := f.g.AllowN(ctx, "x", l, 2)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := f.g.Allow(ctx, need("y", l, 2))
	if err != nil {
		t.Fatal(err)
	}
	if r1.Needs != nil || !slices.Equal(r2.Needs, []limiter.NeedResult{nr("y", 1, 200*time.Millisecond)}) {
		t.Errorf("Needs of AllowN %v, of Allow %v", r1.Needs, r2.Needs)
	}
	r2.Needs = nil
	if !equalResult(r1, r2) {
		t.Errorf("AllowN %+v, Allow of one need %+v", r1, r2)
	}
	s1, err := f.g.ReserveN(ctx, "x", l, 2, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := f.g.Reserve(ctx, time.Second, need("y", l, 2))
	if err != nil {
		t.Fatal(err)
	}
	if s1.Needs != nil || len(s2.Needs) != 1 || !s1.OK || s1.Delay != s2.Delay || s1.Remaining != s2.Remaining || s1.ResetAfter != s2.ResetAfter {
		t.Errorf("ReserveN %+v, Reserve of one need %+v", s1, s2)
	}
}

// TestCompositeCancelIsPartial: a composite cancel gives back, on each
// key, only where nothing touched the key since (a Hold, another
// reservation, a Reset): the exact value before the reservation comes
// back on the untouched keys, the touched ones are left alone.
func TestCompositeCancelIsPartial(t *testing.T) {
	f := newFixture(t, limiter.Policy{})
	ctx := context.Background()
	l := limiter.Every(10 * time.Second)
	p, q := need("p", l, 1), need("q", l, 1)
	for _, k := range []string{"p", "q"} {
		if _, err := f.g.AllowN(ctx, k, l, 1); err != nil {
			t.Fatal(err)
		}
	}
	reserve := func() *limiter.Reservation {
		t.Helper()
		r, err := f.g.Reserve(ctx, time.Hour, p, q)
		if err != nil || !r.OK {
			t.Fatalf("Reserve(p, q): %+v, %v", r, err)
		}
		return r
	}
	full := func(key string) time.Duration { return status(t, f.g, key, l).FullAfter }

	// Nothing touched: both keys back.
	r := reserve()
	if full("p") != 20*time.Second || full("q") != 20*time.Second {
		t.Fatalf("after Reserve(p, q): p %s, q %s, want 20s", full("p"), full("q"))
	}
	if err := r.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	if full("p") != 10*time.Second || full("q") != 10*time.Second {
		t.Errorf("cancel of an untouched reservation: p %s, q %s, want both back at 10s", full("p"), full("q"))
	}

	// A Hold on q since: q is left alone, p comes back.
	r = reserve()
	if err := f.g.Hold(ctx, "q", l, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := r.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	if full("p") != 10*time.Second || full("q") != 30*time.Second {
		t.Errorf("cancel after a Hold on q: p %s, q %s; want p back at 10s, q held at 30s", full("p"), full("q"))
	}

	// Another reservation on p since: p keeps both slots, q comes back.
	r = reserve() // p 20s, q 40s
	other, err := f.g.ReserveN(ctx, "p", l, 1, time.Hour)
	if err != nil || !other.OK {
		t.Fatalf("ReserveN(p): %+v, %v", other, err)
	}
	pBefore := full("p")
	if err := r.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	if full("p") != pBefore || full("q") != 30*time.Second {
		t.Errorf("cancel after another reservation on p: p %s, q %s; want p untouched (%s), q back at 30s", full("p"), full("q"), pBefore)
	}
	if err := other.Cancel(ctx); err != nil {
		t.Fatal(err)
	}

	// A Reset of q since: q stays forgotten, p comes back.
	pBefore = full("p")
	r = reserve()
	if err := f.g.Reset(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	if err := r.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	if full("p") != pBefore || full("q") != 0 {
		t.Errorf("cancel after a Reset of q: p %s, q %s; want p back at %s, q empty", full("p"), full("q"), pBefore)
	}
}
