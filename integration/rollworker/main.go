// Command rollworker is the worker of the rolling-deploy test
// (integration's TestRollingDeploy): it uses only the limiter API of the
// first release, so that the same source builds against that release and
// against this one. It takes tokens of one key under load, by Wait (some of
// them cancelled while they wait, so that queued slots are given back) and
// by AllowN, and prints one "ADMIT <Unix ns>" line per admission.
//
//	rollworker -url sqlite:///tmp/x.sqlite -key k -rate 20 -goroutines 4 -until <Unix ns>
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
	_ "github.com/sharedlimit/sharedlimit/limiter/redis"
	_ "github.com/sharedlimit/sharedlimit/limiter/sqlite"
)

func main() {
	url := flag.String("url", "", "limiter URL")
	key := flag.String("key", "rolling", "limit key")
	rate := flag.Int("rate", 20, "requests per second (burst 1)")
	goroutines := flag.Int("goroutines", 4, "concurrent callers")
	until := flag.Int64("until", 0, "Unix ns: no call starts after it")
	flag.Parse()
	if err := run(*url, *key, *rate, *goroutines, time.Unix(0, *until)); err != nil {
		fmt.Fprintln(os.Stderr, "rollworker:", err)
		os.Exit(1)
	}
}

func run(url, key string, rate, goroutines int, until time.Time) error {
	if url == "" || rate <= 0 || goroutines <= 0 || time.Until(until) > time.Minute {
		return fmt.Errorf("bad arguments: url %q, rate %d, goroutines %d, until %s", url, rate, goroutines, until)
	}
	l, err := limiter.Open(context.Background(), url)
	if err != nil {
		return err
	}
	defer l.Close()
	lim := limiter.Limit{Rate: rate, Period: time.Second, Burst: 1}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	var mu sync.Mutex
	var firstErr error
	admit := func() {
		mu.Lock()
		fmt.Fprintf(out, "ADMIT %d\n", time.Now().UnixNano())
		mu.Unlock()
	}
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(until) {
				if g == 0 {
					r, err := l.AllowN(context.Background(), key, lim, 1)
					if err != nil {
						fail(err)
						return
					}
					if r.Allowed {
						admit()
					} else {
						time.Sleep(r.RetryAfter)
					}
					continue
				}
				// A Wait that ends at the run's end or, one time in
				// three, after a random part of a queue's length:
				// then its slot is given back.
				ctx, cancel := context.WithDeadline(context.Background(), until)
				stop := func() bool { return false }
				if rand.IntN(3) == 0 {
					stop = time.AfterFunc(time.Duration(rand.Int64N(int64(3*time.Second/time.Duration(rate)))), cancel).Stop
				}
				err := limiter.Wait(ctx, l, key, lim, 1)
				stop()
				cancel()
				switch {
				case err == nil:
					admit()
				case errors.Is(err, context.DeadlineExceeded):
					return // the slot comes after the run's end
				case !errors.Is(err, context.Canceled):
					fail(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}
