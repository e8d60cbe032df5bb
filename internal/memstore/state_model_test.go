package memstore

import (
	"hash/maphash"
	"strconv"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/sharedlimit/sharedlimit/internal/gcra"
	"github.com/sharedlimit/sharedlimit/internal/testutil"
	"github.com/sharedlimit/sharedlimit/limiter/driver"
)

// model is a reference for a State: a Go map of every key written, never
// swept, with the State's tokens, on which a key whose tat is at or
// before now (gcra.Idle) is as good as none.
type model struct {
	m   map[string]entry
	seq uint64
}

// modelUndo is what a Cancel of a reservation needs of one key, in model.
type modelUndo struct {
	key        string
	prev, mine entry
	had        bool
}

func (m *model) store(key string, tat int64) entry {
	m.seq++
	e := entry{tat: tat, tok: m.seq}
	m.m[key] = e
	return e
}

// decide answers r as State.decide does, on the map; for a Reserve it
// returns the model's undo.
func (m *model) decide(r *driver.Request, a *driver.Answer, now int64, undo []modelUndo) []modelUndo {
	switch r.Op {
	case driver.Allow, driver.Reserve:
		tats := make([]int64, len(r.Needs))
		next := make([]int64, len(r.Needs))
		for i, nd := range r.Needs {
			tats[i] = m.m[nd.Key].tat
		}
		maxWait := int64(0)
		if r.Op == driver.Reserve {
			maxWait = r.MaxWait
		}
		if !gcra.Take(tats, now, r.Needs, maxWait, a, next) {
			return nil
		}
		var u []modelUndo
		for i, nd := range r.Needs {
			prev, had := m.m[nd.Key]
			u = append(u, modelUndo{key: nd.Key, prev: prev, had: had, mine: m.store(nd.Key, next[i])})
		}
		if r.Op == driver.Reserve {
			a.Order = int64(m.seq)
			return u
		}
	case driver.Hold:
		nd := r.Needs[0]
		m.store(nd.Key, gcra.Hold(m.m[nd.Key].tat, now, nd.T, nd.Tau, r.Hold))
	case driver.Status:
		nd := r.Needs[0]
		a.Needs = append(a.Needs[:0], gcra.Status(m.m[nd.Key].tat, now, nd.T, nd.Tau))
	case driver.Reset:
		delete(m.m, r.Needs[0].Key)
	case driver.Cancel:
		for _, k := range undo {
			if e, ok := m.m[k.key]; ok && e == k.mine {
				if k.had {
					m.m[k.key] = k.prev
				} else {
					delete(m.m, k.key)
				}
				a.OK = true
			}
		}
	}
	return nil
}

