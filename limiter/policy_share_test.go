package limiter_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/driver"
)

// TestFallbackShareHugeRate: scaling a Rate (or Burst) near the largest
// int by the share overflowed into a negative int, clamped to 1: a limit
// of millions per second fell back to one per hour (issue 13). The share
// of a huge value is huge, and never above the value itself. The fallback
// store sees the share as its needs' T (the interval of the scaled Rate)
// and Tau (T times the scaled Burst), of an AllowN and of a Hold (which
// the core scales even at share 1).
func TestFallbackShareHugeRate(t *testing.T) {
	for _, share := range []float64{1, 0.9999999999999999, 0.75, 0.5} {
		fb := newFakeStore(nil)
		f := newFixture(t, limiter.Policy{OnFailure: limiter.FailFallback, Fallback: fb, FallbackShare: share})
		f.store.failing.Store(true)
		huge := limiter.Limit{Rate: math.MaxInt, Period: time.Hour, Burst: 1 << 40}
		ctx := context.Background()
		if _, err := f.g.AllowN(ctx, "k", huge, 1); err != nil {
			t.Fatalf("share %v: %v", share, err)
		}
		if err := f.g.Hold(ctx, "k", huge, time.Second); err != nil {
			t.Fatalf("share %v: Hold: %v", share, err)
		}
		wantRate, wantBurst := float64(math.MaxInt)*share, float64(1<<40)*share
		// The interval of the scaled rate: at most that of 0.999 of
		// it, and never below the limit's own.
		most := limiter.Limit{Rate: int(wantRate * 0.999), Period: huge.Period, Burst: 1}.Interval().Microseconds()
		for _, op := range []driver.Op{driver.Allow, driver.Hold} {
			got := fb.Requests(op)
			if len(got) != 1 || len(got[0].Needs) != 1 {
				t.Fatalf("share %v: the fallback was asked %+v, want one %s of one need", share, got, op)
			}
			nd := got[0].Needs[0]
			if nd.T > most || nd.T < huge.Interval().Microseconds() {
				t.Errorf("share %v of Rate %d (%s): interval %d µs, want the interval of about %.4g per %s: %d µs",
					share, huge.Rate, op, nd.T, wantRate, huge.Period, most)
			}
			if b := float64(nd.Tau / nd.T); b < wantBurst*0.999 || nd.Tau/nd.T > int64(huge.Burst) {
				t.Errorf("share %v of Burst %d (%s): %d, want about %.4g", share, huge.Burst, op, nd.Tau/nd.T, wantBurst)
			}
		}
		f.g.Close()
	}
}
