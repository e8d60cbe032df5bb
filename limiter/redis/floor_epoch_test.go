package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
)

// TestLostDataStaleEpochFloor: after two Resets, a handle whose queued
// slots were taken under the first Reset's epoch writes the lost key first;
// the floor of a handle whose slots were taken under the second Reset's
// epoch must still apply: its next slot comes after the ones it holds.
func TestLostDataStaleEpochFloor(t *testing.T) {
	m := startMini(t)
	a, b, c := open(t, m.Addr()), open(t, m.Addr()), open(t, m.Addr())
	defer a.Close()
	defer b.Close()
	defer c.Close()
	ctx := context.Background()
	lim := limiter.Limit{Rate: 1, Period: 10 * time.Second, Burst: 1}
	if err := c.Reset(ctx, "k"); err != nil { // epoch e1
		t.Fatal(err)
	}
	for range 3 { // a holds 0, 10, 20 s under e1: a's floor
		reserveDelay(t, a, "k", lim)
	}
	if err := c.Reset(ctx, "k"); err != nil { // epoch e2
		t.Fatal(err)
	}
	for i := range 6 { // b holds 0 .. 50 s under e2: b's floor
		if _, d := reserveDelay(t, b, "k", lim); d != time.Duration(i)*10*time.Second {
			t.Fatalf("b's slot %d after the Reset in %s", i, d)
		}
	}
	m.FlushAll()
	// a writes the lost key first (its floor: after its own slots).
	if _, d := reserveDelay(t, a, "k", lim); d != 30*time.Second {
		t.Fatalf("a's slot after the loss in %s, want 30s", d)
	}
	if _, d := reserveDelay(t, b, "k", lim); d < 60*time.Second {
		t.Fatalf("b's slot after the loss in %s: b holds slots up to 50s (its queued waiters), so this slot is given twice; want >= 60s", d)
	}
}
