package redis_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/redistest"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/redis"
)

// coalescing are the ways a Limiter sends its calls in the batch tests:
// one at a time, coalesced (the default: batches when calls overlap), and
// every call through batchScript (linger).
var coalescing = []struct {
	name string
	opts []redis.Option
}{
	{"off", []redis.Option{redis.WithCoalescing(false)}},
	{"on", nil},
	{"linger", []redis.Option{redis.WithLinger(2 * time.Millisecond)}},
}

// TestBatchScriptFlushMidLoad: SCRIPT FLUSH every 5 ms while 16 goroutines
// run every kind of call, coalesced (batches through batchScript) and with
// every call batched: no error reaches any caller, and batchScript was
// sent again with EVAL after NOSCRIPT.
func TestBatchScriptFlushMidLoad(t *testing.T) {
	srv := redistest.Start(t, redistest.Config{})
	for _, mode := range coalescing[1:] {
		t.Run(mode.name, func(t *testing.T) {
			c := client(t, srv.Addr())
			hook := &traffic{}
			c.AddHook(hook)
			l, err := redis.New(c, append([]redis.Option{redis.WithPrefix("flush:" + mode.name + ":")}, mode.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			lim := limiter.Limit{Rate: 1_000_000, Period: time.Second, Burst: 1000}
			bg := context.Background()
			calls := redistest.FlushLoad(ctx, t, []string{srv.Addr()}, 5*time.Millisecond, 16, func(g, i int) error {
				key := fmt.Sprintf("k%d", i%3)
				var err error
				switch kind := g % 5; kind {
				case 0, 1, 2:
					err = redis.SimpleCall(bg, l, kind, key, lim)
				case 3:
					err = l.Hold(bg, "hold", lim, time.Microsecond)
				case 4:
					var r *limiter.Reservation
					if r, err = l.Reserve(bg, time.Second, limiter.Need{Key: "{t}:a", Limit: lim, N: 1}, limiter.Need{Key: "{t}:b", Limit: lim, N: 2}); err == nil {
						err = r.Cancel(bg)
					}
				}
				return err
			})
			st := l.Stats()
			t.Logf("%d calls, %d requests in %d round trips, %d scripts sent again with EVAL", calls, st.Requests, st.RoundTrips, hook.evals.Load())
			if st.RoundTrips >= st.Requests || hook.evals.Load() == 0 {
				t.Fatalf("%d requests in %d round trips, %d EVALs: the flushes did not hit batches", st.Requests, st.RoundTrips, hook.evals.Load())
			}
		})
	}
}

// TestBatchStalledRedis: Redis stalled (CLIENT PAUSE) for longer than the
// Limiter's timeout, 16 callers at once, with coalescing off, on and with
// every call batched. Under a policy that gives up at the first failure,
// every caller gets an error matching ErrUnavailable (not the caller's
// context.DeadlineExceeded), as one at a time, within twice the timeout
// (its batch, and the one in flight before it); a caller whose own
// deadline is shorter than the timeout gets its context's error at that
// deadline; under FailOpen every caller is admitted, each by its own
// policy.
func TestBatchStalledRedis(t *testing.T) {
	srv := redistest.Start(t, redistest.Config{})
	const timeout = 200 * time.Millisecond
	lim := limiter.Limit{Rate: 100, Period: time.Second, Burst: 100}
	pause := func(t *testing.T) {
		t.Helper()
		if _, err := redistest.Do(srv.Addr(), "", "CLIENT", "PAUSE", "1500", "ALL"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = redistest.Do(srv.Addr(), "", "CLIENT", "UNPAUSE") })
	}
	// burst runs call in 16 goroutines at once and returns their errors
	// and how long each took.
	burst := func(call func(ctx context.Context, g int) error, ctxTimeout time.Duration) ([]error, []time.Duration) {
		errs, took := make([]error, 16), make([]time.Duration, 16)
		var wg sync.WaitGroup
		for g := range 16 {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), ctxTimeout)
				defer cancel()
				t0 := time.Now()
				errs[g] = call(ctx, g)
				took[g] = time.Since(t0)
			})
		}
		wg.Wait()
		return errs, took
	}
	// call is one of five calls, by g.
	call := func(l limiter.Limiter) func(ctx context.Context, g int) error {
		return func(ctx context.Context, g int) error {
			key := fmt.Sprintf("k%d", g%4)
			switch g % 5 {
			case 0, 1:
				_, err := l.AllowN(ctx, key, lim, 1)
				return err
			case 2:
				r, err := l.ReserveN(ctx, key, lim, 1, time.Second)
				if err == nil {
					err = r.Cancel(ctx)
				}
				return err
			case 3:
				_, err := l.Status(ctx, key, lim)
				return err
			default:
				_, err := l.Allow(ctx, limiter.Need{Key: "{t}:a", Limit: lim, N: 1}, limiter.Need{Key: "{t}:b", Limit: lim, N: 1})
				return err
			}
		}
	}
	for _, mode := range coalescing {
		t.Run(mode.name, func(t *testing.T) {
			open := func(p limiter.Policy) *redis.Limiter {
				p.Logger = slog.New(slog.DiscardHandler)
				l := open(t, srv.Addr(), append([]redis.Option{redis.WithPrefix("stall:"), redis.WithTimeout(timeout), redis.WithPolicy(p)}, mode.opts...)...)
				t.Cleanup(func() { l.Close() })
				// A call before the stall: connections are open.
				if _, err := l.AllowN(context.Background(), "warm", lim, 1); err != nil {
					t.Fatal(err)
				}
				return l
			}
			give := open(limiter.Policy{UnavailableAfter: -1})
			admit := open(limiter.Policy{OnFailure: limiter.FailOpen})
			short := open(limiter.Policy{})

			pause(t)
			errs, took := burst(call(give), 5*time.Second)
			for g, err := range errs {
				if !errors.Is(err, limiter.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("caller %d: %v, want ErrUnavailable and not DeadlineExceeded", g, err)
				}
				if took[g] > 2*timeout+300*time.Millisecond {
					t.Errorf("caller %d took %s to fail, want within twice the %s timeout", g, took[g], timeout)
				}
			}

			errs, took = burst(func(ctx context.Context, g int) error {
				r, err := admit.AllowN(ctx, fmt.Sprintf("k%d", g%4), lim, 1)
				if err == nil && !r.Allowed {
					err = errors.New("refused under FailOpen")
				}
				return err
			}, 5*time.Second)
			for g, err := range errs {
				if err != nil {
					t.Errorf("FailOpen caller %d: %v, want admitted", g, err)
				}
				if took[g] > 2*timeout+300*time.Millisecond {
					t.Errorf("FailOpen caller %d took %s", g, took[g])
				}
			}

			const own = 80 * time.Millisecond
			errs, took = burst(call(short), own)
			for g, err := range errs {
				if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, limiter.ErrUnavailable) {
					t.Errorf("caller %d with a %s deadline: %v, want its context's DeadlineExceeded", g, own, err)
				}
				if took[g] > own+150*time.Millisecond {
					t.Errorf("caller %d with a %s deadline returned after %s", g, own, took[g])
				}
			}
			if _, err := redistest.Do(srv.Addr(), "", "CLIENT", "UNPAUSE"); err != nil {
				t.Fatal(err)
			}
			// Redis answers again: so does every Limiter.
			for _, l := range []*redis.Limiter{give, admit, short} {
				redistest.WaitFor(t, 5*time.Second, "the store answers again", func() bool {
					_, err := l.Status(context.Background(), "k0", lim)
					return err == nil && !l.Degraded()
				})
			}
		})
	}
}
