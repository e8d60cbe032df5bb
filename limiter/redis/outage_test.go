package redis_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/sharedlimit/sharedlimit/internal/redistest"
	"github.com/sharedlimit/sharedlimit/internal/tcpproxy"
	"github.com/sharedlimit/sharedlimit/internal/testutil"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/limitertest"
	"github.com/sharedlimit/sharedlimit/limiter/redis"
)

// faultLimit has a tolerance (Burst x T = 2 s) as long as the outages, so
// that the stored tat is still ahead when Redis comes back: a Redis that
// lost it then gives a whole fresh Burst, one that kept it does not.
var faultLimit = limiter.Limit{Rate: 10, Period: time.Second, Burst: 20}

const outage = 2 * time.Second

// faultRun is what a load through an outage did.
type faultRun struct {
	times   []time.Duration // admissions, from the start: when each Wait had its answer (Span.Hi)
	spans   []limitertest.Span
	up, end time.Duration // when the store came back, and when the load stopped
	errs    []error       // errors of the waiting callers
	unavail error         // the error of a caller whose bound is shorter than the outage
	took    time.Duration // how long that caller took to get it
}

// runThroughOutage runs 8 goroutines of limiter.Wait (10 s deadline each,
// the default wait policy) on one key through l for 800 ms, calls down,
// sleeps the outage, calls up, and goes on for 1.2 s. During the outage a
// Limiter opened from shortURL (unavailable_after shorter than the outage)
// calls AllowN once.
func runThroughOutage(t *testing.T, l limiter.Limiter, shortURL string, down, up func()) faultRun {
	t.Helper()
	ctx := context.Background()
	var run faultRun
	var mu sync.Mutex
	start := time.Now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	loopUntil(&wg, 8, done, func() bool {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		sp, err := limitertest.WaitSpan(wctx, l, "k", faultLimit, 1, start)
		cancel()
		mu.Lock()
		if err != nil {
			run.errs = append(run.errs, err)
		} else {
			run.times = append(run.times, sp.Hi)
			run.spans = append(run.spans, sp)
		}
		mu.Unlock()
		return err == nil
	})
	time.Sleep(800 * time.Millisecond)
	down()
	short, err := limiter.Open(ctx, shortURL)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	_, run.unavail = short.AllowN(ctx, "k", faultLimit, 1)
	run.took = time.Since(t0)
	short.Close()
	time.Sleep(outage - time.Since(t0))
	up()
	run.up = time.Since(start)
	time.Sleep(1200 * time.Millisecond)
	run.end = time.Since(start)
	close(done)
	wg.Wait()
	return run
}

// check asserts the documented outcome of an outage shorter than the
// callers' deadlines under the wait policy: no waiting caller gets an
// error; admissions go on after it, at least the steady rate's share of
// the 1.2 s after it (12: the bucket may hold more, and waiters come back
// within their backoff of at most 1 s, the tokens saved meanwhile); the
// fullest 4.5 s window uses at least 99 % of its bound (the load
// saturates the limit, and the burst saved during the outage is used
// after it); windows hold Bound + extra; and a caller whose bound is
// shorter gets ErrUnavailable within its bound. Windows are checked on the
// slots the Waits took (limitertest.WaitSpan), without tolerance.
func (run faultRun) check(t *testing.T, extra int, bound time.Duration) {
	t.Helper()
	for _, err := range run.errs {
		t.Errorf("a waiting caller got an error through a %s outage: %v", outage, err)
	}
	if !errors.Is(run.unavail, limiter.ErrUnavailable) {
		t.Errorf("a caller with unavailable_after=%s during the outage: %v, want ErrUnavailable", bound, run.unavail)
	}
	if run.took < bound || run.took > bound+time.Second {
		t.Errorf("that caller gave up after %s, want about %s", run.took, bound)
	}
	var afterUp int
	for _, at := range run.times {
		if at >= run.up && at < run.end {
			afterUp++
		}
	}
	const long = 4500 * time.Millisecond
	busiest := maxIn(run.times, long)
	t.Logf("%d admissions, %d in the %s after the outage; certainly in one window of 1 s: %d, of %s: %d (bounds %d, %d; limit %s); answers in the busiest %s: %d",
		len(run.times), afterUp, (run.end - run.up).Round(time.Millisecond),
		limitertest.MaxCertainInWindow(run.spans, time.Second), long, limitertest.MaxCertainInWindow(run.spans, long),
		limitertest.Bound(faultLimit, time.Second), limitertest.Bound(faultLimit, long), faultLimit, long, busiest)
	if due := limitertest.Bound(faultLimit, run.end-run.up) - (faultLimit.Burst - 1); afterUp < due {
		t.Errorf("only %d admissions in the %s after the outage: at the steady rate %d are due", afterUp, run.end-run.up, due)
	}
	if most := limitertest.Bound(faultLimit, long); float64(busiest) < 0.99*float64(most) {
		t.Errorf("the busiest %s held %d admissions: under 99 %% of the %d the limit allows", long, busiest, most)
	}
	// The slots themselves, not when the Waits returned: no tolerance.
	T := faultLimit.Interval()
	for _, w := range []time.Duration{T, 10 * T, faultLimit.Period, long} {
		if got, most := limitertest.MaxCertainInWindow(run.spans, w), limitertest.Bound(faultLimit, w)+extra; got > most {
			t.Errorf("%d admissions certainly in a window of %s: want at most %d (the limit %s plus %d)", got, w, most, faultLimit, extra)
		}
	}
}

