package limitertest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
)

// The limits of the composite step tables, per unit of the table's clock
// (T the emission interval, tau = Burst*T).
const (
	r2b3 = iota // 2 per unit, Burst 3: T = 0.5, tau = 1.5
	r1b2        // 1 per unit, Burst 2: T = 1, tau = 2
	r4b2        // 4 per unit, Burst 2: T = 0.25, tau = 0.5
	r1b1        // 1 per unit, Burst 1: T = 1, tau = 1
)

var compLimits = [...]struct{ rate, burst int }{r2b3: {2, 3}, r1b2: {1, 2}, r4b2: {4, 2}, r1b1: {1, 1}}

// compOp is what a step of a composite table does.
type compOp int

const (
	opAllow    compOp = iota // Allow(needs...)
	opReserve                // Reserve(maxWait, needs...)
	opAllowN                 // AllowN of the one need
	opReserveN               // ReserveN of the one need
	opCancel                 // Cancel of the reservation of step row
)

var compOpNames = [...]string{"Allow", "Reserve", "AllowN", "ReserveN", "Cancel"}

// nd is a need of a step: n tokens of the table's key k (an index) under
// compLimits[l].
type nd struct{ k, l, n int }

// left is what a step leaves of one need's key: its Remaining, and its
// ResetAfter in units.
type left struct {
	rem   int
	reset float64
}

// compStep is a row of a composite table. A granted request wants Delay
// wait (Reserve) and RetryAfter 0; a refused one RetryAfter wait and Delay
// 0. The result's Remaining and ResetAfter are those of left[binding];
// Needs holds every left (nil from AllowN and ReserveN).
type compStep struct {
	at      float64 // units from the start
	op      compOp
	needs   []nd
	maxWait float64 // units (Reserve, ReserveN)
	row     int     // the step whose reservation a Cancel gives back
	ok      bool
	binding int
	wait    float64 // units
	left    []left
}

// outcome is a Result or a Reservation, to compare with a step.
type outcome struct {
	ok                  bool
	delay, retry, reset time.Duration
	remaining, binding  int
	needs               []limiter.NeedResult
}

func resultOutcome(r limiter.Result) outcome {
	return outcome{ok: r.Allowed, retry: r.RetryAfter, reset: r.ResetAfter, remaining: r.Remaining, binding: r.Binding, needs: r.Needs}
}

func reservationOutcome(r *limiter.Reservation) outcome {
	return outcome{ok: r.OK, delay: r.Delay, retry: r.RetryAfter, reset: r.ResetAfter, remaining: r.Remaining,
		binding: r.Binding, needs: r.Needs}
}

func (o outcome) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ok=%v binding=%d delay=%s retry=%s remaining=%d reset=%s needs=", o.ok, o.binding, o.delay, o.retry, o.remaining, o.reset)
	if o.needs == nil {
		b.WriteString("nil")
	}
	for i, n := range o.needs {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "{%s %d %s}", n.Key, n.Remaining, n.ResetAfter)
	}
	return b.String()
}

