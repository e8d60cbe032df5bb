package redis_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/redis"
)

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
