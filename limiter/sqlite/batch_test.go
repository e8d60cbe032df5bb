package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/driver"
	"github.com/sharedlimit/sharedlimit/limiter/limitertest"
	"github.com/sharedlimit/sharedlimit/limiter/sqlite"
)

// batched is the option that takes every call of a handle through a
// batch, calls that overlap sharing one.
var batched = sqlite.WithLinger(50 * time.Microsecond)

func batchedHarness(t testing.TB) limitertest.Harness {
	clk := newFakeClock()
	path := filepath.Join(t.TempDir(), "rate-limit.sqlite")
	return limitertest.Harness{
		Open: func(t testing.TB) limiter.Limiter {
			l, err := sqlite.New(context.Background(), path, sqlite.WithClock(clk.Now), batched)
			if err != nil {
				t.Fatal(err)
			}
			return l
		},
		Advance: clk.Advance,
	}
}

// TestConformanceBatched is the conformance suite with every call in a
// batch.
func TestConformanceBatched(t *testing.T) { limitertest.Run(t, batchedHarness) }

// TestModelBatched compares the batch path's decisions, request by
// request, with the reference model, clock steps back within the slack
// included.
func TestModelBatched(t *testing.T) {
	limitertest.RunModel(t, batchedHarness, limitertest.ModelOptions{MaxBack: time.Second})
}

// TestModelConcurrentBatched runs concurrent histories on handles that
// batch.
func TestModelConcurrentBatched(t *testing.T) {
	limitertest.RunModelConcurrent(t, batchedHarness, limitertest.ModelOptions{})
}

// batchOp is a request of TestBatchIsSequential before it is given a
// file's Undo values: cancel is the index of the reservation it cancels.
type batchOp struct {
	op      driver.Op
	needs   []driver.Need
	maxWait int64
	hold    int64
	cancel  int
}

// batchKeys are the few keys of TestBatchIsSequential, each with a limit
// of its own (T, Tau in µs).
var batchKeys = []driver.Need{
	{Key: "a", T: 100_000, Tau: 1_000_000},
	{Key: "b", T: 250_000, Tau: 1_000_000},
	{Key: "c", T: 50_000, Tau: 1_000_000},
}

// randomOp is a random request on batchKeys; reservations is how many
// earlier reservations there are to cancel.
func randomOp(rng *rand.Rand, reservations int) batchOp {
	need := func(i int) driver.Need {
		nd := batchKeys[i]
		nd.N = 1 + rng.Int64N(3)
		return nd
	}
	one := func() []driver.Need { return []driver.Need{need(rng.IntN(len(batchKeys)))} }
	many := func() []driver.Need {
		p := rng.Perm(len(batchKeys))[:2+rng.IntN(len(batchKeys)-1)]
		nds := make([]driver.Need, len(p))
		for i, k := range p {
			nds[i] = need(k)
		}
		return nds
	}
	switch x := rng.IntN(20); {
	case x < 4:
		return batchOp{op: driver.Allow, needs: one()}
	case x < 6:
		return batchOp{op: driver.Allow, needs: many()}
	case x < 9:
		return batchOp{op: driver.Reserve, needs: one(), maxWait: rng.Int64N(2_000_000)}
	case x < 11:
		return batchOp{op: driver.Reserve, needs: many(), maxWait: rng.Int64N(2_000_000)}
	case x < 15 && reservations > 0:
		// Mostly one of the latest, whose write may still be the
		// last on its keys.
		c := rng.IntN(reservations)
		if rng.IntN(4) > 0 {
			c = reservations - 1 - rng.IntN(min(3, reservations))
		}
		return batchOp{op: driver.Cancel, cancel: c}
	case x < 16:
		return batchOp{op: driver.Hold, needs: one(), hold: rng.Int64N(1_000_000)}
	case x < 17:
		return batchOp{op: driver.Reset, needs: one()}
	case x < 18:
		// Its own error: Hold takes one need.
		return batchOp{op: driver.Hold, needs: many(), hold: 1}
	default:
		return batchOp{op: driver.Status, needs: one()}
	}
}

// request is op for a file whose reservations' Undo values are undos.
func (o batchOp) request(undos []any) driver.Request {
	r := driver.Request{Op: o.op, Needs: o.needs, MaxWait: o.maxWait, Hold: o.hold}
	if o.op == driver.Cancel {
		r.Undo = undos[o.cancel]
	}
	return r
}