// runComposite plays steps on fresh keys, alternating two handles (so that
// every table also checks that handles share the keys' state).
//
// On a real clock (Harness.Advance nil) the steps of one offset run one
// after another, and later offsets land a little after the offset (see
// clock.to): a table must not ask at a later offset for a Remaining or a
// decision that sits exactly on a boundary of a key written at an offset
// after 0, where the latency of the two calls would decide it. The tables
// below write such keys only at offset 0, or read them at the offset that
// wrote them.
func runComposite(t *testing.T, h Harness, keys int, steps []compStep) {
	ls := []limiter.Limiter{open(t, h), open(t, h)}
	c := newClock(t, h)
	ks := make([]string, keys)
	for i := range ks {
		ks[i] = key(t)
	}
	var lims [len(compLimits)]limiter.Limit
	for i, l := range compLimits {
		lims[i] = limiter.Limit{Rate: l.rate, Period: c.u(1), Burst: l.burst}
	}
	ctx := context.Background()
	rs := make([]*limiter.Reservation, len(steps))
	for i, s := range steps {
		c.to(s.at)
		l := ls[i%2]
		if s.op == opCancel {
			if err := rs[s.row].Cancel(ctx); err != nil {
				t.Fatalf("step %d (at %v): Cancel of step %d: %v", i, s.at, s.row, err)
			}
			continue
		}
		needs := make([]limiter.Need, len(s.needs))
		var desc []string
		for j, n := range s.needs {
			needs[j] = limiter.Need{Key: ks[n.k], Limit: lims[n.l], N: n.n}
			desc = append(desc, fmt.Sprintf("key %d: %d of %s", n.k, n.n, lims[n.l]))
		}
		op := compOpNames[s.op]
		if s.op == opReserve || s.op == opReserveN {
			op += fmt.Sprintf(" within %v", s.maxWait)
		}
		what := fmt.Sprintf("step %d (at %v, %s of {%s})", i, s.at, op, strings.Join(desc, "; "))
		var got outcome
		var err error
		switch s.op {
		case opAllow:
			var r limiter.Result
			r, err = l.Allow(ctx, needs...)
			got = resultOutcome(r)
		case opAllowN:
			var r limiter.Result
			r, err = l.AllowN(ctx, needs[0].Key, needs[0].Limit, needs[0].N)
			got = resultOutcome(r)
		case opReserve, opReserveN:
			var r *limiter.Reservation
			if s.op == opReserve {
				r, err = l.Reserve(ctx, c.u(s.maxWait), needs...)
			} else {
				r, err = l.ReserveN(ctx, needs[0].Key, needs[0].Limit, needs[0].N, c.u(s.maxWait))
			}
			if err == nil {
				got, rs[i] = reservationOutcome(r), r
			}
		}
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		want := s.want(c, ks)
		if !c.same(got, want) {
			late := ""
			if c.real() {
				// A step long after its offset is a machine that
				// stalled the test, not the limiter: say so.
				late = fmt.Sprintf("; the call returned %s after its offset", time.Since(c.start)-c.u(s.at))
			}
			t.Errorf("%s:\n got  %s\n want %s (tolerance %s%s)", what, got, want, c.tol(), late)
		}
	}
}

// want is the outcome the step asks for.
func (s compStep) want(c *clock, ks []string) outcome {
	o := outcome{ok: s.ok, binding: s.binding, remaining: s.left[s.binding].rem, reset: c.u(s.left[s.binding].reset)}
	switch {
	case !s.ok:
		o.retry = c.u(s.wait)
	case s.op == opReserve || s.op == opReserveN:
		o.delay = c.u(s.wait)
	}
	if s.op == opAllow || s.op == opReserve {
		o.needs = make([]limiter.NeedResult, len(s.needs))
		for j, n := range s.needs {
			o.needs[j] = limiter.NeedResult{Key: ks[n.k], Remaining: s.left[j].rem, ResetAfter: c.u(s.left[j].reset)}
		}
	}
	return o
}

// same compares outcomes: integers exactly, durations within the
// tolerance, Needs nil or not as wanted.
func (c *clock) same(got, want outcome) bool {
	if got.ok != want.ok || got.binding != want.binding || got.remaining != want.remaining ||
		!c.near(got.delay, want.delay) || !c.near(got.retry, want.retry) || !c.near(got.reset, want.reset) ||
		(got.needs == nil) != (want.needs == nil) || len(got.needs) != len(want.needs) {
		return false
	}
	for j, w := range want.needs {
		g := got.needs[j]
		if g.Key != w.Key || g.Remaining != w.Remaining || !c.near(g.ResetAfter, w.ResetAfter) {
			return false
		}
	}
	return true
}

// testCompositeBinding: the binding need is the one whose own slot is
// latest (the first on a tie); a refusal takes nothing from any key; a
// reservation charges its other keys from its slot.
func testCompositeBinding(t *testing.T, h Harness) {
	runComposite(t, h, 2, []compStep{
		// Both keys allow now: a tie, the first binds.
		{at: 0, op: opAllow, needs: []nd{{0, r2b3, 1}, {1, r1b2, 2}}, ok: true, binding: 0, left: []left{{2, .5}, {0, 2}}},
		// Key 1's next token comes at 1: the second need binds.
		{at: 0, op: opAllow, needs: []nd{{0, r2b3, 1}, {1, r1b2, 1}}, ok: false, binding: 1, wait: 1, left: []left{{2, .5}, {0, 2}}},
		// The refusal took nothing: key 0 still has 2 tokens, and key 1
		// its next at 1 (not 2).
		{at: 0, op: opAllow, needs: []nd{{0, r2b3, 2}}, ok: true, left: []left{{0, 1.5}}},
		{at: 0, op: opAllow, needs: []nd{{1, r1b2, 1}}, ok: false, wait: 1, left: []left{{0, 2}}},
		{at: 1, op: opAllow, needs: []nd{{1, r1b2, 1}}, ok: true, left: []left{{0, 2}}},
		// Reserved at 2 (key 1 binds): key 0, free at 1, is charged from
		// 2, its tat 2.5 and not 2: one token of key 0's capacity lost.
		{at: 1, op: opReserve, maxWait: 5, needs: []nd{{0, r2b3, 1}, {1, r1b2, 1}}, ok: true, binding: 1, wait: 1, left: []left{{0, 1.5}, {0, 3}}},
		{at: 1, op: opAllow, needs: []nd{{0, r2b3, 1}}, ok: false, wait: .5, left: []left{{0, 1.5}}},
	})
}

