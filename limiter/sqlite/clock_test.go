package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/proctest"
	"github.com/sharedlimit/sharedlimit/internal/testutil"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/limitertest"
	"github.com/sharedlimit/sharedlimit/limiter/sqlite"
)

// TestCancelAfterClockBackKT: the clock steps back by exactly two intervals
// with a queue in the file; the shift and new reservations rebuild the very
// tat a queued reservation stored. Its cancel must not take it for its own.
func TestCancelAfterClockBackKT(t *testing.T) {
	clk, ls := onOneFile(t, 3)
	a, b, c := ls[0], ls[1], ls[2]
	ctx := context.Background()
	lim := limiter.Every(time.Second)
	const k = "k"
	reserve := func(l limiter.Limiter) *limiter.Reservation {
		t.Helper()
		r, err := l.ReserveN(ctx, k, lim, 1, time.Minute)
		if err != nil || !r.OK {
			t.Fatalf("ReserveN: %+v, %v", r, err)
		}
		return r
	}
	reserve(a)
	rb := reserve(b) // tat 2 s
	clk.Advance(-2 * time.Second)
	reserve(a)
	second := reserve(a) // tat 2 s again, on the shifted row
	if err := rb.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	next := reserve(c)
	if d := next.Delay - second.Delay; d < time.Second {
		t.Fatalf("after a step back of 2 s, slots in %s and %s: a slot given twice by a cancel from before the step", second.Delay, next.Delay)
	}
}

func needBootClock(t *testing.T) {
	t.Helper()
	if !sqlite.HasBootClock() {
		t.Skip("SKIPPED: no CLOCK_BOOTTIME and boot id on this system: SQLite uses the wall clock, and a forward step re-grants queued slots (see README)")
	}
}

// TestWallClockStepForward: Every(1s), 5 reservations, the wall clock steps
// +10 s, 5 more (on a handle opened after the step, and on the first): the
// second five queue after the first five, they do not get slots 0-4 s again.
func TestWallClockStepForward(t *testing.T) {
	needBootClock(t)
	wall := &testutil.OffsetClock{}
	path := filepath.Join(t.TempDir(), "rate-limit.sqlite")
	a := open(t, path, sqlite.WithHostClock(wall.Now, nil, nil))
	ctx := context.Background()
	lim := limiter.Every(time.Second)
	for i := range 5 {
		r, err := a.ReserveN(ctx, "k", lim, 1, time.Minute)
		if err != nil || !r.OK || r.Delay < time.Duration(i)*time.Second-100*time.Millisecond {
			t.Fatalf("reservation %d: %+v, %v", i, r, err)
		}
	}
	wall.Step(10 * time.Second)
	b := open(t, path, sqlite.WithHostClock(wall.Now, nil, nil))
	for i, l := range []*sqlite.Limiter{b, a, b, a, b} {
		r, err := l.ReserveN(ctx, "k", lim, 1, time.Minute)
		if err != nil || !r.OK {
			t.Fatalf("reservation %d after the step: %+v, %v", 5+i, r, err)
		}
		if want := time.Duration(5+i) * time.Second; r.Delay < want-time.Second/2 {
			t.Fatalf("reservation %d after a +10 s wall-clock step: slot in %s, want about %s (after the 5 queued)", 5+i, r.Delay, want)
		}
	}
}

// TestReboot: across a reboot (a new boot id, the boot clock from zero) the
// offset is taken from the wall clock again; a wall clock that went back
// meanwhile shifts the rows as before (no hour of blocking), and one that
// went forward lets the old rows age.
func TestReboot(t *testing.T) {
	wall := &testutil.OffsetClock{}
	var mu sync.Mutex
	boot, id := int64(5_000_000_000), "boot-1"
	bootClock := func() (int64, bool) { mu.Lock(); defer mu.Unlock(); return boot, true }
	bootID := func() (string, bool) { mu.Lock(); defer mu.Unlock(); return id, true }
	path := filepath.Join(t.TempDir(), "rate-limit.sqlite")
	ctx := context.Background()
	lim := limiter.Limit{Rate: 1, Period: time.Second, Burst: 2}
	a, err := sqlite.New(ctx, path, sqlite.WithHostClock(wall.Now, bootClock, bootID))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Hold(ctx, "k", lim, 9*time.Second); err != nil { // next slot in 9 s
		t.Fatal(err)
	}
	a.Close()
	mu.Lock()
	boot, id = 1_000_000, "boot-2"
	mu.Unlock()
	wall.Step(-time.Hour)
	b := open(t, path, sqlite.WithHostClock(wall.Now, bootClock, bootID))
	r, err := b.ReserveN(ctx, "k", lim, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK || r.RetryAfter < 8*time.Second || r.RetryAfter > 9*time.Second+time.Millisecond {
		t.Fatalf("after a reboot with the wall clock an hour back: %+v, want refused for about 9s (the hold, not an hour more)", r)
	}
}

const (
	envStepPath = "SHAREDLIMIT_SQLITE_STEP_PATH"
	envStep     = "SHAREDLIMIT_SQLITE_STEP"
	envStepRef  = "SHAREDLIMIT_SQLITE_STEP_REF"
)

// TestWallClockStepProcesses: two processes on one file, one after the
// other; the second's wall clock is 10 s ahead (a step between them). Each
// takes 5 slots of Every(1s) and reports when they come: the 10 slots keep
// the bound in every window (the second process's queue after the
// first's), where the wall clock would give both slots 0-4 s.
func TestWallClockStepProcesses(t *testing.T) {
	lim := limiter.Every(time.Second)
	if c, ok := proctest.Child(); ok {
		defer c.Flush()
		step, err1 := time.ParseDuration(os.Getenv(envStep))
		ref, err2 := strconv.ParseInt(os.Getenv(envStepRef), 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("bad child environment: %v, %v", err1, err2)
		}
		wall := &testutil.OffsetClock{}
		wall.Step(step)
		l, err := sqlite.New(context.Background(), os.Getenv(envStepPath), sqlite.WithHostClock(wall.Now, nil, nil))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		for range 5 {
			r, err := l.ReserveN(context.Background(), "k", lim, 1, time.Minute)
			if err != nil || !r.OK {
				t.Fatalf("ReserveN: %+v, %v", r, err)
			}
			// Report the slot's real time from the parent's reference.
			c.AdmitAt(c.Start.Add(time.Now().Add(r.Delay).Sub(time.Unix(0, ref))))
		}
		return
	}
	needBootClock(t)
	if testing.Short() {
		t.Skip("multi-process test skipped in -short mode")
	}
	path := filepath.Join(t.TempDir(), "rate-limit.sqlite")
	ref := strconv.FormatInt(time.Now().UnixNano(), 10)
	var times []time.Duration
	for _, step := range []string{"0s", "10s"} {
		all := proctest.Spawn(t, 1, []string{envStepPath + "=" + path, envStep + "=" + step, envStepRef + "=" + ref}, 30*time.Second)
		times = append(times, all[0]...)
	}
	if len(times) != 10 {
		t.Fatalf("%d slots reported, want 10", len(times))
	}
	// The slots are computed, not slept on: the tolerance is the time a
	// child takes between its clock reading and its report.
	limitertest.CheckWindows(t, times, lim, 50*time.Millisecond)
	if t.Failed() {
		t.Logf("slots from the reference: %v", times)
	}
}
