package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/sqlite"
)

// rawExec runs statements on path through a connection of its own, as a
// process of the previous release would.
func rawExec(t *testing.T, path string, qs ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range qs {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestMigratesPreviousRelease: a file made by the previous release (no tok
// column) keeps its rows and gets the column; the previous release's
// statements still run on the migrated table.
func TestMigratesPreviousRelease(t *testing.T) {
	clk := newFakeClock()
	path := filepath.Join(t.TempDir(), "rate-limit.sqlite")
	now := clk.Now().UnixMicro()
	rawExec(t, path,
		"CREATE TABLE sharedlimit_gcra_v1 (key TEXT PRIMARY KEY NOT NULL, tat INTEGER NOT NULL, at INTEGER NOT NULL) WITHOUT ROWID",
		"INSERT INTO sharedlimit_gcra_v1 (key, tat, at) VALUES ('k', "+itoa(now+10_000_000)+", "+itoa(now)+")")
	l := open(t, path, sqlite.WithClock(clk.Now))
	ctx := context.Background()
	lim := limiter.Every(time.Second)
	st, err := l.Status(ctx, "k", lim)
	if err != nil {
		t.Fatal(err)
	}
	if st.FullAfter != 10*time.Second {
		t.Fatalf("the previous release's row reads as %+v, want full in 10s", st)
	}
	// The previous release's put, cancel and reset.
	rawExec(t, path,
		"INSERT INTO sharedlimit_gcra_v1 (key, tat, at) VALUES ('k2', 1, 1) ON CONFLICT (key) DO UPDATE SET tat = excluded.tat, at = excluded.at",
		"UPDATE sharedlimit_gcra_v1 SET tat = tat - 1 WHERE key = 'k' AND tat = 0",
		"DELETE FROM sharedlimit_gcra_v1 WHERE key = 'k2'")
	if _, err := l.AllowN(ctx, "k3", lim, 1); err != nil {
		t.Fatal(err)
	}
}

// TestPreviousReleaseWritesRenewToken: writes of the previous release
// change tat without a token; the trigger gives them one, so that a
// reservation of this release whose value they rebuilt (here a Hold, then
// a clock shift back to the very tat) cannot take it for its own and give
// back below the Hold.
func TestPreviousReleaseWritesRenewToken(t *testing.T) {
	clk := newFakeClock()
	path := filepath.Join(t.TempDir(), "rate-limit.sqlite")
	l := open(t, path, sqlite.WithClock(clk.Now))
	ctx := context.Background()
	lim := limiter.Every(time.Second)
	if _, err := l.ReserveN(ctx, "k", lim, 1, time.Minute); err != nil {
		t.Fatal(err)
	}
	r, err := l.ReserveN(ctx, "k", lim, 1, time.Minute) // tat now + 2 s
	if err != nil || !r.OK {
		t.Fatalf("%+v, %v", r, err)
	}
	rawExec(t, path,
		"UPDATE sharedlimit_gcra_v1 SET tat = tat + 5000000 WHERE key = 'k'", // the previous release's Hold
		"UPDATE sharedlimit_gcra_v1 SET tat = tat - 5000000 WHERE key = 'k'") // and its shift after a step back
	if err := r.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := l.Status(ctx, "k", lim)
	if err != nil {
		t.Fatal(err)
	}
	if st.FullAfter != 2*time.Second {
		t.Fatalf("after writes of the previous release, a cancel gave back: full in %s, want 2s", st.FullAfter)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