// testCompositeThreeNeeds: a request of three needs of three limits, bound
// by each in turn.
func testCompositeThreeNeeds(t *testing.T, h Harness) {
	runComposite(t, h, 3, []compStep{
		{at: 0, op: opAllow, needs: []nd{{0, r2b3, 1}, {1, r1b2, 1}, {2, r4b2, 2}}, ok: true, left: []left{{2, .5}, {1, 1}, {0, .5}}},
		{at: 0, op: opAllow, needs: []nd{{0, r2b3, 1}, {1, r1b2, 1}, {2, r4b2, 1}}, ok: false, binding: 2, wait: .25, left: []left{{2, .5}, {1, 1}, {0, .5}}},
		{at: .25, op: opAllow, needs: []nd{{0, r2b3, 1}, {1, r1b2, 2}, {2, r4b2, 1}}, ok: false, binding: 1, wait: .75, left: []left{{2, .25}, {1, .75}, {1, .25}}},
		// Reserved at 1 (key 1 binds): keys 0 and 2 charged from 1.
		{at: .25, op: opReserve, maxWait: 1, needs: []nd{{0, r2b3, 1}, {1, r1b2, 2}, {2, r4b2, 1}}, ok: true, binding: 1, wait: .75, left: []left{{0, 1.25}, {0, 2.75}, {0, 1}}},
		// Key 2's next slot is at 1 now: beyond a maxWait of 0.5.
		{at: .25, op: opReserve, maxWait: .5, needs: []nd{{2, r4b2, 1}, {0, r2b3, 1}}, ok: false, binding: 0, wait: .75, left: []left{{0, 1}, {0, 1.25}}},
		{at: .25, op: opReserve, maxWait: 5, needs: []nd{{2, r4b2, 1}}, ok: true, wait: .75, left: []left{{0, 1.25}}},
	})
}

// testCompositeBurstNeed: a need of n = Burst beside a smaller one.
func testCompositeBurstNeed(t *testing.T, h Harness) {
	runComposite(t, h, 2, []compStep{
		{at: 0, op: opAllow, needs: []nd{{0, r2b3, 3}, {1, r1b2, 1}}, ok: true, left: []left{{0, 1.5}, {1, 1}}},
		{at: 0, op: opAllow, needs: []nd{{1, r1b2, 1}, {0, r2b3, 3}}, ok: false, binding: 1, wait: 1.5, left: []left{{1, 1}, {0, 1.5}}},
		{at: 1.5, op: opAllow, needs: []nd{{1, r1b2, 1}, {0, r2b3, 3}}, ok: true, left: []left{{1, 1}, {0, 1.5}}},
		{at: 1.5, op: opReserve, maxWait: 10, needs: []nd{{0, r2b3, 3}, {1, r1b2, 2}}, ok: true, wait: 1.5, left: []left{{0, 3}, {0, 3.5}}},
		// Key 1 was charged from 3 (tat 5), not from its own slot 2.5.
		{at: 1.5, op: opReserve, maxWait: 10, needs: []nd{{1, r1b2, 1}}, ok: true, wait: 2.5, left: []left{{0, 4.5}}},
	})
}

