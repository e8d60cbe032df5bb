package redis

import (
	"context"
	"fmt"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sharedlimit/sharedlimit/internal/redistest"
	"github.com/sharedlimit/sharedlimit/limiter/driver"
)

// TestBatchRing: on a go-redis Ring of three real Redis shards, a batch
// over many hash tags is one pipeline of one EVALSHA of batchScript per
// tag, each on keys of its tag only, decided as the same requests one at
// a time; every key lives on one shard only, the one the Ring maps its
// tag to; after SCRIPT FLUSH on one shard, its groups are sent again with
// EVAL and no request fails.
func TestBatchRing(t *testing.T) {
	addrs := map[string]string{}
	var srvs []*redistest.Server
	for i := range 3 {
		srv := redistest.Start(t, redistest.Config{})
		srvs = append(srvs, srv)
		addrs[fmt.Sprintf("shard%d", i)] = srv.Addr()
	}
	ring := goredis.NewRing(&goredis.RingOptions{Addrs: addrs, ContextTimeoutEnabled: true})
	defer ring.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	redistest.WaitFor(t, 10*time.Second, "every shard up", func() bool { return ring.Len() == 3 })
	if err := ring.ForEachShard(ctx, func(ctx context.Context, c *goredis.Client) error {
		return batchScript.Load(ctx, c).Err()
	}); err != nil {
		t.Fatal(err)
	}
	hook := &pipeCounter{}
	ring.AddHook(hook)

	for round, flush := range []bool{false, true} {
		if flush {
			if _, err := redistest.Do(srvs[0].Addr(), "", "SCRIPT", "FLUSH"); err != nil {
				t.Fatal(err)
			}
		}
		bs, ss := newStore(ring, fmt.Sprintf("b%d:", round)), newStore(ring, fmt.Sprintf("s%d:", round))
		reqs := slotBatch()
		got, want := make([]driver.Answer, len(reqs)), make([]driver.Answer, len(reqs))
		hook.take()
		alone := hook.alone.Load()
		if err := bs.DoBatch(ctx, reqs, got); err != nil {
			t.Fatalf("round %d: DoBatch: %v", round, err)
		}
		pipes := hook.take()
		if n := hook.alone.Load() - alone; n != 0 {
			t.Errorf("round %d: %d scripts sent alone", round, n)
		}
		if err := ss.Do(ctx, reqs, want); err != nil {
			t.Fatal(err)
		}
		compareSlow(t, fmt.Sprintf("round %d", round), reqs, got, want)
		tags := map[string]bool{}
		for _, r := range reqs {
			tag, _ := hashTag(bs.key(r.Needs[0].Key))
			tags[tag] = true
		}
		if len(pipes) == 0 {
			t.Fatalf("round %d: no pipeline", round)
		}
		seen := map[string]bool{}
		for _, cmd := range pipes[0] {
			args := cmd.Args()
			nkeys := args[2].(int)
			tag, _ := hashTag(args[3].(string))
			for _, k := range args[3 : 3+nkeys] {
				if other, _ := hashTag(k.(string)); other != tag || cmd.Name() != "evalsha" {
					t.Fatalf("round %d: %s on tags %q and %q", round, cmd.Name(), tag, other)
				}
			}
			if seen[tag] {
				t.Fatalf("round %d: two scripts for tag %q", round, tag)
			}
			seen[tag] = true
		}
		if len(seen) != len(tags) {
			t.Fatalf("round %d: %d scripts for the batch's %d tags", round, len(seen), len(tags))
		}
		var again int
		for _, p := range pipes[1:] {
			again += len(p)
		}
		if flush && again == 0 {
			t.Fatalf("after SCRIPT FLUSH on a shard: nothing sent again")
		}
		if !flush && again != 0 {
			t.Fatalf("%d scripts sent again with no flush", again)
		}
		// Each key on one shard, the one the Ring reads it from, and
		// the keys of each request on one shard.
		used := map[string]bool{}
		for _, r := range reqs {
			where := ""
			for _, nd := range r.Needs {
				rkey := bs.key(nd.Key)
				on := ""
				for _, srv := range srvs {
					n, err := redistest.Do(srv.Addr(), "", "EXISTS", rkey)
					if err != nil {
						t.Fatal(err)
					}
					if n == "1" {
						if on != "" {
							t.Fatalf("%s on %s and %s", rkey, on, srv.Addr())
						}
						on = srv.Addr()
					}
				}
				if on == "" || (where != "" && on != where) {
					t.Fatalf("%s of %s on %q, its request's other keys on %q", rkey, describe(r), on, where)
				}
				where = on
				used[on] = true
				if err := ring.Get(ctx, rkey).Err(); err != nil {
					t.Fatalf("the Ring does not find %s: %v", rkey, err)
				}
			}
		}
		if len(used) != 3 {
			t.Fatalf("the batch's keys are on %d shards, want all 3", len(used))
		}
	}
}
