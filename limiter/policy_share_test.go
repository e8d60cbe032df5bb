package limiter_test

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/memory"
)

// limitRecorder records the limits its AllowN is asked with.
type limitRecorder struct {
	limiter.Limiter
	mu     sync.Mutex
	limits []limiter.Limit
}

func (r *limitRecorder) AllowN(ctx context.Context, key string, limit limiter.Limit, n int) (limiter.Result, error) {
	r.mu.Lock()
	r.limits = append(r.limits, limit)
	r.mu.Unlock()
	return r.Limiter.AllowN(ctx, key, limit, n)
}

// TestFallbackShareHugeRate: scaling a Rate (or Burst) near the largest
// int by the share overflowed into a negative int, clamped to 1: a limit
// of millions per second fell back to one per hour (issue 13). The share
// of a huge value is huge, and never above the value itself.
func TestFallbackShareHugeRate(t *testing.T) {
	for _, share := range []float64{1, 0.9999999999999999, 0.75, 0.5} {
		fb := &limitRecorder{Limiter: memory.New()}
		f := newFixture(t, limiter.Policy{OnFailure: limiter.FailFallback, Fallback: fb, FallbackShare: share})
		f.store.failing.Store(true)
		huge := limiter.Limit{Rate: math.MaxInt, Period: time.Hour, Burst: 1 << 40}
		if _, err := f.g.AllowN(context.Background(), "k", huge, 1); err != nil {
			t.Fatalf("share %v: %v", share, err)
		}
		fb.mu.Lock()
		got := fb.limits
		fb.mu.Unlock()
		if len(got) != 1 {
			t.Fatalf("share %v: the fallback was asked %d times, want 1", share, len(got))
		}
		wantRate, wantBurst := float64(math.MaxInt)*share, float64(1<<40)*share
		if r := float64(got[0].Rate); r < wantRate*0.999 || got[0].Rate > huge.Rate {
			t.Errorf("share %v of Rate %d: %d, want about %.4g", share, huge.Rate, got[0].Rate, wantRate)
		}
		if b := float64(got[0].Burst); b < wantBurst*0.999 || got[0].Burst > huge.Burst {
			t.Errorf("share %v of Burst %d: %d, want about %.4g", share, huge.Burst, got[0].Burst, wantBurst)
		}
		f.g.Close()
		fb.Limiter.Close()
	}
}
