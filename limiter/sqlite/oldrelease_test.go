package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/gcra"
	"github.com/sharedlimit/sharedlimit/internal/slotbook"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/driver"
	"github.com/sharedlimit/sharedlimit/limiter/sqlite"
)

// oldWorker acts as a worker of the previous release (5a4cc38) on a file:
// its statements as they were (no tok), its rebase, its value-compare
// cancel.
type oldWorker struct {
	db  *sql.DB
	now func() time.Time
}

func newOldWorker(t *testing.T, path string, now func() time.Time) *oldWorker {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return &oldWorker{db: db, now: now}
}

// reserve is the previous release's ReserveN: it returns the stored tat
// (for its cancel) and the delay, ok false when refused.
func (w *oldWorker) reserve(t *testing.T, key string, lim limiter.Limit, maxWait time.Duration) (tat int64, delay time.Duration, ok bool) {
	t.Helper()
	ctx := context.Background()
	c, err := w.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	var old, at int64
	err = c.QueryRowContext(ctx, "SELECT tat, at FROM sharedlimit_gcra_v1 WHERE key = ?1", key).Scan(&old, &at)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		t.Fatal(err)
	}
	now := w.now().UnixMicro()
	eff, newAt := old, max(at, now)
	if at-now > 1_000_000 {
		eff, newAt = old-(at-now), now
	}
	T := lim.Interval().Microseconds()
	var d driver.Answer
	next := []int64{0}
	if d.OK = gcra.Take([]int64{eff}, now, []driver.Need{{Key: key, N: 1, T: T, Tau: T * int64(lim.Burst)}}, int64(maxWait/time.Microsecond), &d, next); d.OK {
		if _, err := c.ExecContext(ctx, "INSERT INTO sharedlimit_gcra_v1 (key, tat, at) VALUES (?1, ?2, ?3) ON CONFLICT (key) DO UPDATE SET tat = excluded.tat, at = excluded.at",
			key, next[0], newAt); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	return next[0], time.Duration(d.Wait) * time.Microsecond, d.OK
}

// cancel is the previous release's cancel: back by n*T when tat is still
// the one it stored.
func (w *oldWorker) cancel(t *testing.T, key string, tat int64, lim limiter.Limit) {
	t.Helper()
	if _, err := w.db.Exec("UPDATE sharedlimit_gcra_v1 SET tat = tat - ?2 WHERE key = ?1 AND tat = ?3", key, lim.Interval().Microseconds(), tat); err != nil {
		t.Fatal(err)
	}
}

// TestMixedWritersNoSlotTwice: on one file, two handles of this release
// and a worker of the previous release take slots on one key at random;
// the handles and the old worker cancel queued reservations in any order;
// this release Holds and Resets; the clock moves (forward). No slot
// granted since the last Reset comes within one interval (Burst 1) of
// another that was not given back, and no cancel of a reservation from
// before a Hold or a Reset gives anything back. The old worker does not
// cancel reservations from before a Reset (its cancels compare values: the
// ABA README's "Rolling deploys" names).
func TestMixedWritersNoSlotTwice(t *testing.T) {
	for seed := range 20 {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { mixedWriters(t, uint64(seed)) })
	}
}

func mixedWriters(t *testing.T, seed uint64) {
	ctx := context.Background()
	clk := newFakeClock()
	path := filepath.Join(t.TempDir(), "mixed.sqlite")
	news := []*sqlite.Limiter{open(t, path, sqlite.WithClock(clk.Now)), open(t, path, sqlite.WithClock(clk.Now))}
	probe := open(t, path, sqlite.WithClock(clk.Now))
	old := newOldWorker(t, path, clk.Now)
	const k = "k"
	T := 10 * time.Second
	lim := limiter.Limit{Rate: 1, Period: T, Burst: 1}
	start := clk.Now()
	now := func() time.Duration { return clk.Now().Sub(start) }
	book := &slotbook.Book{T: t, Interval: T, Now: now, FullAfter: slotbook.FullAfter(t, probe, k, lim)}
	rng := rand.New(rand.NewPCG(12, seed))
	for step := range 200 {
		switch op := rng.IntN(100); {
		case op < 35:
			r, err := news[rng.IntN(len(news))].ReserveN(ctx, k, lim, 1, 100*T)
			if err != nil {
				t.Fatal(err)
			}
			if r.OK {
				at := now() + r.Delay
				book.Add(&slotbook.Slot{R: r, Lo: at, At: at, Queued: r.Delay > 0}, "ReserveN", step)
			}
		case op < 55:
			if tat, delay, ok := old.reserve(t, k, lim, 100*T); ok {
				undo := func() error { old.cancel(t, k, tat, lim); return nil }
				at := now() + delay
				book.Add(&slotbook.Slot{Undo: undo, Lo: at, At: at, Queued: delay > 0}, "old ReserveN", step)
			}
		case op < 88:
			book.CancelOne(ctx, rng, step)
		case op < 92:
			book.Hold(ctx, step, news[rng.IntN(len(news))], k, lim, time.Duration(rng.IntN(3))*T)
		case op < 95:
			book.Reset(ctx, step, news[rng.IntN(len(news))], k)
		default:
			clk.Advance(time.Duration(rng.Int64N(T.Microseconds()/2)) * time.Microsecond)
		}
	}
}
