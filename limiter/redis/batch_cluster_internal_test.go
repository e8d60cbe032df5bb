package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sharedlimit/sharedlimit/internal/redistest"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/driver"
)

// pipeCounter is a go-redis hook counting the pipelines sent and the
// script commands in them, and the script commands sent alone.
type pipeCounter struct {
	mu    sync.Mutex
	pipes [][]goredis.Cmder // every pipeline's commands
	alone atomic.Int64      // EVAL and EVALSHA sent alone
}

func (h *pipeCounter) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h *pipeCounter) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		if strings.HasPrefix(cmd.Name(), "eval") {
			h.alone.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (h *pipeCounter) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		h.mu.Lock()
		h.pipes = append(h.pipes, append([]goredis.Cmder(nil), cmds...))
		h.mu.Unlock()
		return next(ctx, cmds)
	}
}

// take returns the pipelines sent since the last take.
func (h *pipeCounter) take() [][]goredis.Cmder {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.pipes
	h.pipes = nil
	return p
}

// slotBatch is a batch over many hash slots: per key of 24, an Allow, a
// Status, a second Allow, a Reserve and a third Allow (refused: burst
// 2), and per tag of 6 a composite Allow, with limits slow enough (one
// token a minute) that the answers do not depend on when they are
// decided.
func slotBatch() []driver.Request {
	const T = 60_000_000
	var b []driver.Request
	one := func(op driver.Op, key string, maxWait int64) {
		b = append(b, driver.Request{Op: op, Needs: []driver.Need{{Key: key, N: 1, T: T, Tau: 2 * T}}, MaxWait: maxWait})
	}
	for i := range 24 {
		one(driver.Allow, fmt.Sprintf("k%d", i), 0)
	}
	for i := range 24 {
		one(driver.Status, fmt.Sprintf("k%d", i), 0)
		one(driver.Allow, fmt.Sprintf("k%d", i), 0)
	}
	for i := range 6 {
		b = append(b, driver.Request{Op: driver.Allow, Needs: []driver.Need{
			{Key: fmt.Sprintf("{acct:%d}:requests", i), N: 1, T: T, Tau: 2 * T},
			{Key: fmt.Sprintf("{acct:%d}:weight", i), N: 2, T: T, Tau: 2 * T},
		}})
	}
	for i := range 24 {
		one(driver.Reserve, fmt.Sprintf("k%d", i), 2*T)
		one(driver.Allow, fmt.Sprintf("k%d", i), 0)
	}
	return b
}

// compareSlow compares the answers of a batch (got) with those of the
// same requests one at a time (want), durations within 2 s (they were
// decided at other instants; the limits' interval is a minute).
func compareSlow(t *testing.T, what string, reqs []driver.Request, got, want []driver.Answer) {
	t.Helper()
	near := func(x, y int64) bool { return x-y <= 2_000_000 && y-x <= 2_000_000 }
	for i := range reqs {
		a, b := got[i], want[i]
		bad := a.Err != nil || b.Err != nil || a.OK != b.OK || a.Binding != b.Binding || len(a.Needs) != len(b.Needs) ||
			!near(a.Wait, b.Wait) || !near(a.RetryAfter, b.RetryAfter)
		for j := range a.Needs {
			if j < len(b.Needs) && (a.Needs[j].Remaining != b.Needs[j].Remaining || !near(a.Needs[j].ResetAfter, b.Needs[j].ResetAfter)) {
				bad = true
			}
		}
		if bad {
			t.Fatalf("%s: request %d (%s): batch %+v, one at a time %+v", what, i, describe(reqs[i]), a, b)
		}
	}
}

