package proctest

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Load runs, in the child, goroutines loops of call from the shared start
// (it waits for it) until Start+d, recording an admission each time call
// reports true. A loop ends at the deadline or at call's first error; Load
// returns when every loop has ended, with the first error other than the
// deadline's.
func (p *Proc) Load(goroutines int, d time.Duration, call func(ctx context.Context) (bool, error)) error {
	p.WaitStart()
	ctx, cancel := context.WithDeadline(context.Background(), p.Start.Add(d))
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for range goroutines {
		wg.Go(func() {
			for ctx.Err() == nil {
				ok, err := call(ctx)
				if err != nil {
					if !errors.Is(err, context.DeadlineExceeded) {
						once.Do(func() { first = err })
					}
					return
				}
				if ok {
					p.Admit()
				}
			}
		})
	}
	wg.Wait()
	return first
}

// Merge returns every child's admission times in one slice, and how many
// each child had.
func Merge(all [][]time.Duration) (times []time.Duration, counts []int) {
	counts = make([]int, len(all))
	for i, ts := range all {
		counts[i] = len(ts)
		times = append(times, ts...)
	}
	return times, counts
}
