package redis_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sharedlimit/sharedlimit/internal/redistest"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/redis"
)

// TestClusterComposite: on a real 3-master Redis Cluster, Slot agrees with
// CLUSTER KEYSLOT; requests of two needs whose keys share a tag work on
// every master (allow, refuse without storing, reserve and cancel); keys
// in two slots fail with the slot error, and Redis never sees them.
func TestClusterComposite(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := limiter.Open(ctx, c.URL()+"?prefix=cc:&timeout=2s&unavailable_after=0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cc := l.(*redis.Limiter).Client().(*goredis.ClusterClient)

	for i := range 200 {
		for _, k := range []string{fmt.Sprintf("k%d", i), redis.Key("cc:", fmt.Sprintf("{t%d}:w", i)), redis.Key("cc:", fmt.Sprintf("k%d", i))} {
			want, err := cc.ClusterKeySlot(ctx, k).Result()
			if err != nil {
				t.Fatal(err)
			}
			if got := redis.Slot(k); int64(got) != want {
				t.Fatalf("Slot(%q) = %d, CLUSTER KEYSLOT says %d", k, got, want)
			}
		}
	}

	lim := limiter.Limit{Rate: 1, Period: time.Second, Burst: 2}
	masters := map[string]bool{}
	for i := range 30 {
		a, b := fmt.Sprintf("{acct:%d}:requests", i), fmt.Sprintf("{acct:%d}:weight", i)
		m, err := cc.MasterForKey(ctx, redis.Key("cc:", a))
		if err != nil {
			t.Fatal(err)
		}
		masters[m.Options().Addr] = true
		needs := []limiter.Need{{Key: a, Limit: lim, N: 1}, {Key: b, Limit: lim, N: 2}}
		if r, err := l.Allow(ctx, needs...); err != nil || !r.Allowed || len(r.Needs) != 2 || r.Needs[1].Remaining != 0 {
			t.Fatalf("Allow on %s: %+v, %v", a, r, err)
		}
		before, err := cc.Get(ctx, redis.Key("cc:", a)).Result()
		if err != nil {
			t.Fatal(err)
		}
		if r, err := l.Allow(ctx, needs...); err != nil || r.Allowed || r.Binding != 1 {
			t.Fatalf("second Allow on %s: %+v, %v; want refused by need 1", a, r, err)
		}
		if after, err := cc.Get(ctx, redis.Key("cc:", a)).Result(); err != nil || after != before {
			t.Fatalf("the refused request changed %s: %q -> %q (%v)", a, before, after, err)
		}
		r, err := l.Reserve(ctx, time.Minute, needs...)
		if err != nil || !r.OK || r.Delay < 500*time.Millisecond {
			t.Fatalf("Reserve on %s: %+v, %v", a, r, err)
		}
		if err := r.Cancel(ctx); err != nil {
			t.Fatalf("Cancel on %s: %v", a, err)
		}
		if after, err := cc.Get(ctx, redis.Key("cc:", a)).Result(); err != nil || after != before {
			t.Fatalf("the cancel did not restore %s: %q, want %q (%v)", a, after, before, err)
		}
	}
	if len(masters) != 3 {
		t.Fatalf("30 tags landed on %d masters, want all 3", len(masters))
	}

	a, b := "requests", "weight"
	if redis.Slot(redis.Key("cc:", a)) == redis.Slot(redis.Key("cc:", b)) {
		t.Fatal("the untagged keys share a slot: choose others")
	}
	hook := &traffic{}
	cc.AddHook(hook)
	_, err = l.Allow(ctx, limiter.Need{Key: a, Limit: lim, N: 1}, limiter.Need{Key: b, Limit: lim, N: 1})
	if !errors.Is(err, limiter.ErrInvalidArgument) || !strings.Contains(err.Error(), "hash tag") || strings.Contains(err.Error(), "CROSSSLOT") {
		t.Fatalf("Allow of keys in two slots: %v, want the slot error", err)
	}
	if n := hook.commands.Load(); n != 0 {
		t.Fatalf("%d commands sent for a request of keys in two slots, want none", n)
	}
}
