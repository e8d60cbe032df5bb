package redis_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/limitertest"
)

// traffic is a go-redis hook counting what a client sends: trips (round
// trips: a command alone or a pipeline), commands (each of a pipeline's
// too), scripts (EVAL, EVALSHA and their _RO forms, alone or in a
// pipeline) and evals (plain EVAL sent alone: go-redis's retry after
// NOSCRIPT).
type traffic struct{ trips, commands, scripts, evals atomic.Int64 }

var _ goredis.Hook = (*traffic)(nil)

func (h *traffic) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h *traffic) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		h.trips.Add(1)
		h.commands.Add(1)
		h.script(cmd)
		if cmd.Name() == "eval" {
			h.evals.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (h *traffic) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		h.trips.Add(1)
		h.commands.Add(int64(len(cmds)))
		for _, cmd := range cmds {
			h.script(cmd)
		}
		return next(ctx, cmds)
	}
}

// script counts cmd when it runs a script.
func (h *traffic) script(cmd goredis.Cmder) {
	if strings.HasPrefix(strings.ToLower(cmd.Name()), "eval") {
		h.scripts.Add(1)
	}
}

// dumpWorst logs the admissions around the fullest window of length w, for
// a failure message.
func dumpWorst(t *testing.T, times []time.Duration, w time.Duration) {
	ts, bi, best := limitertest.FullestWindow(times, w)
	lo, hi := max(0, bi-3), min(len(ts), bi+best+3)
	for k := lo; k < hi; k++ {
		t.Logf("%d %v", k, ts[k])
	}
}

// openURL opens a Limiter on u that the test closes itself.
func openURL(t *testing.T, u string) limiter.Limiter {
	t.Helper()
	l, err := limiter.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// must fails t on err.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// maxIn is the most of times in one window w.
func maxIn(times []time.Duration, w time.Duration) int { return limitertest.MaxInWindow(times, w) }

// loopUntil starts n goroutines on wg, each calling step until done is
// closed or step returns false.
func loopUntil(wg *sync.WaitGroup, n int, done <-chan struct{}, step func() bool) {
	for range n {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				if !step() {
					return
				}
			}
		})
	}
}
