package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/redis"
)

// TestFloorOutlivesOtherHandlesReset pins what TestModelMiniredis found
// with two handles: a handle holding a slot, another handle's Reset, then a
// lone AllowN (redis_rate's own script, whose value carries no epoch, so
// that the Reset's epoch is gone): the first handle's floor (floor.go)
// cannot tell this from lost data, and its next reservation goes after its
// pre-Reset slot (Delay 2m) where the model, deciding on the key as it
// is, gives 1m. Conservative (no over-admission), left as designed; the
// model runs Redis on one handle for it.
func TestFloorOutlivesOtherHandlesReset(t *testing.T) {
	m := startMini(t)
	a, b := open(t, m.Addr(), redis.WithPrefix("f:")), open(t, m.Addr(), redis.WithPrefix("f:"))
	ctx := context.Background()
	lim := limiter.Limit{Rate: 1, Period: time.Minute, Burst: 1}
	for i, want := range []time.Duration{0, time.Minute} {
		r, err := b.ReserveN(ctx, "k", lim, 1, 10*time.Minute)
		if err != nil || !r.OK || r.Delay != want {
			t.Fatalf("reserve %d: %+v %v, want Delay %s", i, r, err, want)
		}
	}
	if err := a.Reset(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if res, err := a.AllowN(ctx, "k", lim, 1); err != nil || !res.Allowed {
		t.Fatalf("AllowN after Reset: %+v %v", res, err)
	}
	r, err := b.ReserveN(ctx, "k", lim, 1, 10*time.Minute)
	if err != nil || !r.OK || r.Delay != 2*time.Minute {
		t.Fatalf("reserve after the other handle's Reset and an AllowN: %+v %v, want Delay 2m0s (the floor)", r, err)
	}
}
