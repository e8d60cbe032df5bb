package redis_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/redistest"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/redis"
)

// waitLimit is the limit of wait/rate=200000: a burst of 10 ms of it.
var waitLimit = limiter.Limit{Rate: 200_000, Period: time.Second, Burst: 2000}

// The phases of a coalesceWait run: warm (the burst and the queue
// forming, not counted), then the steady window measured.
const (
	waitWarm   = 500 * time.Millisecond
	waitWindow = 2 * time.Second
)

// coalesceWait is wait/rate=200000/goroutines=g: g goroutines loop on
// limiter.Wait of one key under waitLimit, ours (coalescing on) and ours
// uncoalesced, each on a client of its own. Over the steady window it
// reports each one's used fraction of the limit (admissions over
// Rate*window) and admissions per round trip (the client hook's count).
func coalesceWait(b *testing.B, srv *redistest.Server, g int) {
	for b.Loop() {
		for _, on := range []bool{true, false} {
			name := oursName
			if !on {
				name = "uncoalesced"
			}
			c := benchClient(b, srv)
			h := &traffic{}
			c.AddHook(h)
			l, err := redis.New(c, redis.WithCoalescing(on), redis.WithPrefix("wait/"+name+"/"))
			if err != nil {
				b.Fatal(err)
			}
			used, perTrip := waitRun(b, l, h, g)
			l.Close()
			b.ReportMetric(used, name+"-used")
			b.ReportMetric(perTrip, name+"-admissions/roundtrip")
		}
	}
}

// waitRun runs g goroutines of Wait on l and returns the used fraction
// and admissions per round trip over the steady window.
func waitRun(b *testing.B, l *redis.Limiter, h *traffic, g int) (used, perTrip float64) {
	var (
		admitted atomic.Int64
		stop     atomic.Bool
		wg       sync.WaitGroup
		once     sync.Once
		first    error
	)
	ctx := context.Background()
	for range g {
		wg.Go(func() {
			for !stop.Load() {
				if err := limiter.Wait(ctx, l, "hot", waitLimit, 1); err != nil {
					once.Do(func() { first = err })
					return
				}
				admitted.Add(1)
			}
		})
	}
	time.Sleep(waitWarm)
	a0, t0, s0 := admitted.Load(), h.trips.Load(), time.Now()
	time.Sleep(waitWindow)
	a1, t1, d := admitted.Load(), h.trips.Load(), time.Since(s0)
	stop.Store(true)
	wg.Wait()
	if first != nil {
		b.Fatal(first)
	}
	allowed := float64(waitLimit.Rate) * d.Seconds() / waitLimit.Period.Seconds()
	return float64(a1-a0) / allowed, float64(a1-a0) / float64(max(t1-t0, 1))
}
