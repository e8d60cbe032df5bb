package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sharedlimit/sharedlimit/internal/testutil"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/limitertest"
	"github.com/sharedlimit/sharedlimit/limiter/sqlite"
)

// TestSweepRacesKeepLiveKeys races the sweeps of three handles on one file
// (a cleanup interval of 1 ms, so that each step of the clock asks for a
// pass, and idle rows to chew through) against reservations, cancels and
// holds from those handles: in phases, six workers decide at one clock
// value while the sweepers run, then the clock moves on by 50 ms to 1.5 s,
// past the slack now and then, so that rows go idle. Two keys are queued
// up to 3 s ahead, sixteen others taken now and then (their tat near the
// clock) and held for 2 s now and then, three held for an hour. After each phase, every key's row must
// still hold what its kept reservations and holds wrote (tat at least the
// latest slot plus the interval, or the hold's) unless that is idle (a second or more behind the
// clock); at the end, every window within the limit and the held keys'
// tats as their holds left them.
func TestSweepRacesKeepLiveKeys(t *testing.T) {
	clk := newFakeClock()
	path := filepath.Join(t.TempDir(), "rate-limit.sqlite")
	ctx := context.Background()
	const filler = 600
	ls := make([]*sqlite.Limiter, 3)
	for i := range ls {
		ls[i] = open(t, path, sqlite.WithClock(clk.Now), sqlite.WithCleanupInterval(time.Millisecond))
	}
	fillIdle(t, path, filler, clk.Now().Add(-time.Hour))

	lim := limiter.Limit{Rate: 5, Period: time.Second, Burst: 2}
	held := []string{"held-0", "held-1", "held-2"}
	for _, k := range held {
		if err := ls[0].Hold(ctx, k, lim, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	heldTats := tats(t, path, held)

	hot := []string{"q-0", "q-1"}
	var light []string
	for i := range 16 {
		light = append(light, fmt.Sprintf("l-%02d", i))
	}
	keys := append(append([]string{}, hot...), light...)
	start := clk.Now()
	var mu sync.Mutex
	admitted := map[string][]time.Duration{} // kept slots, since start
	holds := map[string]time.Duration{}      // the latest hold's tat less T, since start
	// slot is a kept reservation, or a hold (r nil).
	type slot struct {
		key string
		at  time.Duration
		r   *limiter.Reservation
	}
	const phases, opsPerPhase = 40, 6
	rng := rand.New(rand.NewPCG(1, 2))
	for phase := range phases {
		now := clk.Now().Sub(start)
		var wg sync.WaitGroup
		for w := range 2 * len(ls) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(phase), uint64(w)))
				l := ls[w%len(ls)]
				var mine []slot
				for range opsPerPhase {
					if len(mine) > 0 && rng.IntN(4) == 0 {
						i := rng.IntN(len(mine))
						s := mine[i]
						if s.r == nil {
							continue // a hold
						}
						mine = append(mine[:i], mine[i+1:]...)
						if err := s.r.Cancel(ctx); err != nil {
							t.Error(err)
							return
						}
						continue
					}
					if rng.IntN(12) == 0 {
						// A hold (after a 429): the tat at least
						// now + d + tau - T.
						k, d := light[rng.IntN(len(light))], 2*time.Second
						if err := l.Hold(ctx, k, lim, d); err != nil {
							t.Error(err)
							return
						}
						mine = append(mine, slot{key: k, at: now + d + time.Duration(lim.Burst-2)*lim.Interval()})
						continue
					}
					k, maxWait := hot[rng.IntN(len(hot))], 3*time.Second
					if rng.IntN(2) == 0 {
						k, maxWait = light[rng.IntN(len(light))], time.Duration(rng.IntN(500))*time.Millisecond
					}
					r, err := l.ReserveN(ctx, k, lim, 1, maxWait)
					if err != nil {
						t.Error(err)
						return
					}
					if r.OK {
						mine = append(mine, slot{key: k, at: now + r.Delay, r: r})
					}
				}
				mu.Lock()
				defer mu.Unlock()
				for _, s := range mine {
					if s.r == nil {
						holds[s.key] = max(holds[s.key], s.at)
					} else {
						admitted[s.key] = append(admitted[s.key], s.at)
					}
				}
			}()
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		// The sweepers still run: no live row may be missing or behind.
		got := tats(t, path, keys)
		for i, k := range keys {
			if len(admitted[k]) == 0 && holds[k] == 0 {
				continue
			}
			want := start.Add(max(slices.Max(append([]time.Duration{0}, admitted[k]...)), holds[k]) + lim.Interval()).UnixMicro()
			if live := want > clk.Now().Add(-time.Second).UnixMicro(); live && got[i] < want {
				t.Fatalf("phase %d: key %s has tat %d (-1: no row), want at least %d, its latest kept slot's: a sweep deleted a live row", phase, k, got[i], want)
			}
		}
		if phase%5 == 4 {
			clk.Advance(1500 * time.Millisecond)
		} else {
			clk.Advance(time.Duration(50+rng.IntN(1450)) * time.Millisecond)
		}
	}
	// One more decision asks for a last pass: the filler rows go, so the
	// sweeps did run through.
	for _, l := range ls {
		sqlite.WaitSweep(l)
	}
	if _, err := ls[1].AllowN(ctx, "last", lim, 1); err != nil {
		t.Fatal(err)
	}
	sqlite.WaitSweep(ls[1])
	if n := idleLeft(t, path); n != 0 {
		t.Errorf("%d of the %d idle filler rows left after the run: the sweeps did not run through", n, filler)
	}

	n := 0
	for _, k := range keys {
		n += len(admitted[k])
		limitertest.CheckWindows(t, admitted[k], lim, 0)
	}
	if n < phases*lim.Burst {
		t.Errorf("%d reservations kept in %d phases, want at least %d: the run did not queue", n, phases, phases*lim.Burst)
	}
	for i, got := range tats(t, path, held) {
		if got != heldTats[i] {
			t.Errorf("held key %s: tat %d after the sweeps, want %d (the hold's)", held[i], got, heldTats[i])
		}
	}
}

