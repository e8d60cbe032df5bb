package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/sqlite"
)

// TestSweepKeepsRowsWithinSlack is the sequence TestModel shrank to (and
// the same with the key idle for just under the slack when the sweep
// runs): a
// reservation, the clock forward to exactly its tat (the key idle), a
// request on another key (which runs the cleanup sweep), the clock back
// 1 µs (within clockSlack, so obeyed) and a Status: the key's last token
// is not back yet. The sweep deleted the row as idle, so the key reported
// a full bucket 1 µs early (Remaining 4, FullAfter 0, where 3 and 1 µs).
func TestSweepKeepsRowsWithinSlack(t *testing.T) {
	// idle is how long the key has been idle when the sweep runs: none,
	// and just under the slack (a sweep keeping half the slack only
	// deleted that row). The clock then goes back to 1 µs before the
	// key's tat, within the slack.
	for _, idle := range []time.Duration{0, sqlite.ClockSlack - 2*time.Microsecond} {
		t.Run(idle.String(), func(t *testing.T) {
			clk := newFakeClock()
			l := open(t, filepath.Join(t.TempDir(), "l.db"), sqlite.WithClock(clk.Now))
			ctx := context.Background()
			lim := limiter.Limit{Rate: 1, Period: time.Minute, Burst: 4}
			if _, err := l.ReserveN(ctx, "a", lim, 1, 0); err != nil {
				t.Fatal(err)
			}
			clk.Advance(time.Minute + idle)
			if err := l.Reset(ctx, "b"); err != nil {
				t.Fatal(err)
			}
			sqlite.WaitSweep(l)
			clk.Advance(-idle - time.Microsecond)
			st, err := l.Status(ctx, "a", lim)
			if err != nil {
				t.Fatal(err)
			}
			if st.Remaining != 3 || st.FullAfter != time.Microsecond {
				t.Fatalf("Status after a sweep %s after the key went idle and %s back: Remaining %d FullAfter %s, want 3 and 1µs",
					idle, idle+time.Microsecond, st.Remaining, st.FullAfter)
			}
		})
	}
}
