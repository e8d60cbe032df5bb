package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/testutil"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/limitertest"
	"github.com/sharedlimit/sharedlimit/limiter/sqlite"
)

// newFakeClock is a wall clock the tests move by hand, backwards too.
func newFakeClock() *testutil.Clock { return testutil.NewClock(time.Unix(1_700_000_000, 0)) }

// open returns a handle on path that the test closes.
func open(t testing.TB, path string, opts ...sqlite.Option) *sqlite.Limiter {
	t.Helper()
	l, err := sqlite.New(context.Background(), path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// onOneFile is n handles (open) on one new file, on one fake clock.
func onOneFile(t testing.TB, n int) (*testutil.Clock, []*sqlite.Limiter) {
	t.Helper()
	clk := newFakeClock()
	path := filepath.Join(t.TempDir(), "rate-limit.sqlite")
	ls := make([]*sqlite.Limiter, n)
	for i := range ls {
		ls[i] = open(t, path, sqlite.WithClock(clk.Now))
	}
	return clk, ls
}

func harness(t testing.TB) limitertest.Harness {
	clk := newFakeClock()
	path := filepath.Join(t.TempDir(), "rate-limit.sqlite")
	return limitertest.Harness{
		Open: func(t testing.TB) limiter.Limiter {
			l, err := sqlite.New(context.Background(), path, sqlite.WithClock(clk.Now))
			if err != nil {
				t.Fatal(err)
			}
			return l
		},
		Advance: clk.Advance,
	}
}

func TestConformance(t *testing.T) { limitertest.Run(t, harness) }

func TestConformanceRealClock(t *testing.T) {
	if testing.Short() {
		t.Skip("real-clock run of the suite skipped in -short mode")
	}
	limitertest.Run(t, func(t testing.TB) limitertest.Harness {
		path := filepath.Join(t.TempDir(), "rate-limit.sqlite")
		return limitertest.Harness{
			Open: func(t testing.TB) limiter.Limiter {
				l, err := sqlite.New(context.Background(), path)
				if err != nil {
					t.Fatal(err)
				}
				return l
			},
			// Wake-up jitter of 32 goroutines under -race on a small
			// machine; the exact check is TestConformance's.
			Tolerance: 40 * time.Millisecond,
			RealUnit:  200 * time.Millisecond,
		}
	})
}

// TestClockBack: the host clock goes back an hour with a queue of
// reservations in the file. The next slot keeps the wait it had (no hour,
// no years), and admissions measured on the true timeline stay within the
// bound.
func TestClockBack(t *testing.T) {
	clk, ls := onOneFile(t, 2)
	a, b := ls[0], ls[1]
	ctx := context.Background()
	lim := limiter.Limit{Rate: 1, Period: time.Second, Burst: 2}
	const k = "clock-back"
	// A hold of 9 s: tat = now + 10 s, the next slot in 9 s.
	if err := a.Hold(ctx, k, lim, 9*time.Second); err != nil {
		t.Fatal(err)
	}
	clk.Advance(-time.Hour)
	r, err := b.ReserveN(ctx, k, lim, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK || r.RetryAfter != 9*time.Second {
		t.Fatalf("after the clock went back an hour: %+v, want refused with RetryAfter 9s (the hold, not an hour more)", r)
	}
	st, err := b.Status(ctx, k, lim)
	if err != nil {
		t.Fatal(err)
	}
	if st.FullAfter != 10*time.Second {
		t.Fatalf("Status after the clock went back: %+v, want full in 10s", st)
	}

	// Steady polling around a second jump back: on the true timeline the
	// admissions keep the bound.
	var times []time.Duration
	var elapsed time.Duration
	const step = 100 * time.Millisecond
	for i := range 400 {
		for _, l := range []*sqlite.Limiter{a, b} {
			res, err := l.AllowN(ctx, k, lim, 1)
			if err != nil {
				t.Fatal(err)
			}
			if res.Allowed {
				times = append(times, elapsed)
			}
		}
		if i == 200 {
			clk.Advance(-time.Hour)
		}
		clk.Advance(step)
		elapsed += step
	}
	limitertest.CheckWindows(t, times, lim, 0)
	// The jump costs at most the time since the row's last write: one
	// interval here.
	limitertest.CheckUsage(t, times, lim, lim.Interval())
}

// TestClockBackSmall: a step back within a second is obeyed: the queue
// gets longer by the step, never shorter.
func TestClockBackSmall(t *testing.T) {
	clk := newFakeClock()
	l := open(t, filepath.Join(t.TempDir(), "rate-limit.sqlite"), sqlite.WithClock(clk.Now))
	ctx := context.Background()
	lim := limiter.PerSecond(1)
	if r, _ := l.AllowN(ctx, "k", lim, 1); !r.Allowed {
		t.Fatal("first request refused")
	}
	clk.Advance(-500 * time.Millisecond)
	r, err := l.AllowN(ctx, "k", lim, 1)
	if err != nil {
		t.Fatal(err)
	}
	if r.Allowed || r.RetryAfter != 1500*time.Millisecond {
		t.Fatalf("after the clock went back 0.5 s: %+v, want refused for 1.5s", r)
	}
	// Small steps back add up: five of them are 2.5 s, more than the
	// second of slack, and the row is shifted instead of obeyed.
	for range 4 {
		clk.Advance(-500 * time.Millisecond)
		if err := l.Hold(ctx, "k", lim, 0); err != nil {
			t.Fatal(err)
		}
	}
	r, err = l.AllowN(ctx, "k", lim, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Obeyed, it would be 1 s + 2.5 s; shifted, at most the 1 s the row
	// had plus the second of slack (and the microsecond each Hold adds,
	// see gcra.Hold).
	if r.Allowed || r.RetryAfter > 2*time.Second+4*time.Microsecond {
		t.Fatalf("after five steps back of 0.5 s: %+v, want refused for at most 2s", r)
	}
}

// rows counts the rows of the limiter's table.
func rows(t testing.TB, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM sharedlimit_gcra_v1").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCleanup(t *testing.T) {
	clk := newFakeClock()
	path := filepath.Join(t.TempDir(), "rate-limit.sqlite")
	l := open(t, path, sqlite.WithClock(clk.Now), sqlite.WithCleanupInterval(time.Minute))
	ctx := context.Background()
	lim := limiter.PerMinute(1)
	for i := range 2000 {
		if _, err := l.AllowN(ctx, fmt.Sprintf("key-%d-%s", i, strings.Repeat("x", 100)), lim, 1); err != nil {
			t.Fatal(err)
		}
	}
	// A key held for an hour is not idle.
	if err := l.Hold(ctx, "held", lim, time.Hour); err != nil {
		t.Fatal(err)
	}
	if n := rows(t, path); n != 2001 {
		t.Fatalf("%d rows before the cleanup, want 2001", n)
	}
	clk.Advance(2 * time.Minute)
	if _, err := l.AllowN(ctx, "trigger", lim, 1); err != nil {
		t.Fatal(err)
	}
	sqlite.WaitSweep(l)
	if n := rows(t, path); n != 2 {
		t.Fatalf("%d rows after the cleanup, want 2 (the held key and the new one)", n)
	}
	// The freed pages went back to the file system.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 64<<10 {
		t.Errorf("file is %d bytes after the cleanup of all but 2 keys, want it small", fi.Size())
	}
	// A key whose clock went back is idle on its own clock.
	l2 := open(t, path, sqlite.WithClock(clk.Now), sqlite.WithCleanupInterval(time.Minute))
	clk.Advance(-time.Hour)
	if _, err := l2.AllowN(ctx, "trigger2", lim, 1); err != nil {
		t.Fatal(err)
	}
	sqlite.WaitSweep(l2)
	clk.Advance(2 * time.Minute)
	if _, err := l2.AllowN(ctx, "trigger3", lim, 1); err != nil {
		t.Fatal(err)
	}
	sqlite.WaitSweep(l2)
	if n := rows(t, path); n != 3 {
		t.Fatalf("%d rows after a cleanup across a clock jump back, want 3 (held, trigger2, trigger3)", n)
	}
}

func TestFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	path := filepath.Join(dir, "rate-limit.sqlite")
	open(t, path)
	for _, c := range []struct {
		p    string
		mode os.FileMode
	}{{filepath.Dir(dir), 0o700}, {dir, 0o700}, {path, 0o600}} {
		fi, err := os.Stat(c.p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got&^c.mode != 0 {
			t.Errorf("%s has mode %o, want at most %o", c.p, got, c.mode)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "plain-file")
	if err := os.WriteFile(file, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	notDB := filepath.Join(dir, "not-a-database.sqlite")
	if err := os.WriteFile(notDB, []byte(strings.Repeat("this is not a SQLite file\n", 200)), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, c := range []struct {
		name, path, want string
		is               error
	}{
		{"relative", "rate-limit.sqlite", "is relative", limiter.ErrInvalidArgument},
		{"dot relative", "./x/rate-limit.sqlite", "is relative", limiter.ErrInvalidArgument},
		{"tilde", "~/rate-limit.sqlite", "~ is not expanded", limiter.ErrInvalidArgument},
		{"empty", "", "empty path", limiter.ErrInvalidArgument},
		{"parent is a file", filepath.Join(file, "sub", "rate-limit.sqlite"), "a parent is a file", nil},
		{"file in a file", filepath.Join(file, "rate-limit.sqlite"), "a parent is a file", nil},
		{"a folder", dir, "is a folder", nil},
		{"not SQLite", notDB, "is not a SQLite database", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, err := sqlite.New(ctx, c.path)
			if err == nil {
				l.Close()
				t.Fatalf("New(%q) succeeded", c.path)
			}
			if !strings.Contains(err.Error(), c.want) || (c.is != nil && !errors.Is(err, c.is)) {
				t.Fatalf("New(%q): %v; want an error containing %q (matching %v)", c.path, err, c.want, c.is)
			}
		})
	}
	if b, err := os.ReadFile(notDB); err != nil || !strings.HasPrefix(string(b), "this is not") {
		t.Errorf("the file that is not SQLite was changed: %v", err)
	}
}

func TestURL(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	t.Setenv("HOME", dir)
	def, err := sqlite.DefaultPath()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, ".tradingstrategy", "lighter", "rate-limit.sqlite"); def != want {
		t.Fatalf("DefaultPath() = %q, want %q", def, want)
	}
	for _, c := range []struct {
		url, file, wantErr string
	}{
		{url: "sqlite://", file: def},
		{url: "sqlite:///" + filepath.Join(dir, "x", "a.sqlite"), file: filepath.Join(dir, "x", "a.sqlite")},
		{url: "sqlite://" + filepath.Join(dir, "b%3Fc.sqlite") + "?busy_timeout=2s&cleanup_interval=10s", file: filepath.Join(dir, "b?c.sqlite")},
		{url: "SQLITE://" + filepath.Join(dir, "d.sqlite"), file: filepath.Join(dir, "d.sqlite")},
		{url: "sqlite://~/rate-limit.sqlite", wantErr: "~ is not expanded"},
		{url: "sqlite://host/tmp/x.sqlite", wantErr: "names a host"},
		{url: "sqlite://user:secret@host/x", wantErr: "names a host"},
		{url: "sqlite:rate-limit.sqlite", wantErr: "relative path"},
		{url: "sqlite:///tmp/x.sqlite?mode=ro", wantErr: `unknown option "mode"`},
		{url: "sqlite:///tmp/x.sqlite?busy_timeout=soon", wantErr: "must be a positive duration"},
		{url: "sqlite:///tmp/x.sqlite?cleanup_interval=-1s", wantErr: "must be a positive duration"},
	} {
		t.Run(c.url, func(t *testing.T) {
			l, err := limiter.Open(ctx, c.url)
			if c.wantErr != "" {
				if err == nil {
					l.Close()
					t.Fatalf("Open(%q) succeeded, want an error containing %q", c.url, c.wantErr)
				}
				if !strings.Contains(err.Error(), c.wantErr) || !errors.Is(err, limiter.ErrInvalidArgument) {
					t.Fatalf("Open(%q): %v; want ErrInvalidArgument containing %q", c.url, err, c.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Fatalf("Open(%q): the error shows the password: %v", c.url, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open(%q): %v", c.url, err)
			}
			defer l.Close()
			if _, err := l.AllowN(ctx, "k", limiter.PerSecond(1), 1); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(c.file); err != nil {
				t.Fatalf("Open(%q) did not use %s: %v", c.url, c.file, err)
			}
		})
	}
}

// TestClosedCancel: a reservation given back after its handle was
// released is a no-op, not a panic.
func TestCancelAfterRelease(t *testing.T) {
	clk := newFakeClock()
	path := filepath.Join(t.TempDir(), "rate-limit.sqlite")
	l, err := sqlite.New(context.Background(), path, sqlite.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	lim := limiter.Limit{Rate: 1, Period: 50 * time.Millisecond, Burst: 1}
	rs := make([]*limiter.Reservation, 2)
	for i := range rs {
		if rs[i], err = l.ReserveN(ctx, "k", lim, 1, time.Second); err != nil || !rs[i].OK {
			t.Fatalf("reservation %d: %+v, %v", i, rs[i], err)
		}
	}
	start := time.Now()
	if err := l.Close(); err != nil { // a ReserveN outside Wait is not pinned: no wait
		t.Fatal(err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("Close waited %s for a 50 ms reservation", el)
	}
	if err := rs[1].Cancel(ctx); err != nil && !errors.Is(err, limiter.ErrClosed) {
		t.Fatalf("Cancel after Close: %v", err)
	}
}

// TestModel compares random sequences on one SQLite file with the
// reference model (limitertest.RunModel). The injected clock steps back
// only within clockSlack (1 s), which the store obeys exactly; a longer
// step back shifts the rows (rebase: TestClockStepBack), which the model
// does not follow.
func TestModel(t *testing.T) {
	limitertest.RunModel(t, harness, limitertest.ModelOptions{MaxBack: time.Second})
}

// TestModelConcurrent is RunModelConcurrent on one SQLite file.
func TestModelConcurrent(t *testing.T) {
	limitertest.RunModelConcurrent(t, harness, limitertest.ModelOptions{})
}

// TestModelObserved is TestModel with an Observer, which takes every
// request through the store's Do (the batch path) instead of its
// one-request shortcuts.
func TestModelObserved(t *testing.T) {
	limitertest.RunModel(t, func(tb testing.TB) limitertest.Harness {
		clk := newFakeClock()
		path := filepath.Join(tb.TempDir(), "model.db")
		obs := limiter.ObserverFunc(func(context.Context, limiter.Event) {})
		return limitertest.Harness{
			Open: func(t testing.TB) limiter.Limiter {
				l, err := sqlite.New(context.Background(), path, sqlite.WithClock(clk.Now), sqlite.WithObserver(obs))
				if err != nil {
					t.Fatal(err)
				}
				return l
			},
			Advance: clk.Advance,
		}
	}, limitertest.ModelOptions{MaxBack: time.Second})
}