// TestBatchCluster: on a real 3-master Redis Cluster, a batch whose
// requests are in many hash slots is one pipeline of one EVALSHA of
// batchScript per slot (none sent alone), decided as the same requests one
// at a time; after SCRIPT FLUSH on one master, the groups of that
// master's slots (only those) are sent again with EVAL, in one second
// pipeline, and no request gets an error; likewise after SCRIPT FLUSH on
// every master, and after a master's restart (its script cache and data
// gone).
func TestBatchCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cc := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: c.Addrs(), ContextTimeoutEnabled: true})
	defer cc.Close()
	hook := &pipeCounter{}
	cc.AddHook(hook)
	if err := cc.ForEachMaster(ctx, func(ctx context.Context, n *goredis.Client) error {
		return batchScript.Load(ctx, n).Err()
	}); err != nil {
		t.Fatal(err)
	}

	round := 0
	// run sends slotBatch to a batching store and to a store deciding
	// one at a time, each on prefixes of its own, and returns the
	// batch's pipelines.
	run := func(what string, compare bool) [][]goredis.Cmder {
		t.Helper()
		round++
		bs, ss := newStore(cc, fmt.Sprintf("b%d:", round)), newStore(cc, fmt.Sprintf("s%d:", round))
		reqs := slotBatch()
		got, want := make([]driver.Answer, len(reqs)), make([]driver.Answer, len(reqs))
		hook.take()
		alone := hook.alone.Load()
		if err := bs.DoBatch(ctx, reqs, got); err != nil {
			t.Fatalf("%s: DoBatch: %v", what, err)
		}
		pipes := hook.take()
		if n := hook.alone.Load() - alone; n != 0 {
			t.Errorf("%s: %d scripts sent alone, want every group in the pipeline", what, n)
		}
		for i, a := range got {
			if a.Err != nil {
				t.Fatalf("%s: request %d (%s): %v", what, i, describe(reqs[i]), a.Err)
			}
		}
		if compare {
			if err := ss.Do(ctx, reqs, want); err != nil {
				t.Fatal(err)
			}
			compareSlow(t, what, reqs, got, want)
		}
		// One EVALSHA per slot of the batch, each on keys of its slot.
		slots := map[int]bool{}
		for _, r := range reqs {
			slots[slot(bs.key(r.Needs[0].Key))] = true
		}
		if len(pipes) == 0 {
			t.Fatalf("%s: no pipeline", what)
		}
		seen := map[int]bool{}
		for _, cmd := range pipes[0] {
			args := cmd.Args()
			if cmd.Name() != "evalsha" {
				t.Fatalf("%s: %s in the first pipeline, want only EVALSHA", what, cmd.Name())
			}
			nkeys := args[2].(int)
			s := slot(args[3].(string))
			for _, k := range args[3 : 3+nkeys] {
				if slot(k.(string)) != s {
					t.Fatalf("%s: one script on keys of slots %d and %d", what, s, slot(k.(string)))
				}
			}
			if seen[s] {
				t.Fatalf("%s: two scripts for slot %d", what, s)
			}
			seen[s] = true
		}
		if len(seen) != len(slots) {
			t.Fatalf("%s: %d scripts for the batch's %d slots", what, len(seen), len(slots))
		}
		return pipes
	}
	// evals returns the slots of the EVALs in pipes[1:] (the NOSCRIPT
	// groups sent again).
	evals := func(what string, pipes [][]goredis.Cmder) map[string]int {
		t.Helper()
		byNode := map[string]int{}
		for _, p := range pipes[1:] {
			for _, cmd := range p {
				if cmd.Name() != "eval" {
					t.Fatalf("%s: %s sent again, want EVAL", what, cmd.Name())
				}
				m, err := cc.MasterForKey(ctx, cmd.Args()[3].(string))
				if err != nil {
					t.Fatal(err)
				}
				byNode[m.Options().Addr]++
			}
		}
		return byNode
	}

	if pipes := run("warm", true); len(pipes) != 1 {
		t.Fatalf("warm: %d pipelines, want 1", len(pipes))
	}

	flushed := c.Nodes[0].Addr()
	if _, err := redistest.Do(flushed, "", "SCRIPT", "FLUSH"); err != nil {
		t.Fatal(err)
	}
	pipes := run("SCRIPT FLUSH on one master", true)
	if len(pipes) != 2 {
		t.Fatalf("after SCRIPT FLUSH on one master: %d pipelines, want 2 (EVALSHA, then EVAL for its groups)", len(pipes))
	}
	if byNode := evals("one master flushed", pipes); len(byNode) != 1 || byNode[flushed] == 0 {
		t.Fatalf("after SCRIPT FLUSH on %s: EVALs by master %v, want on it only", flushed, byNode)
	}

	for _, a := range c.Addrs() {
		if _, err := redistest.Do(a, "", "SCRIPT", "FLUSH"); err != nil {
			t.Fatal(err)
		}
	}
	pipes = run("SCRIPT FLUSH on every master", true)
	if byNode := evals("every master flushed", pipes); len(byNode) != 3 || len(pipes) != 2 || len(pipes[1]) != len(pipes[0]) {
		t.Fatalf("after SCRIPT FLUSH on every master: %d pipelines, EVALs by master %v, want every group again", len(pipes), byNode)
	}

	restarted := c.Nodes[1]
	if err := restarted.Restart(); err != nil {
		t.Fatal(err)
	}
	redistest.WaitFor(t, 20*time.Second, "cluster_state:ok after the restart", func() bool {
		for _, a := range c.Addrs() {
			info, err := redistest.Do(a, "", "CLUSTER", "INFO")
			if err != nil || !strings.Contains(info, "cluster_state:ok") {
				return false
			}
		}
		return true
	})
	// The pool's connections to the restarted master are dead: the
	// first pipeline may need go-redis's retries; no request may fail.
	pipes = run("a master restarted", true)
	var again int
	for _, p := range pipes[1:] {
		for _, cmd := range p {
			if cmd.Name() == "eval" {
				again++
			}
		}
	}
	if again == 0 {
		t.Fatalf("after %s restarted: no EVAL, its empty script cache was never seen", restarted.Addr())
	}

	// A master down (the others told to serve their slots meanwhile):
	// the requests of its slots get the store's error, each its own;
	// every other request of the batch is decided.
	for _, a := range c.Addrs() {
		if _, err := redistest.Do(a, "", "CONFIG", "SET", "cluster-require-full-coverage", "no"); err != nil {
			t.Fatal(err)
		}
	}
	dead := c.Nodes[2]
	onDead := map[string]bool{}
	bs := newStore(cc, "down:")
	reqs := slotBatch()
	for _, r := range reqs {
		m, err := cc.MasterForKey(ctx, bs.key(r.Needs[0].Key))
		if err != nil {
			t.Fatal(err)
		}
		onDead[r.Needs[0].Key] = m.Options().Addr == dead.Addr()
	}
	if err := dead.Kill(); err != nil {
		t.Fatal(err)
	}
	got := make([]driver.Answer, len(reqs))
	if err := bs.DoBatch(ctx, reqs, got); err != nil {
		t.Fatalf("DoBatch with one master of three down: %v, want the other groups decided", err)
	}
	var failed int
	for i, r := range reqs {
		switch a := got[i]; {
		case onDead[r.Needs[0].Key]:
			failed++
			if !errors.Is(a.Err, limiter.ErrUnavailable) {
				t.Errorf("request %d (%s) on the dead master: %v, want ErrUnavailable", i, describe(r), a.Err)
			}
		case a.Err != nil:
			t.Errorf("request %d (%s) on a live master: %v", i, describe(r), a.Err)
		}
	}
	if failed == 0 || failed == len(reqs) {
		t.Fatalf("%d of %d requests on the dead master: choose other keys", failed, len(reqs))
	}
}

