package memstore

import "hash/maphash"

// An index maps each key held to its place in a slotList: a table (see
// table.go) of one cell per key, so that a probe reads one cache line,
// compares tags without touching the keys, and reads a slot only where a
// tag matches; the slot's own key confirms the match, so that keys whose
// hashes clash are told apart exactly.
//
// The table holds half as many keys as it has cells at most, and doubles
// without a pause (growing a Go map of a million keys at once takes
// milliseconds, in one call):
//   - the next table is allocated a page per few adds while the table
//     fills from a quarter to half (prepare), rather than at once;
//   - once it is in use, it takes every key added, and each add copies the
//     keys of the next migrateStep cells of the old table into it, a whole
//     run of cells at a time, in order from a cell after an empty one: the
//     keys whose home is before the cursor are in the new table, and those
//     from the cursor on are in the old one or (added since) the new one
//     (see inOld). The old table is read from the cursor on only, where it
//     is unchanged but for its keys' removals and moves.
//
// The table does not shrink when keys leave (nor does a Go map): a State
// keeps 8 to 32 bytes of cells per key it once held at the most, where the
// keys' slots and bytes are given back.
//
// Places are 32-bit: a State holds fewer than 2^32-1 keys (a memory of
// over 128 GiB).
type index struct {
	seed maphash.Seed
	hash func(maphash.Seed, string) uint64 // maphash.String; tests make hashes clash
	cur  table                             // where keys are added
	old  table                             // the table being copied into cur, n its keys not copied yet (size 0: none)
	next [][]uint64                        // pages of the table after cur, allocated ahead
	at   uint64                            // the next cell of old to move
	from uint64                            // old's first cell in the order of the move
	step int                               // cells of old looked at per add: migrateStep; tests lower it
}

// migrateStep is how many cells of the old table each add looks at: with a
// table doubled at half full, 32 cells an add empty it within 3/64 of the
// adds the doubling is for, so that the new table is at most a quarter
// full plus 1/21 when it is done, and keys are looked for in two tables
// for few calls.
const migrateStep = 32

// minCells is the size of an empty index's table.
const minCells = 8

func newIndex() index {
	return index{seed: maphash.MakeSeed(), hash: maphash.String, cur: table{pages: cellPages(minCells), size: minCells}, step: migrateStep}
}

func (x *index) len() int { return x.cur.n + x.old.n }

// inOld reports whether a key of tag tg may be in the old table: those not
// copied yet, whose home is at or after the cursor in the order of the
// copy (which starts after an empty cell and copies whole runs, so a run
// is on one side of the cursor).
func (x *index) inOld(tg uint64) bool {
	if x.old.n == 0 {
		return false
	}
	m := x.old.mask()
	return (x.old.home(tg)-x.from)&m >= (x.at-x.from)&m
}

// sum is key's hash.
func (x *index) sum(key string) uint64 { return x.hash(x.seed, key) }

// find is key's place in slots.
func (x *index) find(key string, slots *slotList) (int, bool) {
	return x.findHash(x.sum(key), key, slots)
}

// findHash is the place in slots of key, whose hash is h.
func (x *index) findHash(h uint64, key string, slots *slotList) (int, bool) {
	tg := tag(h)
	if x.inOld(tg) {
		if i, ok := lookup(&x.old, tg, key, slots); ok {
			return i, true
		}
	}
	return lookup(&x.cur, tg, key, slots)
}

// lookup is key's place in slots by t, where its tag is tg.
func lookup(t *table, tg uint64, key string, slots *slotList) (int, bool) {
	m := t.mask()
	for j := t.home(tg); ; j = (j + 1) & m {
		c := *t.cell(j)
		if c == 0 {
			return 0, false
		}
		if c&^placeMask == tg {
			if i := int(c&placeMask) - 1; slots.keyIs(i, key) {
				return i, true
			}
		}
	}
}

// locate is the table and cell holding the key of hash h at place i, which
// is held.
func (x *index) locate(h uint64, i int) (*table, uint64) {
	c := tag(h) | uint64(i+1)
	if x.inOld(c) {
		if j, ok := x.old.find(c); ok {
			return &x.old, j
		}
	}
	j, _ := x.cur.find(c)
	return &x.cur, j
}

// add records i as the place of the key of hash h, which is not held, then
// copies a step of the old table's keys, or allocates a page of the next
// table.
func (x *index) add(h uint64, i int) {
	if uint64(x.len()+1)*2 > x.cur.size {
		// The keys of the old table would not fit the new one at half
		// full: move the rest now (not reached with migrateStep, see
		// there; tests lower the step to reach it).
		x.migrate(int(x.old.size) + x.old.n)
		x.grow()
	}
	x.cur.put(tag(h) | uint64(i+1))
	if x.old.n > 0 {
		x.migrate(x.step)
	} else {
		x.prepare()
	}
}

// prepare allocates the next page of the table after cur, if the pages
// allocated so far are behind cur's load: between a quarter and half full,
// all of them, a page every cellPage/8 adds (a table of one page is
// allocated whole when it is needed).
func (x *index) prepare() {
	size := 2 * x.cur.size
	if size <= cellPage {
		return
	}
	quarter := x.cur.size / 4
	if uint64(x.cur.n) <= quarter {
		return
	}
	want := (size/cellPage*(uint64(x.cur.n)-quarter) + quarter - 1) / quarter
	if uint64(len(x.next)) < want {
		x.next = append(x.next, make([]uint64, cellPage))
	}
}

// grow starts moving the keys into a table of twice as many cells, from
// the cell after an empty one (at half full, there is one near the start).
func (x *index) grow() {
	size := 2 * x.cur.size
	pages := x.next
	x.next = nil
	if size <= cellPage {
		pages = cellPages(size)
	}
	for uint64(len(pages)) < size/cellPage {
		pages = append(pages, make([]uint64, cellPage)) // not reached: see prepare
	}
	x.old, x.cur = x.cur, table{pages: pages, size: size}
	e := uint64(0)
	for *x.old.cell(e) != 0 {
		e++
	}
	x.from = (e + 1) & x.old.mask()
	x.at = x.from
}

// migrate looks at about n cells of the old table from the cursor (a run
// of cells is copied whole), copying their keys into the new one, and
// drops the old table once every key is copied.
func (x *index) migrate(n int) {
	m := x.old.mask()
	for n > 0 && x.old.n > 0 {
		for ; *x.old.cell(x.at) != 0; n-- {
			x.cur.put(*x.old.cell(x.at))
			x.old.n--
			x.at = (x.at + 1) & m
		}
		x.at = (x.at + 1) & m // the empty cell after the run
		n--
	}
	x.dropOld()
}

// dropOld drops the old table once none of its keys is left to copy.
func (x *index) dropOld() {
	if x.old.n == 0 {
		x.old = table{}
	}
}

// set records to as the place of the key of hash h, held at from.
func (x *index) set(h uint64, from, to int) {
	t, j := x.locate(h, from)
	*t.cell(j) = *t.cell(j)&^placeMask | uint64(to+1)
}

// del forgets the key of hash h, held at i.
func (x *index) del(h uint64, i int) {
	t, j := x.locate(h, i)
	t.delete(j)
	x.dropOld()
}