// testCompositePartialCancel: a cancel gives back only the keys nothing
// wrote since the reservation.
func testCompositePartialCancel(t *testing.T, h Harness) {
	runComposite(t, h, 3, []compStep{
		{at: 0, op: opAllow, needs: []nd{{0, r1b1, 1}, {1, r1b1, 1}}, ok: true, left: []left{{0, 1}, {0, 1}}},
		// Both keys' slots are at 1: a tie, the first binds.
		{at: 0, op: opReserve, maxWait: 10, needs: []nd{{0, r1b1, 1}, {1, r1b1, 1}}, ok: true, wait: 1, left: []left{{0, 2}, {0, 2}}},
		// Touches key 0 (and key 2, charged from 2).
		{at: 0, op: opReserve, maxWait: 10, needs: []nd{{2, r1b1, 1}, {0, r1b1, 1}}, ok: true, binding: 1, wait: 2, left: []left{{0, 3}, {0, 3}}},
		{at: 0, op: opCancel, row: 1},
		// Key 1 is given back; key 0 is not (that would grant step 2's
		// slot again).
		{at: 0, op: opReserve, maxWait: 10, needs: []nd{{1, r1b1, 1}}, ok: true, wait: 1, left: []left{{0, 2}}},
		{at: 0, op: opReserve, maxWait: 10, needs: []nd{{0, r1b1, 1}}, ok: true, wait: 3, left: []left{{0, 4}}},
		{at: 0, op: opReserve, maxWait: 10, needs: []nd{{2, r1b1, 1}}, ok: true, wait: 3, left: []left{{0, 4}}},
	})
}

// testCompositeCancelsChain: composite reservations over overlapping keys,
// cancelled newest first, give every slot back.
func testCompositeCancelsChain(t *testing.T, h Harness) {
	runComposite(t, h, 3, []compStep{
		{at: 0, op: opAllow, needs: []nd{{0, r1b1, 1}, {1, r1b1, 1}, {2, r1b1, 1}}, ok: true, left: []left{{0, 1}, {0, 1}, {0, 1}}},
		// A refused tie: the first need binds, whichever its key.
		{at: 0, op: opAllow, needs: []nd{{1, r1b1, 1}, {0, r1b1, 1}}, ok: false, wait: 1, left: []left{{0, 1}, {0, 1}}},
		{at: 0, op: opReserve, maxWait: 10, needs: []nd{{0, r1b1, 1}, {1, r1b1, 1}}, ok: true, wait: 1, left: []left{{0, 2}, {0, 2}}},
		{at: 0, op: opReserve, maxWait: 10, needs: []nd{{1, r1b1, 1}, {2, r1b1, 1}}, ok: true, wait: 2, left: []left{{0, 3}, {0, 3}}},
		{at: 0, op: opReserve, maxWait: 10, needs: []nd{{2, r1b1, 1}, {0, r1b1, 1}}, ok: true, wait: 3, left: []left{{0, 4}, {0, 4}}},
		{at: 0, op: opCancel, row: 4},
		{at: 0, op: opCancel, row: 3},
		{at: 0, op: opCancel, row: 2},
		{at: 0, op: opReserve, maxWait: 10, needs: []nd{{2, r1b1, 1}, {1, r1b1, 1}, {0, r1b1, 1}}, ok: true, wait: 1, left: []left{{0, 2}, {0, 2}, {0, 2}}},
	})
}

// testCompositeShorthand: a request of one need through Allow and Reserve
// decides as AllowN and ReserveN do; the shorthands leave Needs nil, the
// others fill it. Every row of the table runs as the shorthand on key 0,
// then as the request of one need on key 1.
func testCompositeShorthand(t *testing.T, h Harness) {
	base := []compStep{
		{at: 0, op: opAllowN, needs: []nd{{0, r2b3, 1}}, ok: true, left: []left{{2, .5}}},
		{at: 0, op: opAllowN, needs: []nd{{0, r2b3, 2}}, ok: true, left: []left{{0, 1.5}}},
		{at: 0, op: opAllowN, needs: []nd{{0, r2b3, 1}}, ok: false, wait: .5, left: []left{{0, 1.5}}},
		{at: 0, op: opReserveN, needs: []nd{{0, r2b3, 1}}, ok: false, wait: .5, left: []left{{0, 1.5}}},
		{at: 0, op: opReserveN, maxWait: 1, needs: []nd{{0, r2b3, 1}}, ok: true, wait: .5, left: []left{{0, 2}}},
		{at: 0, op: opReserveN, maxWait: 3, needs: []nd{{0, r2b3, 3}}, ok: true, wait: 2, left: []left{{0, 3.5}}},
		{at: 0, op: opReserveN, maxWait: 1, needs: []nd{{0, r2b3, 2}}, ok: false, wait: 3, left: []left{{0, 3.5}}},
		{at: 0, op: opCancel, row: 5},
		{at: 0, op: opCancel, row: 4},
		{at: 0, op: opReserveN, maxWait: 1, needs: []nd{{0, r2b3, 1}}, ok: true, wait: .5, left: []left{{0, 2}}},
		{at: 3, op: opAllowN, needs: []nd{{0, r2b3, 3}}, ok: true, left: []left{{0, 1.5}}},
		{at: 3, op: opReserveN, maxWait: 1, needs: []nd{{0, r2b3, 1}}, ok: true, wait: .5, left: []left{{0, 2}}},
	}
	var steps []compStep
	for _, s := range base {
		short, full := s, s
		if s.op == opCancel {
			short.row, full.row = 2*s.row, 2*s.row+1
		} else {
			full.op = map[compOp]compOp{opAllowN: opAllow, opReserveN: opReserve}[s.op]
			full.needs = []nd{{1, s.needs[0].l, s.needs[0].n}}
		}
		steps = append(steps, short, full)
	}
	runComposite(t, h, 2, steps)
}

