package redis_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/redis"
)

// TestSlot: CRC16 mod 16384 of the hash tag, with the test vector of the
// Redis Cluster specification and slots CLUSTER KEYSLOT gives (see also
// TestClusterComposite, which asks a real cluster).
func TestSlot(t *testing.T) {
	for k, want := range map[string]int{
		"123456789":             12739, // CRC16 0x31C3, the spec's vector
		"foo":                   12182,
		"bar":                   5061,
		"{user1000}.following":  redis.Slot("user1000"),
		"{user1000}.followers":  redis.Slot("user1000"),
		"foo{}{bar}":            redis.Slot("foo{}{bar}"), // an empty tag: the whole key
		"foo{{bar}}zap":         redis.Slot("{bar"),
		"foo{bar}{zap}":         redis.Slot("bar"),
		"rate:p:{acct:1}:w":     redis.Slot("acct:1"),
		"rate:{p:{acct:1}:w}":   redis.Slot("p:{acct:1"),
		"rate:{p:plain}":        redis.Slot("p:plain"),
		"":                      0,
		"{}":                    redis.Slot("{}"),
		"{a}":                   redis.Slot("a"),
		"rate:p:{account:42}:x": redis.Slot("account:42"),
	} {
		if got := redis.Slot(k); got != want {
			t.Errorf("Slot(%q) = %d, want %d", k, got, want)
		}
	}
	if redis.Slot("foo{}{bar}") == redis.Slot("bar") {
		t.Error("foo{}{bar} hashed on bar: an empty first tag must hash the whole key")
	}
}