// TestBatchClusterFlushLoad: a batching Limiter on a real 3-master
// cluster, 16 goroutines of AllowN, ReserveN and Cancel, and Status on
// keys of every master for 1.5 s while every master's script cache is
// flushed every 20 ms: no call fails, batches of several slots went as
// pipelines, and NOSCRIPT within them was answered with EVAL.
func TestBatchClusterFlushLoad(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	cc := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: c.Addrs(), ContextTimeoutEnabled: true})
	defer cc.Close()
	hook := &pipeCounter{}
	cc.AddHook(hook)
	for _, linger := range []time.Duration{0, 2 * time.Millisecond} {
		t.Run(fmt.Sprintf("linger=%s", linger), func(t *testing.T) {
			opts := []Option{WithPrefix("fl:"), WithTimeout(2 * time.Second)}
			if linger > 0 {
				opts = append(opts, WithLinger(linger))
			}
			l, err := New(cc, opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			hook.take()
			ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
			defer cancel()
			lim := limiter.Limit{Rate: 1_000_000, Period: time.Second, Burst: 1000}
			bg := context.Background()
			calls := redistest.FlushLoad(ctx, t, c.Addrs(), 20*time.Millisecond, 16, func(g, i int) error {
				key := fmt.Sprintf("k%d", (g*7+i)%40)
				var err error
				switch kind := (g + i) % 4; kind {
				case 0, 1, 2:
					err = SimpleCall(bg, l, kind, key, lim)
				case 3:
					_, err = l.Allow(bg, limiter.Need{Key: "{" + key + "}:a", Limit: lim, N: 1}, limiter.Need{Key: "{" + key + "}:b", Limit: lim, N: 2})
				}
				return err
			})
			var multi, evals int
			for _, p := range hook.take() {
				sha := 0
				for _, cmd := range p {
					switch cmd.Name() {
					case "evalsha":
						sha++
					case "eval":
						evals++
					}
				}
				if sha > 1 {
					multi++
				}
			}
			st := l.Stats()
			t.Logf("%d calls, %d requests in %d round trips; %d pipelines of several slots, %d EVALs in pipelines", calls, st.Requests, st.RoundTrips, multi, evals)
			if multi == 0 || evals == 0 {
				t.Fatalf("%d pipelines of several slots, %d EVALs in pipelines: the load did not exercise NOSCRIPT within pipelines", multi, evals)
			}
		})
	}
}
