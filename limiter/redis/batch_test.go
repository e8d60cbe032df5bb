package redis_test

import (
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/redistest"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/limitertest"
	"github.com/sharedlimit/sharedlimit/limiter/redis"
)

// batched is the option that takes every call of a handle through
// batchScript, calls that overlap sharing a batch.
var batched = redis.WithLinger(50 * time.Microsecond)

func miniBatchedHarness(t testing.TB) limitertest.Harness {
	m := startMini(t)
	return limitertest.Harness{
		Open:      func(t testing.TB) limiter.Limiter { return open(t, m.Addr(), redis.WithPrefix("suite:"), batched) },
		Advance:   m.Advance,
		Tolerance: time.Microsecond,
		Batched:   true,
	}
}

// TestConformanceMiniredisBatched is the conformance suite with every call
// through batchScript.
func TestConformanceMiniredisBatched(t *testing.T) { limitertest.Run(t, miniBatchedHarness) }

// TestModelMiniredisBatched compares batchScript's decisions, request by
// request, with the reference model.
func TestModelMiniredisBatched(t *testing.T) {
	limitertest.RunModel(t, miniBatchedHarness, limitertest.ModelOptions{Handles: 1})
}

// TestModelConcurrentMiniredisBatched runs concurrent histories on handles
// that batch.
func TestModelConcurrentMiniredisBatched(t *testing.T) {
	limitertest.RunModelConcurrent(t, miniBatchedHarness, limitertest.ModelOptions{})
}

// TestConformanceRealRedisBatched is the conformance suite on a real Redis
// with every call through batchScript.
func TestConformanceRealRedisBatched(t *testing.T) {
	srv := redistest.Start(t, redistest.Config{})
	limitertest.Run(t, func(testing.TB) limitertest.Harness {
		return limitertest.Harness{
			Open: func(t testing.TB) limiter.Limiter { return open(t, srv.Addr(), redis.WithPrefix("suite:"), batched) },
			// The steps of one offset run one after another, each
			// through the sender (under -race a few ms each), so
			// later offsets need a wider margin than the unbatched
			// suite's: the same 10 % of a unit, on a longer unit.
			Tolerance: 25 * time.Millisecond,
			RealUnit:  250 * time.Millisecond,
			Batched:   true,
		}
	})
}
