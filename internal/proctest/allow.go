package proctest

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/limitertest"
)

// AllowCoalesced is the shape of the backends' TestProcessesAllowCoalesced
// (limiter/redis, limiter/sqlite): Procs OS processes x Goroutines
// goroutines in tight Allow loops on one hot key for Dur, a quarter of the
// calls composites of the hot key and one of the process's own.
type AllowCoalesced struct {
	Hot, Own          limiter.Limit
	Procs, Goroutines int
	Dur               time.Duration
}

// Coalesced is the AllowCoalesced both backends run: 4 x 16 for 1.5 s.
var Coalesced = AllowCoalesced{
	Hot:        limiter.Limit{Rate: 1000, Period: time.Second, Burst: 10},
	Own:        limiter.Limit{Rate: 5000, Period: time.Second, Burst: 50},
	Procs:      4,
	Goroutines: 16,
	Dur:        1500 * time.Millisecond,
}

// Load is a child's load (see Proc.Load) on l: every fourth call an Allow
// of the hot key "hot" and the child's own key ("own" and a letter), the
// others AllowN of the hot key; it records the hot key's admissions.
func (a AllowCoalesced) Load(c *Proc, l limiter.Limiter) error {
	hot := limiter.Need{Key: "hot", Limit: a.Hot, N: 1}
	mine := limiter.Need{Key: "own" + string(rune('a'+c.Index)), Limit: a.Own, N: 1}
	var n atomic.Int64
	return c.Load(a.Goroutines, a.Dur, func(ctx context.Context) (bool, error) {
		var r limiter.Result
		var err error
		if n.Add(1)%4 == 0 {
			r, err = l.Allow(ctx, hot, mine)
		} else {
			r, err = l.AllowN(ctx, "hot", a.Hot, 1)
		}
		return err == nil && r.Allowed, err
	})
}

// Check checks the children's admissions all without tolerance against
// moved, how far in µs the hot key's tat lies past the store's clock read
// before the first decision: N admissions move it at least N*T, so more
// admissions than moved/T is an over-admission (a write lost or a
// decision on a stale tat). The load must also saturate the limit (half
// its budget at least), and every window of the stamps (taken when Allow
// returns) hold to the bound within the stamps' jitter (40 ms).
func (a AllowCoalesced) Check(t *testing.T, all [][]time.Duration, moved int64) {
	t.Helper()
	times, counts := Merge(all)
	T := a.Hot.Interval().Microseconds()
	t.Logf("admissions per process %v, %d in all; the hot key's tat moved %d µs past the store's clock before the start: at most %d",
		counts, len(times), moved, moved/T)
	if int64(len(times))*T > moved {
		t.Errorf("%d admissions of the hot key, but its tat moved %d µs (%d intervals of %d µs) from before the first: over-admission",
			len(times), moved, moved/T, T)
	}
	if len(times) < int(float64(a.Hot.Rate)*a.Dur.Seconds()/2) {
		t.Errorf("%d admissions in %s: the load did not saturate the limit %s", len(times), a.Dur, a.Hot)
	}
	limitertest.CheckWindows(t, times, a.Hot, 40*time.Millisecond)
}