// tats reads the stored tat of each key (-1: no row).
func tats(t *testing.T, path string, keys []string) []int64 {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := make([]int64, len(keys))
	for i, k := range keys {
		out[i] = -1
		err := db.QueryRow("SELECT tat FROM "+keysTable+" WHERE key = ?", k).Scan(&out[i])
		if err != nil && err != sql.ErrNoRows {
			t.Fatal(err)
		}
	}
	return out
}

// idleLeft counts fillIdle's rows still in the file.
func idleLeft(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(fmt.Sprintf("SELECT count(*) FROM %s WHERE key LIKE 'idle-%%'", keysTable)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCloseEndsSweep: Close in the middle of a pass stops the sweeper (no
// goroutine is left, so no sweep runs after Close) and gives its lease
// back.
func TestCloseEndsSweep(t *testing.T) {
	clk := newFakeClock()
	path := filepath.Join(t.TempDir(), "rate-limit.sqlite")
	ctx := context.Background()
	ignore := goleak.IgnoreCurrent()
	const filler = 20_000
	l, err := sqlite.New(ctx, path, sqlite.WithClock(clk.Now), sqlite.WithCleanupInterval(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fillIdle(t, path, filler, clk.Now().Add(-time.Hour))
	steps := make(chan struct{}, 100)
	sqlite.SetSweepHolds(l, func(time.Duration, time.Duration) {
		select {
		case steps <- struct{}{}:
		default:
		}
	})
	clk.Advance(time.Second)
	if _, err := l.AllowN(ctx, "k", limiter.Every(time.Hour), 1); err != nil {
		t.Fatal(err)
	}
	for range 3 { // the claim and two chunks
		select {
		case <-steps:
		case <-time.After(10 * time.Second):
			t.Fatal("no sweep step 10 s after a call past the cleanup interval")
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	goleak.VerifyNone(t, ignore)
	if n := idleLeft(t, path); n == 0 || n == filler {
		t.Fatalf("%d of %d idle rows left at Close, want the pass cut short in its middle", n, filler)
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var owner int64
	if err := db.QueryRow("SELECT owner FROM sharedlimit_sweep_v1").Scan(&owner); err != nil {
		t.Fatal(err)
	}
	if owner != 0 {
		t.Errorf("lease owner %d after Close, want 0 (given back)", owner)
	}
}

// TestSweepLeavesRemovedFile: the sweeper opens the file anew for each
// pass; when the file was removed under the handle (which goes on with the
// old one), it must not create an empty one in its place.
func TestSweepLeavesRemovedFile(t *testing.T) {
	clk := newFakeClock()
	path := filepath.Join(t.TempDir(), "rate-limit.sqlite")
	ctx := context.Background()
	var log testutil.LogBuffer
	l := open(t, path, sqlite.WithClock(clk.Now), sqlite.WithCleanupInterval(time.Second),
		sqlite.WithPolicy(limiter.Policy{Logger: log.Logger()}))
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	clk.Advance(time.Second)
	if _, err := l.AllowN(ctx, "k", limiter.Every(time.Hour), 1); err != nil {
		t.Fatal(err)
	}
	sqlite.WaitSweep(l)
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after a sweep of a handle whose file was removed: stat %s: %v, want no file", path, err)
	}
	if got := log.String(); !strings.Contains(got, "sweep of idle rows stopped") || !strings.Contains(got, path) {
		t.Errorf("the log after a sweep that could not open the file: %q, want a warning naming the file", got)
	}
}
