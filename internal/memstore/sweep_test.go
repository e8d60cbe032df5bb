package memstore

import (
	"context"
	"hash/maphash"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/testutil"
	"github.com/sharedlimit/sharedlimit/limiter/driver"
)

const hour = int64(time.Hour / time.Microsecond)

// do runs one request on st and returns its answer (the in-process
// store's Do returns no error).
func do(st *State, r driver.Request) driver.Answer {
	a := make([]driver.Answer, 1)
	_ = New(st).Do(context.Background(), []driver.Request{r}, a)
	return a[0]
}

func allow(key string, t int64) driver.Request {
	return driver.Request{Op: driver.Allow, Needs: []driver.Need{{Key: key, N: 1, T: t, Tau: t}}}
}

// TestSweepForgetsIdleKeys: keys that went idle leave as new keys come,
// four looked at per write, so that after as many writes as there are keys
// every idle key has gone and every live one stays.
func TestSweepForgetsIdleKeys(t *testing.T) {
	forHashes(t, func(t *testing.T, st *State, clock *testutil.StepClock) {
		// Keys whose hashes are equal share a run of the index's
		// cells, so that a lookup reads them all: fewer keys there.
		n := 10_000
		if st.pos.sum("a") == st.pos.sum("b") {
			n = 1_000
		}
		testSweepForgetsIdleKeys(t, st, clock, n)
	})
}

// forHashes runs test on a State hashing keys as it does, and on one
// whose keys' hashes take four values only (nearly every key clashes: "a"
// and "b" do).
func forHashes(t *testing.T, test func(t *testing.T, st *State, clock *testutil.StepClock)) {
	for _, clash := range []bool{false, true} {
		t.Run(map[bool]string{false: "hashed", true: "clashing"}[clash], func(t *testing.T) {
			clock := testutil.NewStepClock(time.Unix(0, 0))
			st := NewState(clock.Now)
			if clash {
				st.pos.hash = func(_ maphash.Seed, key string) uint64 { return uint64(len(key) % 4) }
			}
			test(t, st, clock)
		})
	}
}

func testSweepForgetsIdleKeys(t *testing.T, st *State, clock *testutil.StepClock, n int) {
	for i := range n {
		do(st, allow("idle"+strconv.Itoa(i), 1000)) // idle 1 ms after
	}
	if got := st.Len(); got != n {
		t.Fatalf("%d keys held after %d writes within their 1 ms, want all %d: the sweep forgot live keys", got, n, n)
	}
	clock.Set(time.Unix(1, 0)) // every idle key's tat is behind now
	for i := range n {
		do(st, allow("live"+strconv.Itoa(i), hour))
	}
	if got := st.Len(); got != n {
		t.Fatalf("%d keys held after %d writes of live keys over %d idle ones: want exactly the %d live", got, n, n, n)
	}
	for i := range n {
		key := "live" + strconv.Itoa(i)
		if p, ok := st.pos.find(key, &st.slots); !ok || !st.slots.keyIs(p, key) {
			t.Fatalf("%s: held %v at %d, want it at its own place", key, ok, p)
		}
	}
	if got := len(st.slots.pages); got > n/pageSize+2 {
		t.Errorf("%d pages for %d keys", got, n)
	}
}

// TestSweepKeepsUp writes a new key each step that is idle the step after,
// beside keys that stay live: the keys held must stay within a bound of
// the live ones. (With two looks a write, a removal moved the newest key,
// live, into the sweep's place, so that a write removed one idle key at
// most and the idle ones piled up by each pass over the live: 2,263 held
// for 100 live after 50,000 writes, growing as the square root of the
// writes.)
func TestSweepKeepsUp(t *testing.T) {
	forHashes(t, func(t *testing.T, st *State, clock *testutil.StepClock) {
		const live = 100
		for i := range live {
			do(st, allow("live-"+strconv.Itoa(i), hour))
		}
		most := 0
		for i := range 50_000 {
			clock.Set(time.Unix(0, int64(i+1)*1000))
			do(st, allow("churn-"+strconv.Itoa(i), 1)) // idle 1 µs after
			most = max(most, st.Len())
		}
		if most > 2*live {
			t.Fatalf("%d keys held at most for %d live, want at most %d", most, live, 2*live)
		}
	})
}

