package redis_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sharedlimit/sharedlimit/internal/coalesce"
	"github.com/sharedlimit/sharedlimit/internal/redistest"
	"github.com/sharedlimit/sharedlimit/limiter/driver"
	"github.com/sharedlimit/sharedlimit/limiter/redis"
)

// batchMax is the size of the batches maxBatches build.
var batchMax = coalesce.DefaultMax

// maxBatches are the worst shapes of a batch of batchMax requests, each
// granted (every request writes; a granted Reserve's answer carries its
// undo): composites of 2 and 3 needs, every request on keys of its own;
// Reserves of one key; Allows of one key; a mix of every operation on 8
// keys, cancels of the previous batch's reservations included (given by
// prev).
var maxBatches = []struct {
	name  string
	build func(i int, prev []driver.Answer) []driver.Request
}{
	{"composite-distinct", func(i int, _ []driver.Answer) []driver.Request {
		b := make([]driver.Request, batchMax)
		for r := range b {
			n := 2 + r%2
			needs := make([]driver.Need, n)
			for j := range needs {
				needs[j] = driver.Need{Key: fmt.Sprintf("{c%d}:%d", r, j), N: 1, T: 1, Tau: 1 << 40}
			}
			b[r] = driver.Request{Op: driver.Reserve, Needs: needs, MaxWait: 1 << 50}
		}
		return b
	}},
	{"one-key", func(i int, _ []driver.Answer) []driver.Request {
		b := make([]driver.Request, batchMax)
		for r := range b {
			b[r] = driver.Request{Op: driver.Reserve, Needs: []driver.Need{{Key: "hot", N: 1, T: 1, Tau: 1 << 40}}, MaxWait: 1 << 50}
		}
		return b
	}},
	{"allow-one-key", func(i int, _ []driver.Answer) []driver.Request {
		b := make([]driver.Request, batchMax)
		for r := range b {
			b[r] = driver.Request{Op: driver.Allow, Needs: []driver.Need{{Key: "hot", N: 1, T: 1, Tau: 1 << 40}}}
		}
		return b
	}},
	{"mixed", func(i int, prev []driver.Answer) []driver.Request {
		b := make([]driver.Request, 0, batchMax)
		for _, a := range prev {
			if a.Undo != nil && len(b) < batchMax/4 {
				b = append(b, driver.Request{Op: driver.Cancel, Undo: a.Undo})
			}
		}
		for r := 0; len(b) < batchMax; r++ {
			nd := driver.Need{Key: fmt.Sprintf("m%d", r%8), N: 1, T: 1, Tau: 1 << 40}
			switch r % 6 {
			case 0:
				b = append(b, driver.Request{Op: driver.Allow, Needs: []driver.Need{nd}})
			case 1, 2:
				b = append(b, driver.Request{Op: driver.Reserve, Needs: []driver.Need{nd}, MaxWait: 1 << 50})
			case 3:
				b = append(b, driver.Request{Op: driver.Reserve, MaxWait: 1 << 50, Needs: []driver.Need{
					{Key: fmt.Sprintf("{g%d}:a", r%8), N: 1, T: 1, Tau: 1 << 40}, {Key: fmt.Sprintf("{g%d}:b", r%8), N: 2, T: 1, Tau: 1 << 40}}})
			case 4:
				b = append(b, driver.Request{Op: driver.Status, Needs: []driver.Need{nd}})
			case 5:
				b = append(b, driver.Request{Op: driver.Hold, Needs: []driver.Need{nd}, Hold: 1})
			}
		}
		return b
	}},
}

// SLOWLOG keeps, in BenchmarkBatchScriptMax, the last slowlogLen calls
// slower than slowlogOver µs: every script call but the quickest (a
// request alone runs in about 10 µs), not the commands a script calls
// (about 1 µs each), which Redis 7 logs too, and whose logging would
// slow the script down.
const slowlogOver, slowlogLen = 20, 4096

// BenchmarkBatchScriptMax measures batchScript at the largest batch
// (coalesce.DefaultMax requests; and 1 and 32 beside it) on a loopback
// Redis, in the shapes of maxBatches: Redis's own time per script call,
// its maximum from SLOWLOG, its mean from INFO commandstats
// (usec_per_call of EVALSHA), and the mean per request.
//
//	go test -run '^$' -bench BatchScriptMax -benchtime 200x ./limiter/redis/
func BenchmarkBatchScriptMax(b *testing.B) {
	srv := redistest.Start(b, redistest.Config{Conf: []string{
		"slowlog-log-slower-than " + strconv.Itoa(slowlogOver), "slowlog-max-len " + strconv.Itoa(slowlogLen)}})
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
	defer c.Close()
	ctx := context.Background()
	for _, shape := range maxBatches {
		for _, size := range []int{1, 32, coalesce.DefaultMax} {
			b.Run(fmt.Sprintf("%s/n=%d", shape.name, size), func(b *testing.B) {
				batchMax = size
				l, err := redis.New(c, redis.WithPrefix(fmt.Sprintf("%s%d:", shape.name, size)), redis.WithCoalescing(false))
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				ans := make([]driver.Answer, size)
				if err := redis.DoBatch(ctx, l, shape.build(0, nil), ans); err != nil { // loads the script
					b.Fatal(err)
				}
				if err := c.SlowLogReset(ctx).Err(); err != nil {
					b.Fatal(err)
				}
				if err := c.ConfigResetStat(ctx).Err(); err != nil {
					b.Fatal(err)
				}
				calls := 0
				for b.Loop() {
					calls++
					batch := shape.build(calls, ans)
					ans = make([]driver.Answer, len(batch))
					if err := redis.DoBatch(ctx, l, batch, ans); err != nil {
						b.Fatal(err)
					}
					for r, a := range ans {
						if a.Err != nil || (batch[r].Op <= driver.Reserve && !a.OK) {
							b.Fatalf("request %d (%+v): %+v", r, batch[r], a)
						}
					}
				}
				if calls > slowlogLen {
					b.Fatalf("%d batches: more than SLOWLOG keeps (%d), run fewer", calls, slowlogLen)
				}
				logs, err := c.SlowLogGet(ctx, slowlogLen).Result()
				if err != nil {
					b.Fatal(err)
				}
				var most time.Duration
				for _, l := range logs {
					if len(l.Args) > 0 && strings.HasPrefix(strings.ToLower(l.Args[0]), "eval") {
						most = max(most, l.Duration)
					}
				}
				info, err := c.Info(ctx, "commandstats").Result()
				if err != nil {
					b.Fatal(err)
				}
				mean, err := usecPerCall(info, "evalsha")
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(most.Microseconds()), "max-µs/script")
				b.ReportMetric(mean, "mean-µs/script")
				b.ReportMetric(mean/float64(size), "µs/request")
			})
		}
	}
}