// closedAddr is an address nothing listens on.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestCrossSlotBeforeRoundTrip: on a cluster client, and on a ring of two
// shards, a request whose keys are in different slots (tags) fails with an
// error matching ErrInvalidArgument that names the keys and says how to
// tag them, before any command is sent: the clients point at a closed port,
// and the error is not the connection's. Keys sharing a tag pass the check
// (and then fail to connect); on a single node, and on a ring of one shard,
// any keys pass it.
func TestCrossSlotBeforeRoundTrip(t *testing.T) {
	addr := closedAddr(t)
	pol := redis.WithPolicy(limiter.Policy{UnavailableAfter: -1})
	lim := limiter.Limit{Rate: 10, Period: time.Second, Burst: 10}
	mixed := []limiter.Need{{Key: "account:42:requests", Limit: lim, N: 1}, {Key: "account:42:weight", Limit: lim, N: 2}}
	tagged := []limiter.Need{{Key: "{account:42}:requests", Limit: lim, N: 1}, {Key: "{account:42}:weight", Limit: lim, N: 2}}
	if redis.Slot(redis.Key("", mixed[0].Key)) == redis.Slot(redis.Key("", mixed[1].Key)) {
		t.Fatal("the mixed keys share a slot: choose others")
	}
	type client interface {
		goredis.UniversalClient
		AddHook(goredis.Hook)
	}
	clients := map[string]client{
		"cluster": goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: []string{addr}, MaxRedirects: -1}),
		"ring":    goredis.NewRing(&goredis.RingOptions{Addrs: map[string]string{"a": addr, "b": closedAddr(t)}}),
		"node":    goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1}),
		"ring1":   goredis.NewRing(&goredis.RingOptions{Addrs: map[string]string{"a": addr}}),
	}
	ctx := context.Background()
	for name, c := range clients {
		defer c.Close()
		hook := &traffic{}
		c.AddHook(hook)
		l, err := redis.New(c, pol, redis.WithTimeout(200*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		checked := name == "cluster" || name == "ring"
		calls := map[string]func([]limiter.Need) error{
			"Allow": func(n []limiter.Need) error { _, err := l.Allow(ctx, n...); return err },
			"Reserve": func(n []limiter.Need) error {
				_, err := l.Reserve(ctx, time.Second, n...)
				return err
			},
			"WaitAll": func(n []limiter.Need) error { return limiter.WaitAll(ctx, l, n...) },
		}
		for op, call := range calls {
			sent := hook.commands.Load()
			err := call(mixed)
			sent = hook.commands.Load() - sent
			if checked {
				if !errors.Is(err, limiter.ErrInvalidArgument) || errors.Is(err, limiter.ErrUnavailable) {
					t.Errorf("%s %s of keys in two slots: %v, want ErrInvalidArgument, not ErrUnavailable", name, op, err)
				} else {
					for _, want := range []string{`"account:42:requests"`, `"account:42:weight"`, `"{account:42}:requests"`, "hash tag"} {
						if !strings.Contains(err.Error(), want) {
							t.Errorf("%s %s: %q does not say %s", name, op, err, want)
						}
					}
				}
				if sent != 0 {
					t.Errorf("%s %s: %d commands sent before the error, want none", name, op, sent)
				}
			} else if !errors.Is(err, limiter.ErrUnavailable) {
				t.Errorf("%s %s of keys in two slots: %v, want the connection's ErrUnavailable (no slot check)", name, op, err)
			}
			if err := call(tagged); !errors.Is(err, limiter.ErrUnavailable) {
				t.Errorf("%s %s of keys of one tag: %v, want the connection's ErrUnavailable", name, op, err)
			}
		}
	}
}

// TestCrossSlotRefusedWhileDown: under FailOpen and FailFallback, while
// the cluster is down and the policy decides without it, a request whose
// keys are in two slots is still refused (driver.Checker), as it is while
// the cluster answers: not admitted by the fallback or the open policy.
func TestCrossSlotRefusedWhileDown(t *testing.T) {
	lim := limiter.Limit{Rate: 10, Period: time.Second, Burst: 10}
	mixed := []limiter.Need{{Key: "account:42:requests", Limit: lim, N: 1}, {Key: "account:42:weight", Limit: lim, N: 2}}
	ctx := context.Background()
	for _, mode := range []limiter.FailureMode{limiter.FailOpen, limiter.FailFallback} {
		c := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: []string{closedAddr(t)}, MaxRedirects: -1})
		defer c.Close()
		l, err := redis.New(c, redis.WithPolicy(limiter.Policy{OnFailure: mode}), redis.WithTimeout(200*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		// A one-need call finds the cluster down: the policy now decides.
		if _, err := l.AllowN(ctx, "account:42:requests", lim, 1); err != nil {
			t.Fatalf("%s: AllowN with the cluster down: %v", mode, err)
		}
		if !l.Degraded() {
			t.Fatalf("%s: not degraded after the cluster failed", mode)
		}
		if _, err := l.Allow(ctx, mixed...); !errors.Is(err, limiter.ErrInvalidArgument) {
			t.Errorf("%s: Allow of keys in two slots while degraded: %v, want ErrInvalidArgument", mode, err)
		}
		if _, err := l.Reserve(ctx, time.Second, mixed...); !errors.Is(err, limiter.ErrInvalidArgument) {
			t.Errorf("%s: Reserve of keys in two slots while degraded: %v, want ErrInvalidArgument", mode, err)
		}
	}
}

// TestCrossSlotRefusedFailWait: under every policy, FailWait included,
// Allow, Reserve and WaitAll of keys in two slots fail at once with the
// one slot error (naming the keys) while the cluster is down (FailOpen and
// FailFallback degraded, deciding without it): no retry until
// UnavailableAfter (an hour: the context's 10 s would end it), no
// ErrUnavailable, no admission.
func TestCrossSlotRefusedFailWait(t *testing.T) {
	lim := limiter.Limit{Rate: 10, Period: time.Second, Burst: 10}
	mixed := []limiter.Need{{Key: "account:42:requests", Limit: lim, N: 1}, {Key: "account:42:weight", Limit: lim, N: 2}}
	for _, mode := range []limiter.FailureMode{limiter.FailWait, limiter.FailOpen, limiter.FailFallback} {
		c := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: []string{closedAddr(t)}, MaxRedirects: -1})
		defer c.Close()
		l, err := redis.New(c, redis.WithPolicy(limiter.Policy{OnFailure: mode, UnavailableAfter: time.Hour}), redis.WithTimeout(200*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if mode != limiter.FailWait {
			// A one-need call finds the cluster down: the policy now
			// decides without it.
			if _, err := l.AllowN(ctx, "account:42:requests", lim, 1); err != nil || !l.Degraded() {
				t.Fatalf("%s: AllowN with the cluster down: %v, degraded %v", mode, err, l.Degraded())
			}
		}
		for _, name := range []string{"Allow", "Reserve", "WaitAll"} {
			var err error
			switch name {
			case "Allow":
				_, err = l.Allow(ctx, mixed...)
			case "Reserve":
				_, err = l.Reserve(ctx, time.Second, mixed...)
			case "WaitAll":
				err = limiter.WaitAll(ctx, l, mixed...)
			}
			if !errors.Is(err, limiter.ErrInvalidArgument) || errors.Is(err, limiter.ErrUnavailable) ||
				!strings.Contains(err.Error(), "account:42:weight") {
				t.Errorf("%s: %s of keys in two slots, cluster down: %v, want the slot error naming the keys", mode, name, err)
			}
		}
	}
}
