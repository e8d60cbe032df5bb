package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/sqlite"
)

// storedRow is a key's row in the file, found false when there is none.
type storedRow struct {
	tat, at, tok int64
	found        bool
}

// readRows reads the rows of keys straight from the file, through a
// connection of its own.
func readRows(t *testing.T, path string, keys ...string) map[string]storedRow {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := make(map[string]storedRow, len(keys))
	for _, k := range keys {
		var r storedRow
		err := db.QueryRow("SELECT tat, at, tok FROM sharedlimit_gcra_v1 WHERE key = ?1", k).Scan(&r.tat, &r.at, &r.tok)
		switch {
		case err == nil:
			r.found = true
		case err != sql.ErrNoRows:
			t.Fatal(err)
		}
		out[k] = r
	}
	return out
}

// statuses reports the Status of each need's key on l.
func statuses(t *testing.T, l limiter.Limiter, needs ...limiter.Need) []limiter.Status {
	t.Helper()
	out := make([]limiter.Status, len(needs))
	for i, nd := range needs {
		st, err := l.Status(context.Background(), nd.Key, nd.Limit)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = st
	}
	return out
}

// TestCompositeRefusedChangesNothing: on one file, handle a queues one
// key; a composite Allow and Reserve of handle b over that key and a free
// one are refused, naming the binding need, and leave both keys exactly
// as they were (Status from a, and the rows, tokens included). Granted,
// the composite charges both keys, as handle a sees.
func TestCompositeRefusedChangesNothing(t *testing.T) {
	clk := newFakeClock()
	path := filepath.Join(t.TempDir(), "rate-limit.sqlite")
	a, b := open(t, path, sqlite.WithClock(clk.Now)), open(t, path, sqlite.WithClock(clk.Now))
	ctx := context.Background()
	busy := limiter.Need{Key: "busy", Limit: limiter.Every(time.Second), N: 1}
	free := limiter.Need{Key: "free", Limit: limiter.Limit{Rate: 10, Period: time.Second, Burst: 5}, N: 2}
	if err := a.Hold(ctx, busy.Key, busy.Limit, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	// A row of free's, so that its token is there to compare.
	if r, err := a.AllowN(ctx, free.Key, free.Limit, 1); err != nil || !r.Allowed {
		t.Fatalf("AllowN: %+v, %v", r, err)
	}
	beforeSt := statuses(t, a, busy, free)
	beforeRows := readRows(t, path, busy.Key, free.Key)
	for _, order := range [][]limiter.Need{{busy, free}, {free, busy}} {
		binding := 0
		if order[0].Key != busy.Key {
			binding = 1
		}
		r, err := b.Allow(ctx, order...)
		if err != nil {
			t.Fatal(err)
		}
		if r.Allowed || r.Binding != binding || r.RetryAfter != 5*time.Second {
			t.Fatalf("composite Allow %v over a held key: %+v, want refused, binding %d, RetryAfter 5s", []string{order[0].Key, order[1].Key}, r, binding)
		}
		res, err := b.Reserve(ctx, 4*time.Second, order...)
		if err != nil {
			t.Fatal(err)
		}
		if res.OK || res.Binding != binding || res.RetryAfter != 5*time.Second {
			t.Fatalf("composite Reserve within 4s over a key held for 5s: %+v, want refused, binding %d", res, binding)
		}
		if got := statuses(t, a, busy, free); fmt.Sprint(got) != fmt.Sprint(beforeSt) {
			t.Fatalf("after refused composites, Status %+v, want %+v (nothing taken)", got, beforeSt)
		}
		if got := readRows(t, path, busy.Key, free.Key); fmt.Sprint(got) != fmt.Sprint(beforeRows) {
			t.Fatalf("after refused composites, rows %+v, want %+v (nothing written)", got, beforeRows)
		}
	}
	// Granted at the held key's slot: both keys charged from it.
	res, err := b.Reserve(ctx, 5*time.Second, busy, free)
	if err != nil || !res.OK || res.Delay != 5*time.Second {
		t.Fatalf("composite Reserve within 5s: %+v, %v; want granted in 5s", res, err)
	}
	got := statuses(t, a, busy, free)
	if got[0].FullAfter != 6*time.Second || got[1].FullAfter != 5*time.Second+2*free.Limit.Interval() {
		t.Fatalf("after a composite granted in 5s, handle a sees %+v; want busy full in 6s, free in 5.2s", got)
	}
}

// TestCompositeCancelRestoresUntouchedKeys: a composite reservation of
// handle a is cancelled after handle b took a slot on one of its keys:
// the key b touched keeps b's slot (and a's), the other is given back; with
// neither touched, both are.
func TestCompositeCancelRestoresUntouchedKeys(t *testing.T) {
	for _, touched := range []int{0, 1, -1} {
		t.Run(fmt.Sprint("touched", touched), func(t *testing.T) {
			_, ls := onOneFile(t, 2)
			a, b := ls[0], ls[1]
			ctx := context.Background()
			lim := limiter.Every(time.Second)
			needs := []limiter.Need{{Key: "x", Limit: lim, N: 1}, {Key: "y", Limit: lim, N: 1}}
			// A queue on x (its row exists), none on y: the composite's
			// slot is in 2 s, y charged from it.
			for range 2 {
				if r, err := a.ReserveN(ctx, "x", lim, 1, time.Minute); err != nil || !r.OK {
					t.Fatalf("ReserveN: %+v, %v", r, err)
				}
			}
			r, err := a.Reserve(ctx, time.Minute, needs...)
			if err != nil || !r.OK || r.Delay != 2*time.Second {
				t.Fatalf("composite Reserve: %+v, %v; want granted in 2s", r, err)
			}
			want := []time.Duration{2 * time.Second, 0} // given back: x to its queue, y to no row
			if touched >= 0 {
				if s, err := b.ReserveN(ctx, needs[touched].Key, lim, 1, time.Minute); err != nil || !s.OK || s.Delay != 3*time.Second {
					t.Fatalf("ReserveN after the composite: %+v, %v; want a slot in 3s", s, err)
				}
				want[touched] = 4 * time.Second // the composite's slot and b's stay
			}
			if err := r.Cancel(ctx); err != nil {
				t.Fatal(err)
			}
			got := statuses(t, b, needs...)
			for i := range needs {
				if got[i].FullAfter != want[i] {
					t.Fatalf("after the composite's cancel (key %d touched), %s is full in %s, want %s (statuses %+v)",
						touched, needs[i].Key, got[i].FullAfter, want[i], got)
				}
			}
		})
	}
}

// TestCompositeOneTransaction: a handle on the same file, looking while a
// composite is being written (after its first row), sees neither key's new
// value; once it returns, both.
func TestCompositeOneTransaction(t *testing.T) {
	_, ls := onOneFile(t, 2)
	a, b := ls[0], ls[1]
	ctx := context.Background()
	lim := limiter.Limit{Rate: 1, Period: time.Second, Burst: 6}
	needs := []limiter.Need{{Key: "p", Limit: lim, N: 1}, {Key: "q", Limit: lim, N: 2}}
	var mid [][]limiter.Status
	var puts int
	sqlite.SetAfterPut(a, func(string) {
		if puts++; puts == 1 {
			mid = append(mid, statuses(t, b, needs...))
		}
	})
	for _, op := range []string{"Allow", "Reserve"} {
		puts = 0
		before := statuses(t, b, needs...)
		var err error
		if op == "Allow" {
			var r limiter.Result
			r, err = a.Allow(ctx, needs...)
			if err == nil && !r.Allowed {
				t.Fatalf("composite Allow refused: %+v", r)
			}
		} else {
			var r *limiter.Reservation
			r, err = a.Reserve(ctx, time.Minute, needs...)
			if err == nil && !r.OK {
				t.Fatalf("composite Reserve refused: %+v", r)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		if puts != 2 || len(mid) == 0 {
			t.Fatalf("%s: %d rows written, want 2 (one per key)", op, puts)
		}
		if got := mid[len(mid)-1]; fmt.Sprint(got) != fmt.Sprint(before) {
			t.Fatalf("%s: while the composite was written, another handle saw %+v, want %+v (neither key's new value)", op, got, before)
		}
		after := statuses(t, b, needs...)
		for i := range needs {
			if after[i].Remaining != before[i].Remaining-needs[i].N {
				t.Fatalf("%s: after the composite, another handle sees %+v (before %+v): want both keys charged", op, after, before)
			}
		}
	}
}

// TestCompositeConcurrentAllOrNothing: 4 handles on one file, 4 goroutines
// each, send composite and single Allows over overlapping keys with the
// clock stopped. Each key is charged exactly by the requests admitted that
// name it: its Remaining is its Burst less their tokens, never more taken
// (a partial composite) nor fewer.
func TestCompositeConcurrentAllOrNothing(t *testing.T) {
	clk := newFakeClock()
	path := filepath.Join(t.TempDir(), "rate-limit.sqlite")
	handles := make([]*sqlite.Limiter, 4)
	for i := range handles {
		handles[i] = open(t, path, sqlite.WithClock(clk.Now))
	}
	ctx := context.Background()
	limA := limiter.Limit{Rate: 1, Period: time.Hour, Burst: 40}
	limB := limiter.Limit{Rate: 1, Period: time.Hour, Burst: 25}
	limC := limiter.Limit{Rate: 1, Period: time.Hour, Burst: 60}
	kinds := [][]limiter.Need{
		{{Key: "a", Limit: limA, N: 1}, {Key: "b", Limit: limB, N: 1}},
		{{Key: "b", Limit: limB, N: 2}, {Key: "c", Limit: limC, N: 1}},
		{{Key: "c", Limit: limC, N: 3}, {Key: "a", Limit: limA, N: 2}},
		{{Key: "a", Limit: limA, N: 1}},
		{{Key: "a", Limit: limA, N: 1}, {Key: "b", Limit: limB, N: 1}, {Key: "c", Limit: limC, N: 1}},
	}
	var mu sync.Mutex
	taken := map[string]int{}
	var wg sync.WaitGroup
	for g := range 16 {
		l := handles[g%len(handles)]
		wg.Go(func() {
			for i := range 40 {
				needs := kinds[(g+i)%len(kinds)]
				r, err := l.Allow(ctx, needs...)
				if err != nil {
					t.Error(err)
					return
				}
				if r.Allowed {
					mu.Lock()
					for _, nd := range needs {
						taken[nd.Key] += nd.N
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	for _, nd := range []limiter.Need{{Key: "a", Limit: limA}, {Key: "b", Limit: limB}, {Key: "c", Limit: limC}} {
		st, err := handles[0].Status(ctx, nd.Key, nd.Limit)
		if err != nil {
			t.Fatal(err)
		}
		if want := nd.Limit.Burst - taken[nd.Key]; st.Remaining != want || want < 0 {
			t.Errorf("key %s: Remaining %d after %d tokens admitted of Burst %d, want %d", nd.Key, st.Remaining, taken[nd.Key], nd.Limit.Burst, want)
		}
	}
	t.Logf("tokens admitted per key: %v", taken)
}

// TestCompositeClockBack: the clock goes back an hour over two held keys;
// a refused composite on them stores each key's shift, not only the
// binding one's, so that neither key's wait stays frozen: 5 s later the
// key held for 5 s is free and the other waits 4 s more.
func TestCompositeClockBack(t *testing.T) {
	clk, ls := onOneFile(t, 2)
	a, b := ls[0], ls[1]
	ctx := context.Background()
	lim := limiter.Every(time.Second)
	x, y := limiter.Need{Key: "x", Limit: lim, N: 1}, limiter.Need{Key: "y", Limit: lim, N: 1}
	if err := a.Hold(ctx, x.Key, lim, 9*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := a.Hold(ctx, y.Key, lim, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	clk.Advance(-time.Hour)
	r, err := b.Allow(ctx, x, y)
	if err != nil || r.Allowed || r.Binding != 0 || r.RetryAfter != 9*time.Second {
		t.Fatalf("composite after the clock went back an hour: %+v, %v; want refused for 9s, binding x", r, err)
	}
	clk.Advance(5 * time.Second)
	if r, err := a.AllowN(ctx, y.Key, lim, 1); err != nil || !r.Allowed {
		t.Fatalf("y, held 5 s, 5 s after the refused composite: %+v, %v; want allowed (its shift stored)", r, err)
	}
	if r, err := a.AllowN(ctx, x.Key, lim, 1); err != nil || r.Allowed || r.RetryAfter != 4*time.Second {
		t.Fatalf("x, held 9 s, 5 s after the refused composite: %+v, %v; want refused for 4s", r, err)
	}
}
