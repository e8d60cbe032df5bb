package redis_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	"github.com/sharedlimit/sharedlimit/internal/redistest"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/limitertest"
	"github.com/sharedlimit/sharedlimit/limiter/redis"
)

// miniStart is where miniredis's clock starts: whole seconds, so that the
// suite's half-second intervals are exact in redis_rate's float seconds.
var miniStart = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// fakeRedis is a miniredis whose clock (TIME and expiry) the test moves.
type fakeRedis struct {
	*miniredis.Miniredis
	mu  sync.Mutex
	now time.Time
}

func startMini(t testing.TB) *fakeRedis {
	m := &fakeRedis{Miniredis: miniredis.RunT(t), now: miniStart}
	m.SetTime(m.now)
	return m
}

// Advance moves TIME (SetTime fixes it until changed) and the expiry clock
// (FastForward) by d.
func (m *fakeRedis) Advance(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now = m.now.Add(d)
	m.SetTime(m.now)
	m.FastForward(d)
}

// client returns a go-redis client on addr that t closes at its end.
func client(t testing.TB, addr string) *goredis.Client {
	c := goredis.NewClient(&goredis.Options{Addr: addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	return c
}

// open returns a Limiter on a client of its own (as another process would
// have) on addr.
func open(t testing.TB, addr string, opts ...redis.Option) *redis.Limiter {
	l, err := redis.New(client(t, addr), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// openMini is a Limiter (open) on a new miniredis (startMini), closed
// when t ends.
func openMini(t testing.TB, opts ...redis.Option) (*fakeRedis, *redis.Limiter) {
	t.Helper()
	m := startMini(t)
	l := open(t, m.Addr(), opts...)
	t.Cleanup(func() { l.Close() })
	return m, l
}

func miniHarness(t testing.TB) limitertest.Harness {
	m := startMini(t)
	return limitertest.Harness{
		Open:      func(t testing.TB) limiter.Limiter { return open(t, m.Addr(), redis.WithPrefix("suite:")) },
		Advance:   m.Advance,
		Tolerance: time.Microsecond,
	}
}

func TestConformanceMiniredis(t *testing.T) { limitertest.Run(t, miniHarness) }

func TestConformanceRealRedis(t *testing.T) {
	srv := redistest.Start(t, redistest.Config{})
	limitertest.Run(t, func(testing.TB) limitertest.Harness {
		return limitertest.Harness{
			Open:      func(t testing.TB) limiter.Limiter { return open(t, srv.Addr(), redis.WithPrefix("suite:")) },
			Tolerance: 10 * time.Millisecond,
			RealUnit:  100 * time.Millisecond,
		}
	})
}

// TestModelMiniredis compares random sequences on miniredis with the
// reference model (limitertest.RunModel). Its clock never steps back: the
// keys' expiry (FastForward) cannot be undone. One handle: with two, a
// handle's floor (floor.go) of a slot taken before another handle's Reset
// comes back once a lone AllowN (redis_rate's own script) has replaced the
// Reset's epoch with a value without one, and delays that handle's next
// request behind the pre-Reset slot (conservative; see the report of
// issue 18).
func TestModelMiniredis(t *testing.T) {
	limitertest.RunModel(t, miniHarness, limitertest.ModelOptions{Handles: 1})
}

// TestModelConcurrentMiniredis is RunModelConcurrent on miniredis.
func TestModelConcurrentMiniredis(t *testing.T) {
	limitertest.RunModelConcurrent(t, miniHarness, limitertest.ModelOptions{})
}

// TestModelRealRedis runs RunModel's sequences on a real Redis: no clock
// steps, limits of an hour's Period, durations compared within the time
// each sequence has run.
func TestModelRealRedis(t *testing.T) {
	srv := redistest.Start(t, redistest.Config{})
	limitertest.RunModel(t, func(testing.TB) limitertest.Harness {
		return limitertest.Harness{
			Open: func(t testing.TB) limiter.Limiter { return open(t, srv.Addr(), redis.WithPrefix("model:")) },
		}
	}, limitertest.ModelOptions{Handles: 1, Checks: 100})
}

// TestModelMiniredisObserved is TestModelMiniredis with an Observer, which
// takes every request through the store's Do (our scripts) instead of the
// one-request shortcuts (redis_rate's own AllowN among them).
func TestModelMiniredisObserved(t *testing.T) {
	limitertest.RunModel(t, func(tb testing.TB) limitertest.Harness {
		m := startMini(tb)
		obs := limiter.ObserverFunc(func(context.Context, limiter.Event) {})
		return limitertest.Harness{
			Open:      func(t testing.TB) limiter.Limiter { return open(t, m.Addr(), redis.WithObserver(obs)) },
			Advance:   m.Advance,
			Tolerance: time.Microsecond,
		}
	}, limitertest.ModelOptions{Handles: 1})
}

// TestNewRejects: a nil client and a timeout of 0 are invalid arguments.
func TestNewRejects(t *testing.T) {
	if _, err := redis.New(nil); !errors.Is(err, limiter.ErrInvalidArgument) {
		t.Errorf("New(nil): %v", err)
	}
	c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	if _, err := redis.New(c, redis.WithTimeout(0)); !errors.Is(err, limiter.ErrInvalidArgument) {
		t.Errorf("New with timeout 0: %v", err)
	}
}
