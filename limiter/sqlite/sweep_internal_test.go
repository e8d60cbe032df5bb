package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/testutil"
)

// TestSweepLease: one handle of those on a file sweeps at a time (the
// others' claims skip while its lease runs), a lease that was not renewed
// for leaseUS passes to another handle and the first one's next step finds
// it lost, a pass that ended keeps the others from sweeping for a cleanup
// interval, and a lease further ahead than leaseUS (the clock went back)
// counts as expired.
func TestSweepLease(t *testing.T) {
	clk := testutil.NewClock(time.Unix(1_700_000_000, 0))
	path := filepath.Join(t.TempDir(), "rate-limit.sqlite")
	hs := make([]*store, 2)
	for i := range hs {
		l, err := New(context.Background(), path, WithClock(clk.Now), WithCleanupInterval(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		// No call is made: the sweepers stay idle and the test drives
		// the steps on their connections.
		if err := l.s.openSweep(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(l.s.closeSweep)
		hs[i] = l.s
	}
	a, b := hs[0], hs[1]
	step := func(s *store, f func(*store) func(int64) (bool, error)) bool {
		t.Helper()
		switch err := s.sweepTx(f(s)); {
		case err == nil:
			return true
		case errors.Is(err, errStop):
			return false
		default:
			t.Fatal(err)
			return false
		}
	}
	claim := func(s *store) func(int64) (bool, error) { return s.claimLease }
	renew := func(s *store) func(int64) (bool, error) { return s.renewLease }
	done := func(s *store) func(int64) (bool, error) {
		return func(now int64) (bool, error) {
			_, err := s.sw.st.done.ExecContext(context.Background(), s.sw.id, now)
			return err == nil, err
		}
	}
	for _, c := range []struct {
		what    string
		advance time.Duration
		s       *store
		f       func(*store) func(int64) (bool, error)
		want    bool
	}{
		{"a claims the free lease", 0, a, claim, true},
		{"b skips while a holds it", 0, b, claim, false},
		{"a renews it", 5 * time.Second, a, renew, true},
		{"b skips before it expires", 9 * time.Second, b, claim, false},
		{"b takes it once expired", 2 * time.Second, b, claim, true},
		{"a finds it lost", 0, a, renew, false},
		{"a skips while b holds it", 0, a, claim, false},
		{"b ends its pass", 0, b, done, true},
		{"a skips within a cleanup interval of that", 59 * time.Second, a, claim, false},
		{"a claims after it", time.Second, a, claim, true},
		{"b takes a lease 1 h ahead (the clock went back)", -time.Hour, b, claim, true},
		{"a finds it lost", 0, a, renew, false},
	} {
		clk.Advance(c.advance)
		if got := step(c.s, c.f); got != c.want {
			t.Fatalf("%s: %v, want %v", c.what, got, c.want)
		}
	}
}
