package redis_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/redis"
)

// TestLostDataFloorsComposite is TestLostDataFloorsRandom with composite
// requests: three handles reserve one key or both keys of one tag (each
// its own limit), cancel (partly, when a key was written since), Allow,
// Reset, and lose every key (FLUSHALL), and no handle is ever charged, on
// a key, within an interval of a slot it holds queued there (taken under
// the same Reset, and still in the future at the loss).
func TestLostDataFloorsComposite(t *testing.T) {
	keys := []string{"{a}1", "{a}2"}
	lims := []limiter.Limit{
		{Rate: 1, Period: 10 * time.Second, Burst: 1},
		{Rate: 1, Period: 4 * time.Second, Burst: 1},
	}
	for seed := range 40 {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel() // miniredis of its own, on its own clock
			m := startMini(t)
			hs := []*redis.Limiter{open(t, m.Addr()), open(t, m.Addr()), open(t, m.Addr())}
			for _, h := range hs {
				defer h.Close()
			}
			ctx := context.Background()
			var elapsed time.Duration
			// charge is one reservation's interval on one key.
			type charge struct {
				from, to time.Duration
				epoch    int
				queued   bool
			}
			type res struct {
				r      *limiter.Reservation
				h      int
				keys   []int
				charge map[int]*charge
				at     time.Duration // the slot
				done   bool          // cancelled
			}
			var live []*res
			epoch := 0
			rng := rand.New(rand.NewPCG(11, uint64(seed)))
			var log []string
			status := func(k int) time.Duration {
				st, err := hs[0].Status(ctx, keys[k], lims[k])
				if err != nil {
					t.Fatal(err)
				}
				return st.FullAfter
			}
			for step := range 150 {
				switch op := rng.IntN(100); {
				case op < 45:
					hi := rng.IntN(len(hs))
					ks := [][]int{{0}, {1}, {0, 1}, {1, 0}}[rng.IntN(4)]
					var needs []limiter.Need
					for _, k := range ks {
						needs = append(needs, limiter.Need{Key: keys[k], Limit: lims[k], N: 1})
					}
					r, err := hs[hi].Reserve(ctx, 100*time.Second, needs...)
					if err != nil {
						t.Fatal(err)
					}
					if !r.OK {
						continue
					}
					s := &res{r: r, h: hi, keys: ks, charge: map[int]*charge{}, at: elapsed + r.Delay}
					for i, k := range ks {
						tat := elapsed + r.Needs[i].ResetAfter
						c := &charge{from: tat - lims[k].Period, to: tat, epoch: epoch, queued: r.Delay > 0}
						s.charge[k] = c
						log = append(log, fmt.Sprintf("h%d reserve %v key %d [%s, %s)", hi, ks, k, c.from, c.to))
						for _, o := range live {
							oc := o.charge[k]
							if oc == nil || o.h != hi || oc.epoch != epoch || !oc.queued {
								continue
							}
							if c.from < oc.to && oc.from < c.to {
								t.Fatalf("step %d: key %d charged [%s, %s) and [%s, %s) of one handle: a slot it holds queued given again across lost data\n%v",
									step, k, c.from, c.to, oc.from, oc.to, log)
							}
						}
					}
					live = append(live, s)
				case op < 70:
					var c []int
					for i, s := range live {
						if !s.done && s.r.Delay > 0 && elapsed < s.at {
							c = append(c, i)
						}
					}
					if len(c) == 0 {
						continue
					}
					i := c[rng.IntN(len(c))]
					s := live[i]
					before := map[int]time.Duration{}
					for _, k := range s.keys {
						before[k] = status(k)
					}
					if err := s.r.Cancel(ctx); err != nil {
						t.Fatal(err)
					}
					for _, k := range s.keys {
						if before[k]-status(k) > lims[k].Period/2 {
							delete(s.charge, k) // given back
						} else {
							s.charge[k].queued = false
						}
					}
					s.done = true
					log = append(log, fmt.Sprintf("cancel h%d %v", s.h, s.keys))
					live = append(live[:i], live[i+1:]...)
					if len(s.charge) > 0 {
						live = append(live, s)
					}
				case op < 78:
					k := rng.IntN(2)
					if _, err := hs[rng.IntN(len(hs))].AllowN(ctx, keys[k], lims[k], 1); err != nil {
						t.Fatal(err)
					}
					log = append(log, fmt.Sprintf("allow %d", k))
				case op < 86:
					m.FlushAll()
					log = append(log, "flush")
					// A loss may give one Burst again: the charges whose
					// time came are not protected, queued ones are.
					for _, s := range live {
						for _, c := range s.charge {
							if c.from <= elapsed {
								c.epoch = -1
							}
						}
					}
				case op < 89:
					k := rng.IntN(2)
					if err := hs[rng.IntN(len(hs))].Reset(ctx, keys[k]); err != nil {
						t.Fatal(err)
					}
					epoch++ // conservative: a Reset of either key ends the check of both
					log = append(log, fmt.Sprintf("reset %d", k))
				default:
					d := time.Duration(rng.Int64N(5_000_000)) * time.Microsecond
					m.Advance(d)
					elapsed += d
					log = append(log, "advance "+d.String())
				}
			}
		})
	}
}
