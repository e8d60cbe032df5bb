package redis_test

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/redis"
)

// TestClockIsRedisTime: the answers follow Redis's TIME, never the client's
// clock. The same sequence runs against servers whose clocks are minutes and
// hours away from this process's, and gives the same answers; moving only
// the server's clock refills the bucket; and the stored tat is Redis's time.
// A backend using the local clock would see the key full or empty depending
// on the skew.
func TestClockIsRedisTime(t *testing.T) {
	ctx := context.Background()
	lim := limiter.Limit{Rate: 1, Period: time.Second, Burst: 2}
	var first string
	for _, skew := range []time.Duration{0, -7 * time.Minute, 7 * time.Minute, -3 * time.Hour, 26 * time.Hour} {
		m := startMini(t)
		serverNow := time.Now().Add(skew).Truncate(time.Second)
		m.SetTime(serverNow)
		m.now = serverNow
		l := open(t, m.Addr())
		var log string
		step := func(format string, args ...any) { log += fmt.Sprintf(format, args...) + "\n" }
		for i := range 3 {
			r, err := l.AllowN(ctx, "k", lim, 1)
			if err != nil {
				t.Fatal(err)
			}
			step("allow %d: %+v", i, r)
		}
		r, err := l.ReserveN(ctx, "k", lim, 1, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		step("reserve: OK=%v Delay=%s Remaining=%d ResetAfter=%s", r.OK, r.Delay, r.Remaining, r.ResetAfter)
		// The stored tat is the server's now + 3 intervals (burst 2
		// taken, then one reserved), in seconds since 2017-01-01.
		v, err := m.Get(redis.Key("", "k"))
		if err != nil {
			t.Fatal(err)
		}
		secs, _ := strconv.ParseFloat(v, 64)
		want := float64(serverNow.Add(3*time.Second).Unix()-1483228800) + 0
		if math.Abs(secs-want) > 1e-6 {
			t.Fatalf("skew %s: stored tat %q, want %.6f (server time + 3 s since 2017)", skew, v, want)
		}
		st, err := l.Status(ctx, "k", lim)
		if err != nil {
			t.Fatal(err)
		}
		step("status: %+v", st)
		m.Advance(3 * time.Second) // the server's clock only
		st, err = l.Status(ctx, "k", lim)
		if err != nil {
			t.Fatal(err)
		}
		step("status after the server's clock moved 3 s: %+v", st)
		if st.Remaining != 2 {
			t.Errorf("skew %s: moving the server's clock 3 s did not refill the bucket: %+v", skew, st)
		}
		l.Close()
		if first == "" {
			first = log
			t.Logf("answers:\n%s", log)
		} else if log != first {
			t.Errorf("with the server's clock %s away, the answers changed:\n%s\nwant:\n%s", skew, log, first)
		}
	}
}
