package redis_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sharedlimit/sharedlimit/internal/redistest"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/redis"
)

// TestWrongTypeIsPermanent: a key of another type under our key name
// (WRONGTYPE) is a permanent error naming the key, returned at once, not
// "store unavailable" retried for 30 s (issue 13).
func TestWrongTypeIsPermanent(t *testing.T) {
	client, l, ctx := wrongTypeRig(t)
	rkey := redis.Key("app:", "k")
	if err := client.RPush(ctx, rkey, "someone else's list").Err(); err != nil {
		t.Fatal(err)
	}
	lim := limiter.PerSecond(10)
	calls := map[string]func() error{
		"AllowN": func() error { _, err := l.AllowN(ctx, "k", lim, 1); return err },
		"ReserveN": func() error {
			_, err := l.ReserveN(ctx, "k", lim, 1, time.Second)
			return err
		},
		"Wait":   func() error { return limiter.Wait(ctx, l, "k", lim, 1) },
		"Hold":   func() error { return l.Hold(ctx, "k", lim, time.Second) },
		"Status": func() error { _, err := l.Status(ctx, "k", lim); return err },
	}
	for name, call := range calls {
		err := call()
		var wt *redis.WrongTypeError
		switch {
		case !errors.As(err, &wt) || wt.Key != rkey:
			t.Errorf("%s: %v, want a *redis.WrongTypeError naming %q", name, err, rkey)
		case errors.Is(err, limiter.ErrUnavailable) || !limiter.IsPermanent(err) || !errors.Is(err, limiter.ErrInvalidArgument):
			t.Errorf("%s: %v: want permanent, ErrInvalidArgument, not ErrUnavailable", name, err)
		case !strings.Contains(err.Error(), rkey):
			t.Errorf("%s: %q does not name the key", name, err)
		}
	}
	if ctx.Err() != nil {
		t.Fatal("the calls were retried until the deadline")
	}
}

// TestWrongTypeComposite: a request of several needs one of whose keys
// holds another type fails with a permanent *WrongTypeError naming the
// keys, and leaves that value (and the other key) alone.
func TestWrongTypeComposite(t *testing.T) {
	client, l, ctx := wrongTypeRig(t)
	a, b := "{t}:a", "{t}:b"
	if err := client.RPush(ctx, redis.Key("app:", b), "someone else's list").Err(); err != nil {
		t.Fatal(err)
	}
	lim := limiter.PerSecond(10)
	needs := []limiter.Need{{Key: a, Limit: lim, N: 1}, {Key: b, Limit: lim, N: 1}}
	for name, call := range map[string]func() error{
		"Allow":   func() error { _, err := l.Allow(ctx, needs...); return err },
		"Reserve": func() error { _, err := l.Reserve(ctx, time.Second, needs...); return err },
	} {
		err := call()
		var wt *redis.WrongTypeError
		if !errors.As(err, &wt) || !strings.Contains(wt.Key, redis.Key("app:", b)) || !limiter.IsPermanent(err) {
			t.Errorf("%s: %v, want a permanent *redis.WrongTypeError naming %q", name, err, redis.Key("app:", b))
		}
	}
	if typ := client.Type(ctx, redis.Key("app:", b)).Val(); typ != "list" {
		t.Errorf("the list became a %s", typ)
	}
	if n := client.Exists(ctx, redis.Key("app:", a)).Val(); n != 0 {
		t.Error("the failed request stored the other key")
	}
}

// wrongTypeRig starts a real Redis and returns a client on it, a Limiter
// with the prefix "app:" and a context of 10 s, all ended with the test.
func wrongTypeRig(t *testing.T) (*goredis.Client, *redis.Limiter, context.Context) {
	srv := redistest.Start(t, redistest.Config{})
	client := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { client.Close() })
	l, err := redis.New(client, redis.WithPrefix("app:"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return client, l, ctx
}