// TestSweepKeepsWhatIsNotIdle races writes that sweep against
// reservations, cancels and holds from several goroutines, on keys that
// stay busy among many that go idle, the clock moving on meanwhile. A key
// with a queued slot or a Hold must keep its value: each goroutine owns
// its keys, so that a Cancel of the newest reservation on a key must give
// it back (a swept key would make it find nothing), and at the end every
// key with a reservation standing or a Hold is held, ahead of now, while
// the churned keys have gone.
func TestSweepKeepsWhatIsNotIdle(t *testing.T) {
	forHashes(t, testSweepKeepsWhatIsNotIdle)
}

func testSweepKeepsWhatIsNotIdle(t *testing.T, st *State, clock *testutil.StepClock) {
	const workers, keysEach, steps = 4, 8, 3000
	const tq = int64(10_000) // 10 ms per token
	var mu sync.Mutex
	now := int64(0)              // µs since the start, under mu
	standing := map[string]int{} // keys with reservations or a Hold at the end
	tick := func() {
		mu.Lock()
		now++ // 12 ms in all: every Hold (50 ms) and slot stays ahead
		clock.Set(time.Unix(0, now*1000))
		mu.Unlock()
	}
	errs := make(chan string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			name := func(kind string, k int) string { return kind + strconv.Itoa(w) + "-" + strconv.Itoa(k) }
			queues := make([][]driver.Answer, keysEach) // per key, oldest first
			held := map[string]bool{}
			defer func() {
				mu.Lock()
				defer mu.Unlock()
				for k, q := range queues {
					if len(q) > 0 {
						standing[name("busy", k)] = len(q)
					}
				}
				for key := range held {
					standing[key] = 1
				}
			}()
			for i := range steps {
				tick()
				do(st, allow(name("churn", i), 1))
				k := rng.IntN(keysEach)
				switch op := rng.IntN(10); {
				case op < 5:
					a := do(st, driver.Request{Op: driver.Reserve, MaxWait: hour,
						Needs: []driver.Need{{Key: name("busy", k), N: 1, T: tq, Tau: tq}}})
					if !a.OK {
						errs <- "a Reserve within an hour was refused"
						return
					}
					queues[k] = append(queues[k], a)
				case op < 8 && len(queues[k]) > 0:
					q := queues[k]
					a := do(st, driver.Request{Op: driver.Cancel, Undo: q[len(q)-1].Undo})
					queues[k] = q[:len(q)-1]
					if !a.OK {
						errs <- "the Cancel of the newest reservation on " + name("busy", k) + " gave nothing back: the key was swept"
						return
					}
				default:
					do(st, driver.Request{Op: driver.Hold, Hold: 50_000,
						Needs: []driver.Need{{Key: name("hold", k), N: 1, T: tq, Tau: tq}}})
					held[name("hold", k)] = true
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	if len(standing) == 0 {
		t.Fatal("nothing stood at the end: the test tried nothing")
	}
	for key, n := range standing {
		if e, ok := st.get(key); !ok || e.tat <= now {
			t.Errorf("%s: %d reservations or a Hold standing, but held %v with tat %d at now %d", key, n, ok, e.tat, now)
		}
	}
	// 12,000 churned keys came; a pass over the 64 live keys takes about
	// 32 writes, so about as many churned keys wait for the sweep at once.
	if got, live := st.Len(), 2*workers*keysEach; got > 2*live {
		t.Errorf("%d keys held at the end, want at most twice the %d live: the churned keys were not swept", got, live)
	}
}