// TestStateModel runs random requests on a State and on a model (a Go map
// never swept), with the parts of the State that make it hard to get
// right pushed to their edges at once: an index that grows with a step of
// as few as one cell (so that keys are added, found, moved and removed
// while a table is being emptied into the next), hashes that clash in
// every way (tags equal, homes equal with tags apart, or none), chunks of
// keys of a few bytes (keys evacuated on most passes, and keys larger
// than a chunk), keys of every length from the empty one up, and enough
// keys for several doublings. Every answer must be the model's, every key
// whose model tat is ahead of now must be held with the model's exact
// value (token included), the index must be valid (checkIndex) and every
// key must read back from a chunk that is there (checkArena).
func TestStateModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		clock := testutil.NewStepClock(time.Unix(0, 0))
		st := NewState(clock.Now)
		st.pos.step = rapid.IntRange(1, migrateStep).Draw(rt, "step")
		st.slots.keys.max = rapid.SampledFrom([]int{1, 4, 16, 256, maxChunk}).Draw(rt, "chunk")
		nh := rapid.Uint64Range(1, 8).Draw(rt, "nh")
		switch rapid.IntRange(0, 4).Draw(rt, "hash") {
		case 1:
			st.pos.hash = fixedHash
		case 2: // few homes, tags apart in their high bits
			st.pos.hash = func(s maphash.Seed, k string) uint64 { return (fixedHash(s, k) % nh) << 60 }
		case 3: // few tags, which are their homes
			st.pos.hash = func(s maphash.Seed, k string) uint64 { return (fixedHash(s, k) % nh) << 32 }
		case 4: // hashes that differ in their low bits only: one tag
			st.pos.hash = func(s maphash.Seed, k string) uint64 { return fixedHash(s, k) % (1 << 32) }
		}
		nkeys := rapid.SampledFrom([]int{3, 40, 1500}).Draw(rt, "nkeys")
		long := rapid.IntRange(0, 300).Draw(rt, "long")
		keys := make([]string, nkeys)
		for i := range keys {
			if i > 0 { // key 0 is the empty key
				keys[i] = strconv.Itoa(i) + strings.Repeat("x", (i*7919)%(long+1))
			}
		}
		fresh := 0
		key := func() string { // a key drawn, or the next in turn (so that many are held)
			if rapid.Bool().Draw(rt, "fresh") {
				fresh++
				return keys[fresh%nkeys]
			}
			return keys[rapid.IntRange(0, nkeys-1).Draw(rt, "key")]
		}
		mdl := &model{m: map[string]entry{}}
		type res struct {
			st  any
			mdl []modelUndo
			now int64
		}
		var resv []res
		now := int64(0)
		most := 3000
		if raceBuild {
			most = 600
		}
		steps := rapid.SampledFrom([]int{10, 200, most}).Draw(rt, "steps")
		for step := range steps {
			T := rapid.SampledFrom([]int64{1, 7, 50, hour}).Draw(rt, "T") // hour: keys that stay, so that many are held
			var r driver.Request
			var mu []modelUndo
			switch op := rapid.IntRange(0, 7).Draw(rt, "op"); op {
			case 0, 1, 2:
				r = driver.Request{Op: driver.Allow}
				seen := map[string]bool{}
				for range rapid.IntRange(1, 3).Draw(rt, "needs") {
					if k := key(); !seen[k] {
						seen[k] = true
						r.Needs = append(r.Needs, driver.Need{Key: k, N: 1, T: T, Tau: T * rapid.Int64Range(1, 3).Draw(rt, "b")}) // Burst >= 1, as the limiter checks
					}
				}
			case 3:
				r = driver.Request{Op: driver.Reserve, MaxWait: rapid.Int64Range(0, 200).Draw(rt, "mw"),
					Needs: []driver.Need{{Key: key(), N: 1, T: T, Tau: T}}}
			case 4:
				if len(resv) == 0 {
					continue
				}
				i := rapid.IntRange(0, len(resv)-1).Draw(rt, "which")
				r = driver.Request{Op: driver.Cancel, Undo: resv[i].st}
				mu = resv[i].mdl
				resv = append(resv[:i], resv[i+1:]...)
			case 5:
				r = driver.Request{Op: driver.Hold, Hold: rapid.Int64Range(0, 100).Draw(rt, "hold"),
					Needs: []driver.Need{{Key: key(), N: 1, T: T, Tau: T}}}
			case 6:
				r = driver.Request{Op: driver.Reset, Needs: []driver.Need{{Key: key()}}}
			case 7:
				now += rapid.Int64Range(0, 60).Draw(rt, "adv")
				clock.Set(time.Unix(0, now*1000))
				r = driver.Request{Op: driver.Status, Needs: []driver.Need{{Key: key(), N: 1, T: T, Tau: T}}}
			}
			var ma driver.Answer
			// A cancel's OK is the model's where the value it gives back is
			// live (one gone idle may have been swept).
			live := r.Op == driver.Cancel && len(mu) > 0 && mu[0].mine.tat > now
			mres := mdl.decide(&r, &ma, now, mu)
			sa := do(st, r)
			if sa.OK != ma.OK && (r.Op != driver.Cancel || live) || sa.Order != ma.Order || len(sa.Needs) != len(ma.Needs) {
				rt.Fatalf("step %d %v %+v: state answered %+v, model %+v", step, r.Op, r.Needs, sa, ma)
			}
			for i := range sa.Needs {
				if sa.Needs[i] != ma.Needs[i] {
					rt.Fatalf("step %d %v need %d: state %+v, model %+v", step, r.Op, i, sa.Needs[i], ma.Needs[i])
				}
			}
			if r.Op == driver.Reserve && sa.OK {
				resv = append(resv, res{st: sa.Undo, mdl: mres, now: now})
			}
			// The keys of the request each step, all of them and the
			// tables now and then (a key lost stays lost).
			check := keys
			if full := step%31 == 0 || step == steps-1; full {
				checkIndex(rt, &st.pos, &st.slots)
				checkArena(rt, st)
			} else {
				check = check[:0:0]
				for _, nd := range r.Needs {
					check = append(check, nd.Key)
				}
			}
			for _, k := range check {
				e, ok := st.get(k)
				if me := mdl.m[k]; me.tat > now {
					if !ok || e != me {
						rt.Fatalf("step %d: key %q (len %d) holds %+v (%v), model %+v live at %d", step, k, len(k), e, ok, me, now)
					}
				} else if ok && e.tat > now {
					rt.Fatalf("step %d: key %q holds %+v, live, model %+v idle at %d", step, k, e, me, now)
				}
			}
		}
	})
}
