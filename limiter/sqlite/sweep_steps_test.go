package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/sqlite"
)

// TestSweepStepsBounded: a pass over idle rows takes a step per chunk of
// at most SweepChunk keys and SweepChunkBytes of them (one key at least),
// pauses at least SweepMinPause between steps, and ends once the free
// pages are given back or a step gives none back: a file made by another
// program keeps auto_vacuum=NONE, which no pragma changes once it has
// tables (before, such a file ran 4,096 empty steps a pass, 2 ms apart).
func TestSweepStepsBounded(t *testing.T) {
	// A few hundred rows a transaction at most (issue 20): the chunks are
	// at least n/300 steps, whatever SweepChunk says.
	const shortRows, longRows, fewHundred = 5000, 40, 300
	long := strings.Repeat("x", sweepLongKey)
	for _, c := range []struct {
		name       string
		noVacuum   bool
		n          int
		key        string // the keys' stem, printf'd with their index
		minSteps   int    // the chunks at least
		extraSteps int    // claim, free pages, end: at most
	}{
		{"new file", false, shortRows, idleKeyStem, shortRows / fewHundred, 10},
		{"file without auto_vacuum", true, shortRows, idleKeyStem, shortRows / fewHundred, 8},
		{"long keys", false, longRows, long + "%09d", longRows, 20},
	} {
		t.Run(c.name, func(t *testing.T) {
			clk := newFakeClock()
			path := filepath.Join(t.TempDir(), "s.sqlite")
			if c.noVacuum {
				db, err := sql.Open("sqlite", "file:"+path)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := db.Exec("CREATE TABLE theirs (x)"); err != nil {
					db.Close()
					t.Fatal(err)
				}
				db.Close()
			}
			l := open(t, path, sqlite.WithClock(clk.Now), sqlite.WithCleanupInterval(time.Second))
			var mu sync.Mutex
			var ends []time.Time
			sqlite.SetSweepHolds(l, func(time.Duration, time.Duration) {
				mu.Lock()
				ends = append(ends, time.Now())
				mu.Unlock()
			})
			fillKeys(t, path, c.n, c.key, clk.Now().Add(-time.Hour))
			clk.Advance(2 * time.Second)
			if _, err := l.AllowN(context.Background(), "trigger", limiter.Every(time.Hour), 1); err != nil {
				t.Fatal(err)
			}
			sqlite.WaitSweep(l)
			if got := rows(t, path); got != 1 {
				t.Errorf("%d rows after the pass, want 1 (the trigger's)", got)
			}
			mu.Lock()
			defer mu.Unlock()
			if n := len(ends); n < c.minSteps || n > c.minSteps+c.extraSteps {
				t.Errorf("the pass over %d idle rows took %d steps, want %d to %d", c.n, n, c.minSteps, c.minSteps+c.extraSteps)
			}
			for i := 1; i < len(ends); i++ {
				if d := ends[i].Sub(ends[i-1]); d < sqlite.SweepMinPause {
					t.Fatalf("steps %d and %d ended %s apart, under the pause of %s", i-1, i, d, sqlite.SweepMinPause)
				}
			}
		})
	}
}

// sweepLongKey is the length of the long keys: over SweepChunkBytes, so
// that a chunk takes one.
const sweepLongKey = sqlite.SweepChunkBytes + 1000

// fillKeys writes n rows idle since at, their keys printf(stem, i), into
// the file's table in one transaction: SQLite generates them (a recursive
// CTE), so that a million take a few seconds.
func fillKeys(t testing.TB, path string, n int, stem string, at time.Time) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < ?1)
		INSERT INTO `+keysTable+` (key, tat, at, tok) SELECT printf(?3, i), ?2, ?2, 1 FROM c`, n-1, at.UnixMicro(), stem); err != nil {
		t.Fatal(err)
	}
}
