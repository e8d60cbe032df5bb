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

// TestScriptFlushMidLoad: SCRIPT FLUSH every few milliseconds while every
// call runs in a loop: the scripts are reloaded and no error reaches the
// caller.
func TestScriptFlushMidLoad(t *testing.T) {
	srv := redistest.Start(t, redistest.Config{})
	c := client(t, srv.Addr())
	hook := &traffic{}
	c.AddHook(hook)
	l, err := redis.New(c)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	admin := client(t, srv.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var flushes, calls atomic.Int64
	wg.Go(func() {
		for ctx.Err() == nil {
			if err := admin.ScriptFlush(context.Background()).Err(); err != nil {
				t.Error(err)
				return
			}
			flushes.Add(1)
			time.Sleep(5 * time.Millisecond)
		}
	})
	lim := limiter.Limit{Rate: 1_000_000, Period: time.Second, Burst: 1000}
	bg := context.Background()
	for g := range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				var err error
				switch g % 4 {
				case 0:
					_, err = l.AllowN(bg, "flush", lim, 1)
				case 1:
					var r *limiter.Reservation
					if r, err = l.ReserveN(bg, "flush", lim, 1, time.Second); err == nil {
						err = r.Cancel(bg)
					}
				case 2:
					_, err = l.Status(bg, "flush", lim)
				case 3:
					err = l.Hold(bg, "flush-hold", lim, time.Microsecond)
				}
				if err != nil {
					t.Errorf("call during SCRIPT FLUSH: %v", err)
					return
				}
				calls.Add(1)
			}
		})
	}
	wg.Wait()
	if err := l.Reset(bg, "flush"); err != nil {
		t.Errorf("Reset: %v", err)
	}
	t.Logf("%d calls, %d flushes, %d scripts reloaded with EVAL", calls.Load(), flushes.Load(), hook.evals.Load())
	if hook.evals.Load() == 0 {
		t.Fatalf("no script was ever reloaded: the flushes did not hit the load")
	}
}
