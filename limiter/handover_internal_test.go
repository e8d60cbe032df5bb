package limiter

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestShareKeepsFlapBound: the proof in handover.go needs, of the share of
// every limit, T' >= T, Burst' <= Burst and (Burst'-1)*T' <= (2*Burst-1)*T,
// where T' and Burst' are the
// fallback's interval and burst, T and Burst the limit's: then one process
// stays within the limit's bound plus one Burst however the store flaps.
// Checked over a sweep of random limits and shares, and the limits where
// rounding the share's rate down costs most (a scaled rate just below 2).
func TestShareKeepsFlapBound(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 13))
	shares := []float64{1, 0.999, 0.75, 0.5, 0.333, 0.25, 0.1, 0.01}
	check := func(limit Limit, share float64) {
		if limit.Validate() != nil {
			return
		}
		fl := shareLimit(limit, share, 1)
		lhs := int64(fl.Burst-1) * int64(fl.Interval())
		rhs := int64(2*limit.Burst-1) * int64(limit.Interval())
		if fl.Interval() < limit.Interval() || fl.Burst > limit.Burst {
			t.Fatalf("share %v of %s is %s: a shorter interval or a larger burst than the limit's", share, limit, fl)
		}
		if lhs > rhs {
			t.Fatalf("share %v of %s is %s: (Burst'-1)*T' = %s exceeds (2*Burst-1)*T = %s",
				share, limit, fl, time.Duration(lhs), time.Duration(rhs))
		}
	}
	for rate := 1; rate <= 40; rate++ {
		for burst := 1; burst <= 200; burst++ {
			for _, s := range shares {
				check(Limit{Rate: rate, Period: time.Second, Burst: burst}, s)
			}
		}
	}
	for range 200000 {
		limit := Limit{Rate: 1 + rng.IntN(1_000_000), Burst: 1 + rng.IntN(10_000),
			Period: time.Duration(1 + rng.Int64N(int64(time.Hour)))}
		s := shares[rng.IntN(len(shares))]
		if rng.IntN(2) == 0 {
			s = 1 - rng.Float64() // in (0, 1]
		}
		check(limit, s)
	}
}