// TestRestartWithAOF: Redis with appendonly yes and appendfsync always is
// killed (SIGKILL, as a crash) 800 ms into a load and started again 2 s
// later. The tat survives: no window ever holds more than the limit
// allows, and no waiting caller sees an error.
func TestRestartWithAOF(t *testing.T) {
	srv := redistest.Start(t, redistest.Config{Conf: []string{"appendonly yes", "appendfsync always"}})
	l := openURL(t, srv.URL()+"?prefix=aof:&timeout=500ms")
	defer l.Close()
	run := runThroughOutage(t, l, srv.URL()+"?prefix=aof:&timeout=200ms&unavailable_after=300ms",
		func() { must(t, srv.Kill()) }, func() { must(t, srv.Start()) })
	run.check(t, 0, 300*time.Millisecond)
}

// TestRestartWithoutPersistence: the same with a Redis that keeps nothing
// (stopped, started empty): the key's tat is lost, so at most one extra
// Burst is admitted; never more.
func TestRestartWithoutPersistence(t *testing.T) {
	srv := redistest.Start(t, redistest.Config{})
	l := openURL(t, srv.URL()+"?prefix=mem:&timeout=500ms")
	defer l.Close()
	run := runThroughOutage(t, l, srv.URL()+"?prefix=mem:&timeout=200ms&unavailable_after=300ms",
		func() { must(t, srv.Stop()) }, func() { must(t, srv.Start()) })
	run.check(t, faultLimit.Burst, 300*time.Millisecond)
}

// TestConnectionCut: a TCP proxy between the Limiter and Redis cuts every
// connection and refuses new ones for 2 s. Redis keeps its data: no window
// holds more than the limit (a slot granted whose answer was cut is lost
// to the caller, who takes another: capacity is wasted, never exceeded),
// and no waiting caller sees an error.
func TestConnectionCut(t *testing.T) {
	srv := redistest.Start(t, redistest.Config{})
	p := tcpproxy.Start(t, srv.Addr())
	l := openURL(t, "redis://"+p.Addr()+"?prefix=cut:&timeout=500ms")
	defer l.Close()
	run := runThroughOutage(t, l, "redis://"+p.Addr()+"?prefix=cut:&timeout=200ms&unavailable_after=300ms", p.Cut, p.Restore)
	run.check(t, 0, 300*time.Millisecond)
}

