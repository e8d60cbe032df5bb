package redis_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/limitertest"
)

// scriptCounter is a go-redis hook counting round trips that run a script
// (EVAL, EVALSHA and their _RO forms).
type scriptCounter struct{ n atomic.Int64 }

var _ goredis.Hook = (*scriptCounter)(nil)

func (h *scriptCounter) DialHook(next goredis.DialHook) goredis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

func (h *scriptCounter) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		if strings.HasPrefix(strings.ToLower(cmd.Name()), "eval") {
			h.n.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (h *scriptCounter) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		for _, cmd := range cmds {
			if strings.HasPrefix(strings.ToLower(cmd.Name()), "eval") {
				h.n.Add(1)
			}
		}
		return next(ctx, cmds)
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
