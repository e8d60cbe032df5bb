package limiter_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/memstore"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/driver"
)

// batchOnly hides a store's optional capabilities: the core decides every
// request through Do.
type batchOnly struct{ driver.Store }

// countObserver counts events.
type countObserver struct{ n atomic.Int64 }

func (o *countObserver) Observe(context.Context, limiter.Event) { o.n.Add(1) }

// TestFastPathsDecideAsBatch: on the in-process store, AllowN (through
// driver.OneAllower) and Allow (through driver.NeedsAllower) answer exactly
// as the batch path answers the same calls on the same state, errors
// included (bad n, a duplicate key, more needs than the fast path takes),
// with Reserves in between; with an Observer the batch path decides and
// reports every call.
func TestFastPathsDecideAsBatch(t *testing.T) {
	ctx := context.Background()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	keys := []string{"a", "b", "c", "d", "e", "f"}
	limits := []limiter.Limit{
		{Rate: 10, Period: time.Second, Burst: 3},
		{Rate: 1, Period: time.Second, Burst: 1},
		{Rate: 7, Period: 3 * time.Second, Burst: 5},
	}
	for seed := range uint64(20) {
		now := base
		clock := func() time.Time { return now }
		fast, err := limiter.NewHandle(memstore.New(memstore.NewState(clock)), limiter.Policy{Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		batch, err := limiter.NewHandle(batchOnly{memstore.New(memstore.NewState(clock))}, limiter.Policy{Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		obs := &countObserver{}
		observed, err := limiter.NewHandle(memstore.New(memstore.NewState(clock)), limiter.Policy{Now: clock, Observer: obs})
		if err != nil {
			t.Fatal(err)
		}
		hs := []*limiter.Handle{fast, batch, observed}
		rng := rand.New(rand.NewPCG(seed, 7))
		calls := 0
		for step := range 400 {
			now = now.Add(time.Duration(rng.IntN(300_000)) * time.Microsecond)
			var needs []limiter.Need
			for range 1 + rng.IntN(5) {
				lim := limits[rng.IntN(len(limits))]
				needs = append(needs, limiter.Need{Key: keys[rng.IntN(len(keys))], Limit: lim, N: 1 + rng.IntN(lim.Burst+1)})
			}
			op := rng.IntN(4)
			var got [3]string
			for i, h := range hs {
				switch op {
				case 0:
					r, err := h.AllowN(ctx, needs[0].Key, needs[0].Limit, needs[0].N)
					got[i] = fmt.Sprintf("%+v %v", r, err)
				case 1, 2:
					r, err := h.Allow(ctx, needs...)
					got[i] = fmt.Sprintf("%+v %v", r, err)
				case 3:
					r, err := h.Reserve(ctx, time.Second, needs...)
					if r != nil {
						got[i] = fmt.Sprintf("%v %v %v %v %+v %v", r.OK, r.Delay, r.RetryAfter, r.Binding, r.Needs, err)
					} else {
						got[i] = fmt.Sprint(err)
					}
				}
			}
			calls++
			if got[0] != got[1] || got[1] != got[2] {
				t.Fatalf("seed %d step %d: op %d on %+v:\nfast path: %s\nbatch:     %s\nobserved:  %s", seed, step, op, needs, got[0], got[1], got[2])
			}
		}
		if obs.n.Load() == 0 {
			t.Fatalf("seed %d: the observed handle reported nothing over %d calls", seed, calls)
		}
		for _, h := range hs {
			if err := h.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := h.AllowN(ctx, "a", limits[0], 1); err == nil {
				t.Fatal("AllowN after Close: no error")
			}
			if _, err := h.Allow(ctx, limiter.Need{Key: "a", Limit: limits[0], N: 1}, limiter.Need{Key: "b", Limit: limits[0], N: 1}); err == nil {
				t.Fatal("Allow after Close: no error")
			}
		}
	}
}
