package memstore

import (
	"hash/maphash"
	"math/rand/v2"
	"strconv"
	"testing"

	"pgregory.net/rapid"
)

// checkIndex fails unless x is a valid index of slots: every key of slots
// is found at its place, the tables hold exactly that many cells, every
// cell is reachable from its home without an empty cell between, and every
// cell of the old table not copied yet has its home at or after the cursor
// (which find relies on to skip the old table).
func checkIndex(t interface{ Fatalf(string, ...any) }, x *index, slots *slotList) {
	if x.len() != slots.len() {
		t.Fatalf("index holds %d keys (new %d, old %d), slots %d", x.len(), x.cur.n, x.old.n, slots.len())
	}
	for i := range slots.len() {
		k := slots.key(i)
		if slots.at(i).h != x.sum(k) {
			t.Fatalf("slot %d: key %q with the hash of another", i, k)
		}
		if p, ok := x.find(k, slots); !ok || p != i {
			t.Fatalf("key %q: found at %d (%v), held at %d", k, p, ok, i)
		}
	}
	for name, tb := range map[string]*table{"new": &x.cur, "old": &x.old} {
		used := 0
		for j := range tb.size {
			c := *tb.cell(j)
			if c == 0 || name == "old" && (j-x.from)&tb.mask() < (x.at-x.from)&tb.mask() {
				continue // empty, or copied already
			}
			used++
			m := tb.mask()
			for k := tb.home(c); k != j; k = (k + 1) & m {
				if *tb.cell(k) == 0 {
					t.Fatalf("%s table: cell %d (home %d) is behind an empty cell %d", name, j, tb.home(c), k)
				}
			}
			if name == "old" && !x.inOld(c) {
				t.Fatalf("old table: cell %d has its home %d before the cursor %d (start %d)", j, tb.home(c), x.at, x.from)
			}
		}
		if used != tb.n {
			t.Fatalf("%s table: %d cells used, counted %d", name, used, tb.n)
		}
	}
	if x.old.n == 0 && x.old.size != 0 {
		t.Fatalf("an empty old table is kept")
	}
	if uint64(2*x.cur.n) > x.cur.size {
		t.Fatalf("new table over half full: %d of %d cells", x.cur.n, x.cur.size)
	}
}

// TestIndexDifferential adds and removes keys at random (a remove moves the
// last slot into the hole, as the sweep does), with hashes that clash or
// not, and an add that moves as few as one cell of the old table, so that
// keys come and go while a table is being emptied: after every step each
// key held is found at its place and the tables are valid (checkIndex),
// and a key not held is not found.
func TestIndexDifferential(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		x := newIndex()
		x.step = rapid.IntRange(1, 4).Draw(rt, "step")
		x.hash = fixedHash // the same runs of cells for the same draws
		if nh := rapid.Uint64Range(0, 8).Draw(rt, "hashes"); nh > 0 {
			// Few hash values, and tags that differ in their high bits
			// only or not at all: long runs of one home.
			x.hash = func(s maphash.Seed, key string) uint64 { return (fixedHash(s, key) % nh) << 60 }
		}
		slots := newSlotList()
		nkeys := rapid.IntRange(1, 300).Draw(rt, "nkeys")
		for range rapid.IntRange(1, 1000).Draw(rt, "steps") {
			k := "k" + strconv.Itoa(rapid.IntRange(0, nkeys-1).Draw(rt, "key"))
			i, held := x.find(k, &slots)
			if held && !slots.keyIs(i, k) {
				rt.Fatalf("find %q gave the place of %q", k, slots.key(i))
			}
			switch {
			case !held:
				h := x.sum(k)
				x.add(h, slots.push(k, h, entry{}))
			case rapid.Bool().Draw(rt, "remove"):
				x.del(x.sum(k), i)
				if moved, from, ok := slots.removeAt(i); ok {
					x.set(moved, from, i)
				}
				if _, ok := x.find(k, &slots); ok {
					rt.Fatalf("removed key %q still found", k)
				}
			}
			checkIndex(rt, &x, &slots)
		}
	})
}

// fixedHash is a hash of key that does not depend on a seed: FNV-1a,
// mixed so that its high bits (the tag and home) vary.
func fixedHash(_ maphash.Seed, key string) uint64 {
	h := uint64(14695981039346656037)
	for i := range len(key) {
		h = (h ^ uint64(key[i])) * 1099511628211
	}
	return h * 0x9e3779b97f4a7c15
}

// TestIndexGrowsInSteps fills an index past several doublings and checks
// that no add looks at more than its step of the old table (the old table
// is emptied over many adds, never at once), nor allocates more than a
// page of the next one, which is allocated in full when it is needed.
func TestIndexGrowsInSteps(t *testing.T) {
	x := newIndex()
	slots := newSlotList()
	growths, addsWhileMoving := 0, 0
	for i := range 100_000 {
		k := "user:" + strconv.Itoa(i)
		moving := x.old.n > 0
		before := x.old.n
		if size := 2 * x.cur.size; !moving && uint64(x.len()+1)*2 > x.cur.size && size > cellPage && uint64(len(x.next)) != size/cellPage {
			t.Fatalf("add %d grows the table to %d cells with %d pages of it allocated, want all %d", i, size, len(x.next), size/cellPage)
		}
		pages := len(x.next)
		h := x.sum(k)
		x.add(h, slots.push(k, h, entry{}))
		if len(x.next) > pages+1 {
			t.Fatalf("add %d allocated %d pages of the next table, more than one", i, len(x.next)-pages)
		}
		if x.old.n > 0 && !moving {
			growths++
		}
		if moving {
			addsWhileMoving++
			if moved := before - x.old.n; moved > 2*migrateStep {
				t.Fatalf("add %d copied %d keys of the old table, more than twice its step %d", i, moved, migrateStep)
			}
		}
	}
	checkIndex(t, &x, &slots)
	if growths < 10 || addsWhileMoving == 0 {
		t.Fatalf("%d growths, %d adds while moving: the table did not grow in steps", growths, addsWhileMoving)
	}
	if x.cur.size > 4*100_000 {
		t.Fatalf("%d cells for 100000 keys", x.cur.size)
	}
}

// TestIndexChurnAcrossPages adds and removes keys at random in an index
// of tables of many pages, with a step of one cell, so that keys are
// removed and moved while a table of several pages is emptied into the
// next (TestIndexDifferential stays within one page): the index stays
// valid (checkIndex) and every key held is found at its place.
func TestIndexChurnAcrossPages(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, step := range []int{1, migrateStep} {
		x := newIndex()
		x.step = step
		slots := newSlotList()
		const universe = 40_000
		held, checks := 0, 0
		for op := range 300_000 {
			k := "u" + strconv.Itoa(rng.IntN(universe))
			i, ok := x.find(k, &slots)
			switch {
			case !ok && (op < 100_000 || rng.IntN(2) == 0):
				h := x.sum(k)
				x.add(h, slots.push(k, h, entry{}))
			case ok && op >= 50_000:
				x.del(x.sum(k), i)
				if moved, from, ok := slots.removeAt(i); ok {
					x.set(moved, from, i)
				}
			}
			if x.old.n > 0 && x.old.size > cellPage && op%1009 == 0 {
				checkIndex(t, &x, &slots)
				checks++
			}
			held = max(held, x.len())
		}
		checkIndex(t, &x, &slots)
		if checks == 0 || held < 2*cellPage {
			t.Fatalf("step %d: %d checks while a table of pages was emptied, %d keys at most: not what the test is for", step, checks, held)
		}
	}
}
