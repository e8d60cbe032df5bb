package coalesce

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"

	"github.com/sharedlimit/sharedlimit/limiter/driver"
)

// Under concurrent load, some callers leaving once their requests were
// sent: batches stay within Max, one in flight at a time; every caller
// that returns nil has its own answer; every Reservation granted is either
// its caller's or given back by exactly one Cancel, never both; Stats
// counts every caller's request and every call the store got.
func TestLoad(t *testing.T) {
	const goroutines, calls, max = 32, 40, 8
	f, s := newBatching(t, Options{Max: max})

	var (
		mu        sync.Mutex
		cancels   = map[string]context.CancelFunc{} // by key
		granted   = map[string]bool{}               // Reserves the store granted
		cancelled = map[any]int{}                   // Cancels the store got, by Undo
		kept      = map[string]bool{}               // grants their callers got
		roundTrip int64
		tooBig    int
	)
	ctx, stop := context.WithCancel(context.Background())
	served := f.serve(ctx, func(c *call) func([]driver.Answer) error {
		mu.Lock()
		roundTrip++
		if len(c.keys) > max {
			tooBig++
		}
		for i, k := range c.keys {
			// One caller in five leaves once its request is sent.
			if n := number(k); n%5 == 0 && c.ops[i] != driver.Cancel {
				cancels[k]()
			}
		}
		mu.Unlock()
		grant := c.granted()
		return func(answers []driver.Answer) error {
			mu.Lock()
			defer mu.Unlock()
			for i, op := range c.ops {
				switch op {
				case driver.Reserve:
					granted[c.keys[i]] = true
				case driver.Cancel:
					cancelled[c.undos[i]]++
				}
			}
			return grant(answers)
		}
	})

	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range calls {
				key := strconv.Itoa(1000*(g+1) + i)
				op := driver.Allow
				if i%2 == 0 {
					op = driver.Reserve
				}
				cctx, cancel := context.WithCancel(context.Background())
				mu.Lock()
				cancels[key] = cancel
				mu.Unlock()
				req := []driver.Request{{Op: op, Needs: []driver.Need{{Key: key, N: 1, T: 1, Tau: 1}}, MaxWait: 1}}
				ans := []driver.Answer{{Needs: make([]driver.NeedAnswer, 0, 1)}}
				err := s.Do(cctx, req, ans)
				cancel()
				n := number(key)
				switch {
				case err == nil:
					a := ans[0]
					if !a.OK || len(a.Needs) != 1 || a.Needs[0].Remaining != n || (op == driver.Reserve && a.Undo != "undo-"+key) {
						t.Errorf("caller %s got %+v, not its own answer", key, a)
					}
					if op == driver.Reserve {
						mu.Lock()
						kept[key] = true
						mu.Unlock()
					}
				case n%5 == 0 && errors.Is(err, context.Canceled):
				default:
					t.Errorf("caller %s: %v", key, err)
				}
			}
		})
	}
	wg.Wait()
	// A last call returns after every Cancel queued before it was sent:
	// a Cancel is queued only while the Store is busy, and goes first in
	// the next batch.
	last := []driver.Answer{{}}
	if err := s.Do(context.Background(), []driver.Request{{Op: driver.Status, Needs: []driver.Need{{Key: "1", N: 1, T: 1, Tau: 1}}}}, last); err != nil {
		t.Fatal(err)
	}
	stop()
	served()

	mu.Lock()
	defer mu.Unlock()
	if tooBig > 0 {
		t.Errorf("%d batches above Max %d", tooBig, max)
	}
	oneInFlight(t, f)
	for key := range granted {
		n := cancelled["undo-"+key]
		if kept[key] == (n == 1) || n > 1 {
			t.Errorf("reservation %s: its caller has it %v, cancelled %d times; want exactly one of the two", key, kept[key], n)
		}
	}
	for undo, n := range cancelled {
		if !granted[undo.(string)[len("undo-"):]] {
			t.Errorf("%d Cancels of %v, which the store never granted", n, undo)
		}
	}
	checkStats(t, s, goroutines*calls+1, roundTrip)
	t.Logf("%d requests in %d round trips, %d reservations given back", goroutines*calls+1, roundTrip, len(cancelled))
}
