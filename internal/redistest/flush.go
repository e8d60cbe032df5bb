package redistest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// FlushLoad runs goroutines loops of op(g, i) (g the goroutine, i its
// loop) until ctx ends, while it sends SCRIPT FLUSH to every one of addrs
// every interval, and returns how many calls succeeded. A call that fails
// ends its loop and fails t, as does a failed flush.
func FlushLoad(ctx context.Context, t testing.TB, addrs []string, interval time.Duration, goroutines int, op func(g, i int) error) int64 {
	t.Helper()
	var (
		wg    sync.WaitGroup
		calls atomic.Int64
	)
	wg.Go(func() {
		for ctx.Err() == nil {
			for _, a := range addrs {
				if _, err := Do(a, "", "SCRIPT", "FLUSH"); err != nil {
					t.Error(err)
					return
				}
			}
			time.Sleep(interval)
		}
	})
	for g := range goroutines {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				if err := op(g, i); err != nil {
					t.Errorf("call during SCRIPT FLUSH: %v", err)
					return
				}
				calls.Add(1)
			}
		})
	}
	wg.Wait()
	return calls.Load()
}