// answerString is what TestBatchIsSequential compares of an answer: all
// but Undo, whose tokens are random (the rows it leaves are compared).
func answerString(a driver.Answer) string {
	return fmt.Sprintf("ok=%v wait=%d retry=%d binding=%d needs=%v order=%d undo=%v err=%v",
		a.OK, a.Wait, a.RetryAfter, a.Binding, a.Needs, a.Order, a.Undo != nil, a.Err)
}

// table is the table of the file at path: key, tat and at of every row
// (tokens are random).
func table(t *testing.T, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rs, err := db.Query("SELECT key, tat, at FROM sharedlimit_gcra_v1 ORDER BY key")
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out string
	for rs.Next() {
		var k string
		var tat, at int64
		if err := rs.Scan(&k, &tat, &at); err != nil {
			t.Fatal(err)
		}
		out += fmt.Sprintf("%s:%d@%d ", k, tat, at)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBatchIsSequential: batches of many requests on three keys (Allow and
// Reserve of one need and composite, Cancel of earlier reservations, Hold,
// Reset, Status, a request with its own error), each given to the store as
// one batch, answer exactly as the same requests given one at a time to a
// second file on the same clock, and leave the same rows, round after
// round, with clock steps (back past the slack too) between rounds.
func TestBatchIsSequential(t *testing.T) {
	ctx := context.Background()
	for seed := range uint64(8) {
		clk := newFakeClock()
		dir := t.TempDir()
		paths := [2]string{filepath.Join(dir, "batch.sqlite"), filepath.Join(dir, "alone.sqlite")}
		var ls [2]*sqlite.Limiter
		for i, p := range paths {
			// No sweep: it would run at other points of the two files'
			// transactions.
			ls[i] = open(t, p, sqlite.WithClock(clk.Now), sqlite.WithCleanupInterval(24*time.Hour))
		}
		var undos [2][]any // each file's granted reservations, in the same order
		seen := map[string]int{}
		rng := rand.New(rand.NewPCG(seed, 17))
		for round := range 25 {
			ops := make([]batchOp, 2+rng.IntN(40))
			for i := range ops {
				ops[i] = randomOp(rng, len(undos[0]))
			}
			var got [2][]driver.Answer
			for f := range ls {
				reqs := make([]driver.Request, len(ops))
				for i, o := range ops {
					reqs[i] = o.request(undos[f])
				}
				got[f] = make([]driver.Answer, len(reqs))
				if f == 0 {
					if err := sqlite.DoBatch(ctx, ls[f], reqs, got[f]); err != nil {
						t.Fatal(err)
					}
				} else {
					for i := range reqs {
						if err := sqlite.DoBatch(ctx, ls[f], reqs[i:i+1], got[f][i:i+1]); err != nil {
							t.Fatal(err)
						}
					}
				}
				for i, a := range got[f] {
					if ops[i].op == driver.Reserve && a.OK {
						undos[f] = append(undos[f], a.Undo)
					}
				}
			}
			for i := range ops {
				a := got[1][i]
				seen[fmt.Sprintf("%s/%d ok=%v err=%v", ops[i].op, len(ops[i].needs), a.OK, a.Err != nil)]++
				if b, s := answerString(got[0][i]), answerString(got[1][i]); b != s {
					t.Fatalf("seed %d round %d request %d (%s %+v): in a batch of %d %s, alone %s",
						seed, round, i, ops[i].op, ops[i], len(ops), b, s)
				}
			}
			if b, s := table(t, paths[0]), table(t, paths[1]); b != s {
				t.Fatalf("seed %d round %d: the batch left rows %s, the requests alone %s", seed, round, b, s)
			}
			switch x := rng.IntN(10); {
			case x == 0:
				clk.Advance(-2 * time.Second) // past the slack: rows shift
			case x == 1:
				clk.Advance(-300 * time.Millisecond) // within it
			default:
				clk.Advance(time.Duration(rng.Int64N(2_000_000)) * time.Microsecond)
			}
		}
		// The rounds covered what they are for.
		for _, k := range []string{"Allow/1 ok=true", "Allow/1 ok=false", "Allow/2 ok=true", "Allow/3 ok=false",
			"Reserve/1 ok=true", "Reserve/1 ok=false", "Reserve/2 ok=true", "Cancel/0 ok=true", "Cancel/0 ok=false",
			"Hold/1 ok=false", "Hold/2 ok=false err=true", "Reset/1 ok=false", "Status/1 ok=false"} {
			if !strings.Contains(fmt.Sprint(seen), k) {
				t.Fatalf("seed %d: no %q among the requests: %v", seed, k, seen)
			}
		}
	}
}

// TestBatchWritesEachKeyOnce: a batch of 64 requests on one key writes its
// row once, and a batch of one Allow writes one row, as alone.
func TestBatchWritesEachKeyOnce(t *testing.T) {
	clk := newFakeClock()
	l := open(t, filepath.Join(t.TempDir(), "rate-limit.sqlite"), sqlite.WithClock(clk.Now))
	var puts []string
	sqlite.SetAfterPut(l, func(k string) { puts = append(puts, k) })
	nd := driver.Need{Key: "hot", N: 1, T: 1, Tau: 1_000}
	reqs := make([]driver.Request, 64)
	for i := range reqs {
		reqs[i] = driver.Request{Op: driver.Allow, Needs: []driver.Need{nd}}
		if i%2 == 1 {
			reqs[i] = driver.Request{Op: driver.Reserve, Needs: []driver.Need{nd}, MaxWait: 1_000}
		}
	}
	answers := make([]driver.Answer, len(reqs))
	if err := sqlite.DoBatch(context.Background(), l, reqs, answers); err != nil {
		t.Fatal(err)
	}
	for i, a := range answers {
		if !a.OK || a.Err != nil || a.Needs[0].Remaining != int64(1_000-i-1) {
			t.Fatalf("request %d of the batch: %+v, want granted with %d left", i, a, 1_000-i-1)
		}
	}
	if len(puts) != 1 {
		t.Fatalf("a batch of 64 requests on one key wrote rows %v, want one", puts)
	}
	puts = nil
	if err := sqlite.DoBatch(context.Background(), l, reqs[:1], answers[:1]); err != nil {
		t.Fatal(err)
	}
	if len(puts) != 1 || !answers[0].OK {
		t.Fatalf("an Allow alone: %+v, wrote rows %v, want granted, one row", answers[0], puts)
	}
}

// TestBatchManyKeys: a batch on more keys than one statement holds (129:
// chunks of 64, 64 and 1), two Allows a key, writes each key once and
// decides every request on its key's row; a second such batch reads the
// rows the first wrote.
func TestBatchManyKeys(t *testing.T) {
	clk := newFakeClock()
	l := open(t, filepath.Join(t.TempDir(), "rate-limit.sqlite"), sqlite.WithClock(clk.Now))
	var puts int
	sqlite.SetAfterPut(l, func(string) { puts++ })
	const keys, burst = 129, 10
	var reqs []driver.Request
	for range 2 {
		for k := range keys {
			nd := driver.Need{Key: fmt.Sprintf("k%03d", k), N: 1, T: 1_000_000, Tau: burst * 1_000_000}
			reqs = append(reqs, driver.Request{Op: driver.Allow, Needs: []driver.Need{nd}})
		}
	}
	for batch := range 2 {
		puts = 0
		answers := make([]driver.Answer, len(reqs))
		if err := sqlite.DoBatch(context.Background(), l, reqs, answers); err != nil {
			t.Fatal(err)
		}
		for i, a := range answers {
			if want := int64(burst - 1 - 2*batch - i/keys); !a.OK || a.Needs[0].Remaining != want {
				t.Fatalf("batch %d request %d (%s): %+v, want granted with %d left", batch, i, reqs[i].Needs[0].Key, a, want)
			}
		}
		if puts != keys {
			t.Fatalf("batch %d on %d keys wrote %d rows, want one a key", batch, keys, puts)
		}
	}
	st, err := l.Status(context.Background(), "k128", limiter.Limit{Rate: 1, Period: time.Second, Burst: burst})
	if err != nil || st.Remaining != burst-4 {
		t.Fatalf("Status of the last key after two batches: %+v, %v; want %d left", st, err, burst-4)
	}
}