// TestPolicyThroughCut: the open and fallback policies on a real Redis
// behind a proxy cut for 1 s. AllowN keeps answering at once during the
// cut (open: everything admitted; fallback: at most the share of the
// limit), both switches are logged, and after the cut the store decides
// again.
func TestPolicyThroughCut(t *testing.T) {
	srv := redistest.Start(t, redistest.Config{})
	lim := limiter.Limit{Rate: 20, Period: time.Second, Burst: 10}
	for _, mode := range []limiter.FailureMode{limiter.FailOpen, limiter.FailFallback} {
		t.Run(mode.String(), func(t *testing.T) {
			p := tcpproxy.Start(t, srv.Addr())
			var logs testutil.LogBuffer
			var switches atomic.Int64
			l := open(t, p.Addr(), redis.WithPrefix("pol:"+mode.String()+":"), redis.WithTimeout(300*time.Millisecond),
				redis.WithPolicy(limiter.Policy{OnFailure: mode, FallbackShare: 0.5, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
					MaxBackoff: 100 * time.Millisecond}),
				redis.WithObserver(limiter.ObserverFunc(func(_ context.Context, e limiter.Event) {
					if e.Kind == limiter.EventPolicySwitch {
						switches.Add(1)
					}
				})))
			defer l.Close()
			ctx := context.Background()
			if _, err := l.AllowN(ctx, "k", lim, 1); err != nil {
				t.Fatal(err)
			}
			p.Cut()
			cutAt := time.Now()
			var admittedAt []limitertest.Span
			calls := 0
			end := time.Now().Add(time.Second)
			for time.Now().Before(end) {
				t0 := time.Now()
				r, err := l.AllowN(ctx, "k", lim, 1)
				if err != nil {
					t.Fatalf("AllowN during the cut: %v", err)
				}
				if d := time.Since(t0); d > 400*time.Millisecond {
					t.Errorf("AllowN during the cut took %s", d)
				}
				calls++
				if r.Allowed {
					admittedAt = append(admittedAt, limitertest.Span{Lo: t0.Sub(cutAt), Hi: time.Since(cutAt)})
				}
				time.Sleep(5 * time.Millisecond)
			}
			admitted := len(admittedAt)
			if !l.Degraded() {
				t.Errorf("not degraded during the cut")
			}
			p.Restore()
			redistest.WaitFor(t, 3*time.Second, "the store decides again", func() bool { return !l.Degraded() && switches.Load() == 2 })
			if r, err := l.AllowN(ctx, "k", lim, 1); err != nil {
				t.Fatalf("AllowN after the cut: %v (%+v)", err, r)
			}
			t.Logf("%s: %d admitted during a 1 s cut (limit %s)\n%s", mode, admitted, lim, logs.String())
			switch mode {
			case limiter.FailOpen:
				// Every call was admitted, whatever the limit: one of
				// them may have been refused by the store before the cut
				// took effect.
				if admitted < calls-1 {
					t.Errorf("open: %d of %d calls admitted during the cut, want all", admitted, calls)
				}
			case limiter.FailFallback:
				// Share 0.5: the fallback decides with 10/s and burst 5:
				// no window above its bound, and, from the first call
				// it answered (after the store's timeout) to the last,
				// at least 99 % of it used (the caller asks every 5 ms,
				// more often than its interval of 100 ms).
				share := limiter.Limit{Rate: 10, Period: time.Second, Burst: 5}
				limitertest.CheckSpans(t, admittedAt, share, time.Second)
				var answered []time.Duration
				for _, sp := range admittedAt {
					answered = append(answered, sp.Hi)
				}
				limitertest.CheckUsage(t, answered, share, 0)
			}
			out := logs.String()
			if !strings.Contains(out, "store unavailable") || !strings.Contains(out, "store answers again") {
				t.Errorf("the two switches are not both logged:\n%s", out)
			}
			if n := strings.Count(out, "level=WARN"); n > 4 {
				t.Errorf("%d Warn lines for one outage: the log should be per switch, not per request", n)
			}
			if switches.Load() != 2 {
				t.Errorf("%d policy-switch events, want 2", switches.Load())
			}
		})
	}
}

// TestNoGoroutineLeft: after Close, no goroutine of the Limiter, its
// client (when it owns it) or its policy's probe is left: for a Limiter
// opened from a URL, and for one given a client (closed by the test). The
// probe is started by a fallback Limiter on a port where nothing listens.
// Goroutines that existed before (the test servers' process waiters, the
// testing package's) are ignored with IgnoreCurrent.
func TestNoGoroutineLeft(t *testing.T) {
	srv := redistest.Start(t, redistest.Config{})
	dead := redistest.Start(t, redistest.Config{})
	deadAddr := dead.Addr()
	must(t, dead.Stop())
	ignore := goleak.IgnoreCurrent()
	ctx := context.Background()
	for _, u := range []string{
		srv.URL() + "?prefix=leak:",
		srv.URL() + "?prefix=leak:&on_failure=fallback",
		"redis://" + deadAddr + "?on_failure=fallback&timeout=100ms",
		"redis://" + deadAddr + "?on_failure=open&timeout=100ms",
	} {
		l, err := limiter.Open(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		_ = everyCall(l)
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		_ = limiter.Wait(wctx, l, "w", limiter.PerSecond(100), 1)
		cancel()
		if err := l.Close(); err != nil {
			t.Errorf("Close of %s: %v", u, err)
		}
	}
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
	l, err := redis.New(c, redis.WithPolicy(limiter.Policy{OnFailure: limiter.FailFallback}))
	if err != nil {
		t.Fatal(err)
	}
	for i, err := range everyCall(l) {
		if err != nil {
			t.Errorf("call %d: %v", i, err)
		}
	}
	must(t, l.Close())
	must(t, c.Close())
	goleak.VerifyNone(t, ignore)
}
