package limiter_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/driver"
)

// oneStore is a fakeStore with the OneAllower capability, failing as the
// fakeStore's knobs say.
type oneStore struct{ *fakeStore }

var _ driver.OneAllower = oneStore{}

func (s oneStore) AllowOne(ctx context.Context, nd driver.Need) (bool, driver.NeedAnswer, int64, error) {
	if err := s.down(driver.Allow); err != nil {
		return false, driver.NeedAnswer{}, 0, err
	}
	return s.mem.AllowOne(ctx, nd)
}

// TestOneAllowerFailurePolicy: an AllowN that the core sends to a store's
// AllowOne (no observer, no fallback, the store up) is under the failure
// policy like any call: FailWait retries a store error, FailOpen admits
// without the store, and the store decides again once it answers.
func TestOneAllowerFailurePolicy(t *testing.T) {
	ctx := context.Background()
	l := limiter.Limit{Rate: 10, Period: time.Second, Burst: 2}
	for _, mode := range []limiter.FailureMode{limiter.FailWait, limiter.FailOpen} {
		t.Run(mode.String(), func(t *testing.T) {
			clock := newFakeTime()
			store := oneStore{newFakeStore(clock.Now)}
			g, err := limiter.NewHandle(store, limiter.Policy{OnFailure: mode, Now: clock.Now, Sleep: clock.Sleep,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			if r, err := g.AllowN(ctx, "k", l, 1); err != nil || !r.Allowed || r.Remaining != 1 {
				t.Fatalf("AllowN with the store up: %+v, %v", r, err)
			}
			fails := int64(1)
			if mode == limiter.FailWait {
				fails = 3
			}
			store.failNext.Store(fails)
			before := store.calls.Load()
			r, err := g.AllowN(ctx, "k", l, 1)
			if err != nil || !r.Allowed {
				t.Fatalf("AllowN while the store fails %d times: %+v, %v; want admitted (%s)", fails, r, err, mode)
			}
			switch mode {
			case limiter.FailWait:
				if n := len(clock.Sleeps()); n < 1 {
					t.Errorf("%d pauses: the store was not retried with backoff", n)
				}
				if st := status(t, g, "k", l); st.Remaining != 0 {
					t.Errorf("the store did not decide the retried AllowN: %+v", st)
				}
			case limiter.FailOpen:
				if n := store.calls.Load() - before; n != 1 {
					t.Errorf("the store was asked %d times by one AllowN while down, want 1", n)
				}
				waitFor(t, func() bool { return !g.Degraded() })
				if st := status(t, g, "k", l); st.Remaining != 1 {
					t.Errorf("FailOpen's admission reached the store: %+v", st)
				}
			}
		})
	}
}
