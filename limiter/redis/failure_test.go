package redis_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sharedlimit/sharedlimit/internal/redistest"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/redis"
)

// evalCounter counts plain EVAL commands: go-redis sends one after an
// EVALSHA fails with NOSCRIPT.
type evalCounter struct {
	scriptCounter
	evals atomic.Int64
}

func (h *evalCounter) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		if cmd.Name() == "eval" {
			h.evals.Add(1)
		}
		return next(ctx, cmd)
	}
}

// TestScriptFlushMidLoad: SCRIPT FLUSH every few milliseconds while every
// call runs in a loop: the scripts are reloaded and no error reaches the
// caller.
func TestScriptFlushMidLoad(t *testing.T) {
	srv := redistest.Start(t, redistest.Config{})
	c := client(t, srv.Addr())
	hook := &evalCounter{}
	c.AddHook(hook)
	l, err := redis.New(c)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	admin := client(t, srv.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var flushes, calls atomic.Int64
	wg.Go(func() {
		for ctx.Err() == nil {
			if err := admin.ScriptFlush(context.Background()).Err(); err != nil {
				t.Error(err)
				return
			}
			flushes.Add(1)
			time.Sleep(5 * time.Millisecond)
		}
	})
	lim := limiter.Limit{Rate: 1_000_000, Period: time.Second, Burst: 1000}
	bg := context.Background()
	for g := range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				var err error
				switch g % 4 {
				case 0:
					_, err = l.AllowN(bg, "flush", lim, 1)
				case 1:
					var r *limiter.Reservation
					if r, err = l.ReserveN(bg, "flush", lim, 1, time.Second); err == nil {
						err = r.Cancel(bg)
					}
				case 2:
					_, err = l.Status(bg, "flush", lim)
				case 3:
					err = l.Hold(bg, "flush-hold", lim, time.Microsecond)
				}
				if err != nil {
					t.Errorf("call during SCRIPT FLUSH: %v", err)
					return
				}
				calls.Add(1)
			}
		})
	}
	wg.Wait()
	if err := l.Reset(bg, "flush"); err != nil {
		t.Errorf("Reset: %v", err)
	}
	t.Logf("%d calls, %d flushes, %d scripts reloaded with EVAL", calls.Load(), flushes.Load(), hook.evals.Load())
	if hook.evals.Load() == 0 {
		t.Fatalf("no script was ever reloaded: the flushes did not hit the load")
	}
}

// silentServer accepts connections and never answers.
func silentServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}

// TestEveryCallHasATimeout: against a server that never answers, every call
// fails within its timeout with ErrUnavailable, not with the caller's
// context error; and the caller's own deadline is reported as such.
func TestEveryCallHasATimeout(t *testing.T) {
	addr := silentServer(t)
	const timeout = 200 * time.Millisecond
	ctx := context.Background()
	for _, how := range []string{"URL", "client"} {
		var l limiter.Limiter
		if how == "URL" {
			var err error
			if l, err = limiter.Open(ctx, "redis://"+addr+"?timeout=200ms&max_retries=-1&unavailable_after=0"); err != nil {
				t.Fatal(err)
			}
		} else {
			l = open(t, addr, redis.WithTimeout(timeout), redis.WithPolicy(limiter.Policy{UnavailableAfter: -1}))
		}
		for i, err := range everyCallTimed(t, l, 5*timeout) {
			if !errors.Is(err, limiter.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s: call %d: %v, want ErrUnavailable (and not the caller's DeadlineExceeded)", how, i, err)
			}
		}
		// The caller's own context ending is the caller's error.
		cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		_, err := l.AllowN(cctx, "k", limiter.PerSecond(1), 1)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, limiter.ErrUnavailable) {
			t.Errorf("%s: AllowN with a 50 ms context: %v, want the context's DeadlineExceeded", how, err)
		}
		l.Close()
	}
}

func everyCallTimed(t *testing.T, l limiter.Limiter, bound time.Duration) []error {
	t.Helper()
	start := time.Now()
	errs := everyCall(l)
	if el := time.Since(start); el > time.Duration(len(errs))*bound {
		t.Errorf("%d calls to a silent server took %s, want each bounded by the timeout", len(errs), el)
	}
	return errs
}

func TestNewRejects(t *testing.T) {
	if _, err := redis.New(nil); !errors.Is(err, limiter.ErrInvalidArgument) {
		t.Errorf("New(nil): %v", err)
	}
	c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	if _, err := redis.New(c, redis.WithTimeout(0)); !errors.Is(err, limiter.ErrInvalidArgument) {
		t.Errorf("New with timeout 0: %v", err)
	}
}
