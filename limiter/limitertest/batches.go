package limitertest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
)

// testBatchesForm, for a Batched harness: 32 goroutines of AllowN and
// ReserveN (no wait) on one handle and one key share round trips, as the
// handle's Stats report, and batches admit exactly what calls one at a
// time would: the burst of a limit that refills once an hour, no more
// (over-admission) and no less (a request lost in a batch).
func testBatchesForm(t *testing.T, h Harness) {
	if !h.Batched {
		t.Skip("the harness does not force batches (Harness.Batched)")
	}
	l := open(t, h)
	st, ok := l.(interface{ Stats() limiter.Stats })
	if !ok {
		t.Fatalf("a Batched harness's Limiter (%T) has no Stats method", l)
	}
	const goroutines, calls = 32, 8
	lim := limiter.Limit{Rate: 1, Period: time.Hour, Burst: 100}
	k := key(t)
	before := st.Stats()
	var admitted atomic.Int64
	var wg sync.WaitGroup
	begin := make(chan struct{})
	for g := range goroutines {
		wg.Go(func() {
			<-begin
			for i := range calls {
				ok := false
				if (g+i)%2 == 0 {
					r, err := l.AllowN(context.Background(), k, lim, 1)
					if err != nil {
						t.Errorf("goroutine %d: AllowN: %v", g, err)
						return
					}
					ok = r.Allowed
				} else {
					r, err := l.ReserveN(context.Background(), k, lim, 1, 0)
					if err != nil {
						t.Errorf("goroutine %d: ReserveN: %v", g, err)
						return
					}
					ok = r.OK
				}
				if ok {
					admitted.Add(1)
				}
			}
		})
	}
	close(begin)
	wg.Wait()
	after := st.Stats()
	requests, trips := after.Requests-before.Requests, after.RoundTrips-before.RoundTrips
	if requests != goroutines*calls {
		t.Errorf("Stats counted %d requests for %d calls", requests, goroutines*calls)
	}
	if trips <= 0 || trips >= requests {
		t.Errorf("%d requests took %d round trips: no batch formed", requests, trips)
	}
	if n := admitted.Load(); n != int64(lim.Burst) {
		t.Errorf("%d admissions of %d calls under a burst of %d refilled once an hour, want exactly %d", n, goroutines*calls, lim.Burst, lim.Burst)
	}
	t.Logf("%d requests in %d round trips", requests, trips)
}
