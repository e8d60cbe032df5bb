package limiter_test

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/driver"
)

// manyStore is a fakeStore with the NeedsAllower capability, failing as
// the fakeStore's knobs say, counting the calls that took the fast path.
type manyStore struct {
	*fakeStore
	fast *atomic.Int64
}

var _ driver.NeedsAllower = manyStore{}

func (s manyStore) AllowNeeds(ctx context.Context, needs []driver.Need, a *driver.Answer) error {
	s.fast.Add(1)
	if err := s.down(driver.Allow); err != nil {
		return err
	}
	return s.mem.AllowNeeds(ctx, needs, a)
}

// TestNeedsAllowerFailurePolicy: an Allow of two needs that the core sends
// to a store's AllowNeeds (no observer, no fallback, the store up) is under
// the failure policy like any call: FailWait retries a store error, FailOpen
// admits without the store, and the store decides again once it answers.
func TestNeedsAllowerFailurePolicy(t *testing.T) {
	ctx := context.Background()
	l := limiter.Limit{Rate: 10, Period: time.Second, Burst: 2}
	needs := []limiter.Need{{Key: "a", Limit: l, N: 1}, {Key: "b", Limit: l, N: 1}}
	for _, mode := range []limiter.FailureMode{limiter.FailWait, limiter.FailOpen} {
		t.Run(mode.String(), func(t *testing.T) {
			clock := newFakeTime()
			store := manyStore{newFakeStore(clock.Now), new(atomic.Int64)}
			g, err := limiter.NewHandle(store, limiter.Policy{OnFailure: mode, Now: clock.Now, Sleep: clock.Sleep,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			r, err := g.Allow(ctx, needs...)
			if err != nil || !r.Allowed || len(r.Needs) != 2 || r.Needs[0].Remaining != 1 || r.Needs[1].Remaining != 1 {
				t.Fatalf("Allow with the store up: %+v, %v", r, err)
			}
			if n := store.fast.Load(); n != 1 {
				t.Fatalf("%d calls of AllowNeeds for one Allow with the store up, want 1 (the fast path)", n)
			}
			fails := int64(1)
			if mode == limiter.FailWait {
				fails = 3
			}
			store.failNext.Store(fails)
			before := store.calls.Load()
			r, err = g.Allow(ctx, needs...)
			if err != nil || !r.Allowed || len(r.Needs) != 2 {
				t.Fatalf("Allow while the store fails %d times: %+v, %v; want admitted (%s)", fails, r, err, mode)
			}
			switch mode {
			case limiter.FailWait:
				if n := len(clock.Sleeps()); n < 1 {
					t.Errorf("%d pauses: the store was not retried with backoff", n)
				}
				for _, key := range []string{"a", "b"} {
					if st := status(t, g, key, l); st.Remaining != 0 {
						t.Errorf("the store did not decide the retried Allow on %s: %+v", key, st)
					}
				}
			case limiter.FailOpen:
				if n := store.calls.Load() - before; n != 1 {
					t.Errorf("the store was asked %d times by one Allow while down, want 1", n)
				}
				waitFor(t, func() bool { return !g.Degraded() })
				for _, key := range []string{"a", "b"} {
					if st := status(t, g, key, l); st.Remaining != 1 {
						t.Errorf("FailOpen's admission reached the store on %s: %+v", key, st)
					}
				}
			}
		})
	}
}
