package integration

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/alicebob/miniredis/v2/server"
	goredis "github.com/redis/go-redis/v9"
)

// TestClockSkew runs the fleet on a Redis (miniredis, in a process of its
// own) whose clock is hours away from the clocks of the workers and of the
// API: ahead in one case, behind in the other, running at the real rate
// from that offset. The limit is kept on
// Redis's TIME alone, so decisions and the bound are the same as without
// skew: no 429, no window over the limit, at least 99 % of the budget
// (checkBudget, checkUsage).
// Its TIME is set before every command (see skewClock).
//
// What is injected, and what is not: the store's clock disagrees with
// every process; the worker processes' own wall clocks cannot be moved one
// by one from a test (Go reads CLOCK_REALTIME through the vDSO, which
// LD_PRELOAD tools such as libfaketime do not reach, and Linux time
// namespaces offset only the monotonic clocks), and the Redis backend has
// no clock input to fake: it sends no client time to Redis. A backend
// that used the workers' clocks would here see every key hours full or
// hours empty.
func TestClockSkew(t *testing.T) {
	for _, skew := range []time.Duration{3*time.Hour + 7*time.Minute, -(2*time.Hour + 41*time.Minute)} {
		name := "ahead"
		if skew < 0 {
			name = "behind"
		}
		t.Run(name, func(t *testing.T) {
			if workerChild(t) {
				return
			}
			t.Parallel()
			addr := startMiniredisProc(t, skew)
			srv := newAPI(t)
			const dur = 5 * time.Second
			f := startFleet(t, srv, "redis://"+addr+"/0", 3, dur, func(s *workerSpec) { s.StoreSkew = skew })
			rs := f.wait()
			s := f.checkAccounted(rs, reasonRunEnded)
			f.checkBudget(rs)
			f.checkUsage(rs, 0, dur)
			// The stored tat is Redis's time (seconds since 2017-01-01,
			// redis_rate's encoding): skewed, as the store's clock is.
			rc := goredis.NewClient(&goredis.Options{Addr: addr})
			defer rc.Close()
			got, err := rc.Get(context.Background(), "rate:{fleet}").Result()
			if err != nil {
				t.Fatal(err)
			}
			tat, _ := strconv.ParseFloat(got, 64)
			epoch := time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC)
			if want := time.Now().Add(skew).Sub(epoch).Seconds(); math.Abs(tat-want) > 5 {
				t.Errorf("stored tat %.3f s since 2017, want about %.3f (the store's skewed clock)", tat, want)
			}
			t.Logf("Redis clock %s: %s; stored tat %s", fmtSkew(skew), s, got)
		})
	}
}

func fmtSkew(d time.Duration) string {
	if d < 0 {
		return fmt.Sprintf("%s behind", -d)
	}
	return fmt.Sprintf("%s ahead", d)
}

// skewClock makes m's clock (TIME, in scripts too) run skew away from this
// host's: it is set just before every script, never backwards, so that a
// script reads a fresh time; every decision of the limiter is a script. (A ticker setting it every millisecond leaves
// it stale by however long the ticker is descheduled on a loaded machine,
// which delays the slots granted meanwhile.)
func skewClock(m *miniredis.Miniredis, skew time.Duration) {
	var mu sync.Mutex
	var last time.Time
	set := func() {
		mu.Lock()
		defer mu.Unlock()
		if now := time.Now().Add(skew); now.After(last) {
			last = now
			m.SetTime(now)
		}
	}
	set()
	m.Server().SetPreHook(func(_ *server.Peer, cmd string, _ ...string) bool {
		// Scripts only: the commands a script calls come through here
		// too, with m locked, where SetTime would deadlock.
		if strings.HasPrefix(cmd, "EVAL") {
			set()
		}
		return false
	})
}