// testCompositeBadInput: a request with a bad need fails, naming the need,
// through Allow, Reserve and WaitAll, and takes nothing.
func testCompositeBadInput(t *testing.T, h Harness) {
	l := open(t, h)
	ctx := context.Background()
	good := limiter.PerSecond(10)
	k0, k1 := key(t), key(t)
	first := limiter.Need{Key: k0, Limit: good, N: 1}
	cases := []struct {
		name  string
		need1 limiter.Need
		want  error
		names []string // what the message must name
	}{
		{"same key twice", limiter.Need{Key: k0, Limit: good, N: 1}, limiter.ErrInvalidArgument, []string{k0}},
		{"empty key", limiter.Need{Limit: good, N: 1}, limiter.ErrInvalidArgument, []string{"need 1"}},
		{"n=0", limiter.Need{Key: k1, Limit: good, N: 0}, limiter.ErrInvalidArgument, []string{"need 1", k1}},
		{"invalid limit", limiter.Need{Key: k1, Limit: limiter.Limit{Rate: 1, Burst: 1}, N: 1}, limiter.ErrInvalidLimit, []string{"need 1", k1}},
		{"n > Burst", limiter.Need{Key: k1, Limit: good, N: 2}, limiter.ErrExceedsBurst, []string{"need 1", k1}},
	}
	for _, tc := range cases {
		calls := map[string]func() error{
			"Allow": func() error {
				r, err := l.Allow(ctx, first, tc.need1)
				if err != nil && r.RetryAfter != 0 {
					t.Errorf("%s: Allow: a RetryAfter of %s for a request that can never be admitted", tc.name, r.RetryAfter)
				}
				return err
			},
			"Reserve": func() error {
				r, err := l.Reserve(ctx, time.Hour, first, tc.need1)
				if err != nil && r != nil {
					t.Errorf("%s: Reserve: a Reservation %+v beside the error", tc.name, r)
				}
				return err
			},
			"WaitAll": func() error { return limiter.WaitAll(ctx, l, first, tc.need1) },
		}
		for op, call := range calls {
			err := call()
			if !errors.Is(err, tc.want) {
				t.Errorf("%s: %s: err = %v, want %v", tc.name, op, err, tc.want)
				continue
			}
			for _, s := range tc.names {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("%s: %s: the error %q does not name %q", tc.name, op, err, s)
				}
			}
			if tc.want == limiter.ErrExceedsBurst {
				var eb *limiter.ExceedsBurstError
				if !errors.As(err, &eb) || eb.Need != 1 || eb.Of != 2 || eb.Key != k1 || eb.N != 2 {
					t.Errorf("%s: %s: err = %#v, want an *ExceedsBurstError of need 1 of 2 (key %q, N 2)", tc.name, op, err, k1)
				}
			}
		}
	}
	if _, err := l.Allow(ctx); !errors.Is(err, limiter.ErrInvalidArgument) {
		t.Errorf("Allow of no need: err = %v, want ErrInvalidArgument", err)
	}
	if _, err := l.Reserve(ctx, -time.Second, first, limiter.Need{Key: k1, Limit: good, N: 1}); !errors.Is(err, limiter.ErrInvalidArgument) {
		t.Errorf("Reserve of two needs with maxWait < 0: err = %v, want ErrInvalidArgument", err)
	}
	// None of it took a token from either key.
	for _, k := range []string{k0, k1} {
		if st, err := l.Status(ctx, k, good); err != nil || st.Remaining != 1 {
			t.Errorf("bad input changed key %q: %+v, %v", k, st, err)
		}
	}
}
