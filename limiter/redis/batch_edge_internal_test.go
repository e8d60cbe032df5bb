package redis

import (
	"context"
	"testing"

	"github.com/sharedlimit/sharedlimit/limiter/driver"
)

// One batch holding requests on one Redis key under two names ("x" and
// "{x}" with an empty prefix), a Reset then Reserves, a need of n = Burst
// and a maxWait of 2^53 µs: every request is decided on what the earlier
// ones of the batch left, so the bucket admits exactly what one at a time
// would (Burst at once, then one per T), never a token more.
func TestBatchEdgesAdmitNoMore(t *testing.T) {
	m, c, _ := frozenMini(t)
	ctx := context.Background()
	const T, tau = 100_000, 300_000 // Burst 3
	need := func(key string, n int64) []driver.Need { return []driver.Need{{Key: key, T: T, Tau: tau, N: n}} }
	huge := int64(1) << 53
	type step struct {
		r      driver.Request
		ok     bool
		wait   int64 // of a granted Reserve
		reason string
	}
	steps := []step{
		{driver.Request{Op: driver.Allow, Needs: need("x", 3)}, true, 0, "Burst at once"},
		{driver.Request{Op: driver.Allow, Needs: need("{x}", 1)}, false, 0, "the same Redis key under its tag: empty"},
		{driver.Request{Op: driver.Reserve, Needs: need("x", 1), MaxWait: 0}, false, 0, "no wait allowed"},
		{driver.Request{Op: driver.Reserve, Needs: need("{x}", 3), MaxWait: huge}, true, 300_000, "Burst more, a Burst of T later"},
		{driver.Request{Op: driver.Reserve, Needs: need("x", 1), MaxWait: 399_999}, false, 0, "one µs short"},
		{driver.Request{Op: driver.Reserve, Needs: need("x", 1), MaxWait: 400_000}, true, 400_000, "after the 6 before"},
		{driver.Request{Op: driver.Reset, Needs: []driver.Need{{Key: "{x}"}}}, true, 0, "Reset"},
		{driver.Request{Op: driver.Allow, Needs: need("x", 3)}, true, 0, "a Reset bucket: Burst"},
		{driver.Request{Op: driver.Reserve, Needs: need("{x}", 1), MaxWait: huge}, true, 100_000, "then one T later"},
		{driver.Request{Op: driver.Allow, Needs: need("x", 1)}, false, 0, "empty again"},
	}
	for _, batched := range []bool{true, false} {
		m.FlushAll()
		s := newStore(c, "")
		reqs := make([]driver.Request, len(steps))
		for i, st := range steps {
			reqs[i] = st.r
		}
		answers := make([]driver.Answer, len(reqs))
		if batched {
			if err := s.DoBatch(ctx, reqs, answers); err != nil {
				t.Fatal(err)
			}
		} else {
			for i := range reqs {
				if err := s.Do(ctx, reqs[i:i+1], answers[i:i+1]); err != nil {
					t.Fatal(err)
				}
			}
		}
		for i, st := range steps {
			a := answers[i]
			if a.Err != nil {
				t.Fatalf("batched %v, request %d (%s): %v", batched, i, st.reason, a.Err)
			}
			if st.r.Op == driver.Reset {
				continue
			}
			if a.OK != st.ok || (st.ok && st.r.Op == driver.Reserve && a.Wait != st.wait) {
				t.Errorf("batched %v, request %d (%s): OK %v wait %d, want OK %v wait %d",
					batched, i, st.reason, a.OK, a.Wait, st.ok, st.wait)
			}
		}
	}
}
