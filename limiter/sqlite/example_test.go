package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/sqlite"
)

func Example() {
	dir, cleanup := exampleDir()
	defer cleanup()
	ctx := context.Background()

	// Every process that opens this file shares the limit. The URL form
	// "sqlite:///abs/path" does the same through limiter.Open.
	l, err := sqlite.New(ctx, filepath.Join(dir, "rate-limit.sqlite"))
	if err != nil {
		panic(err)
	}
	defer l.Close()

	limit := limiter.PerSecond(2) // Burst 1: one now, the next in 0.5 s
	for range 2 {
		r, err := l.AllowN(ctx, "host:api.example.com", limit, 1)
		if err != nil {
			panic(err)
		}
		fmt.Println(r.Allowed, r.RetryAfter.Round(100*time.Millisecond))
	}
	// Output:
	// true 0s
	// false 500ms
}

// A request of two needs, as Lighter counts a standard account: 60
// requests a minute per account, and a heavy endpoint 10 a minute of its
// own. Both are taken at one instant, or neither. The limiter is opened
// by its URL here.
func Example_composite() {
	dir, cleanup := exampleDir()
	defer cleanup()
	ctx := context.Background()
	l, err := limiter.Open(ctx, "sqlite://"+filepath.Join(dir, "rate-limit.sqlite"))
	if err != nil {
		panic(err)
	}
	defer l.Close()

	account := limiter.Need{Key: "account:42", Limit: limiter.PerMinute(60).WithBurst(60), N: 1}
	heavy := limiter.Need{Key: "account:42/sendTxBatch", Limit: limiter.PerMinute(10).WithBurst(1), N: 1}
	for range 2 {
		r, err := l.Allow(ctx, account, heavy)
		if err != nil {
			panic(err)
		}
		fmt.Println(r.Allowed, r.Binding, r.RetryAfter.Round(time.Second), r.Needs[0].Remaining)
	}
	// Output:
	// true 0 0s 59
	// false 1 6s 59
}

// exampleDir is a new temporary folder for an example's file, and the
// function that removes it.
func exampleDir() (dir string, cleanup func()) {
	dir, err := os.MkdirTemp("", "sqlite-example-")
	if err != nil {
		panic(err)
	}
	return dir, func() { os.RemoveAll(dir) }
}
