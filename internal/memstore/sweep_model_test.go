package memstore

import (
	"hash/maphash"
	"strconv"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/sharedlimit/sharedlimit/internal/testutil"
	"github.com/sharedlimit/sharedlimit/limiter/driver"
)

// TestSweepDifferential runs random requests (composite Allow, Reserve,
// Cancel of any reservation, Hold, Reset, clock steps) on a State hashing
// keys as it does and on one whose hashes take one to three values only,
// with chunks of keys small enough that keys are evacuated (keyArena):
// both must answer alike and hold the same slots, each index must find
// every key at its place, and after each step every key whose tat was
// ahead of now and that the step did not touch keeps its value exactly
// (the sweep forgets idle keys only; a sweep taking keys 1 µs ahead of now
// fails it).
func TestSweepDifferential(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		clock := testutil.NewStepClock(time.Unix(0, 0))
		a, b := NewState(clock.Now), NewState(clock.Now)
		nh := rapid.Uint64Range(1, 3).Draw(rt, "hashes")
		b.pos.hash = func(_ maphash.Seed, key string) uint64 { return maphash.String(b.pos.seed, key) % nh }
		chunk := rapid.SampledFrom([]int{4, 16, maxChunk}).Draw(rt, "chunk") // small: keys evacuated often
		a.slots.keys.max, b.slots.keys.max = chunk, chunk
		nkeys := rapid.IntRange(1, 40).Draw(rt, "nkeys")
		key := func(rt *rapid.T) string { return "k" + strconv.Itoa(rapid.IntRange(0, nkeys-1).Draw(rt, "key")) }
		now := int64(0)
		type res struct{ undoA, undoB any }
		var resv []res
		shadow := map[string]entry{}
		for step := range rapid.IntRange(1, 300).Draw(rt, "steps") {
			var r driver.Request
			T := rapid.Int64Range(1, 50).Draw(rt, "T")
			switch op := rapid.IntRange(0, 6).Draw(rt, "op"); op {
			case 0, 1:
				n := rapid.IntRange(1, 3).Draw(rt, "needs")
				seen := map[string]bool{}
				r = driver.Request{Op: driver.Allow}
				for range n {
					k := key(rt)
					if seen[k] {
						continue
					}
					seen[k] = true
					r.Needs = append(r.Needs, driver.Need{Key: k, N: 1, T: T, Tau: T * rapid.Int64Range(0, 3).Draw(rt, "b")})
				}
			case 2:
				r = driver.Request{Op: driver.Reserve, MaxWait: rapid.Int64Range(0, 200).Draw(rt, "mw"),
					Needs: []driver.Need{{Key: key(rt), N: 1, T: T, Tau: T}}}
			case 3:
				if len(resv) == 0 {
					continue
				}
				i := rapid.IntRange(0, len(resv)-1).Draw(rt, "which")
				ra, rb := do(a, driver.Request{Op: driver.Cancel, Undo: resv[i].undoA}), do(b, driver.Request{Op: driver.Cancel, Undo: resv[i].undoB})
				resv = append(resv[:i], resv[i+1:]...)
				if ra.OK != rb.OK {
					rt.Fatalf("step %d cancel: %v vs %v", step, ra.OK, rb.OK)
				}
				r = driver.Request{Op: driver.Cancel}
				goto check
			case 4:
				r = driver.Request{Op: driver.Hold, Hold: rapid.Int64Range(0, 100).Draw(rt, "hold"),
					Needs: []driver.Need{{Key: key(rt), N: 1, T: T, Tau: T}}}
			case 5:
				r = driver.Request{Op: driver.Reset, Needs: []driver.Need{{Key: key(rt), N: 1, T: T, Tau: T}}}
			case 6:
				now += rapid.Int64Range(0, 60).Draw(rt, "adv")
				clock.Set(time.Unix(0, now*1000))
				r = driver.Request{Op: driver.Status}
				goto check
			}
			{
				ra, rb := do(a, r), do(b, r)
				if ra.OK != rb.OK || len(ra.Needs) != len(rb.Needs) {
					rt.Fatalf("step %d %v: %+v vs %+v", step, r.Op, ra, rb)
				}
				if r.Op == driver.Reserve && ra.OK {
					resv = append(resv, res{ra.Undo, rb.Undo})
				}
			}
		check:
			// Each index finds every key at its place, in its chunk.
			for _, st := range []*State{a, b} {
				checkArena(rt, st)
				if st.pos.len() != st.slots.len() {
					rt.Fatalf("step %d: index %d keys, slots %d", step, st.pos.len(), st.slots.len())
				}
				for i := range st.slots.len() {
					k := st.slots.key(i)
					if p, ok := st.pos.find(k, &st.slots); !ok || p != i {
						rt.Fatalf("step %d: %s at %d found at %d %v", step, k, i, p, ok)
					}
				}
			}
			if a.slots.len() != b.slots.len() {
				rt.Fatalf("step %d: %d vs %d keys", step, a.slots.len(), b.slots.len())
			}
			for i := range a.slots.len() {
				sa, sb := a.slots.at(i), b.slots.at(i)
				if ka, kb := a.slots.key(i), b.slots.key(i); ka != kb || sa.tat != sb.tat {
					rt.Fatalf("step %d slot %d: %s/%d vs %s/%d", step, i, ka, sa.tat, kb, sb.tat)
				}
			}
			// No key ahead of now lost or changed but those the step
			// touched (a Cancel may give any back).
			touched := map[string]bool{}
			for _, nd := range r.Needs {
				touched[nd.Key] = true
			}
			for k, e := range shadow {
				if e.tat > now && !touched[k] && r.Op != driver.Cancel {
					if cur, ok := a.get(k); !ok || cur != e {
						rt.Fatalf("step %d: live key %s (tat %d > now %d) became %v %v", step, k, e.tat, now, cur, ok)
					}
				}
			}
			shadow = map[string]entry{}
			for i := range a.slots.len() {
				shadow[a.slots.key(i)] = a.slots.at(i).entry
			}
			r = driver.Request{}
		}
	})
}
