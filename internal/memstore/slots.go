package memstore

// pageSize is how many keys one page of a slotList holds.
const pageSize = 4096

// firstPage is the size the first page starts at: it doubles up to
// pageSize as keys come, so that a State of a few keys is small (a page
// is 160 KiB).
const firstPage = 16

// slot is a key held and its value: the key's hash, where its bytes are in
// the list's keyArena, and its entry. It holds no pointer, so that the
// garbage collector does not look into the pages.
type slot struct {
	h          uint64
	chunk, off uint32 // off fits: a key past a chunk's size has a chunk of its own, at 0
	n          int
	entry
}

// slotList is the keys of a State and their values in pages of pageSize
// (the first one smaller until it fills), so that the sweep reads them in
// order without a map lookup, and the list grows without copying more
// than a page (a single slice would copy every key when it doubled:
// milliseconds at a million keys, under the lock).
type slotList struct {
	pages [][]slot
	n     int
	keys  keyArena
}

func newSlotList() slotList { return slotList{keys: newKeyArena()} }

func (l *slotList) len() int { return l.n }

func (l *slotList) at(i int) *slot { return &l.pages[i/pageSize][i%pageSize] }

// keyIs reports whether slot i holds key.
func (l *slotList) keyIs(i int, key string) bool {
	sl := l.at(i)
	return sl.n == len(key) && string(l.keys.bytes(sl.chunk, sl.off, sl.n)) == key
}

// push appends key, of hash h, with e and returns its place.
func (l *slotList) push(key string, h uint64, e entry) int {
	switch {
	case len(l.pages) == 0:
		l.pages = [][]slot{make([]slot, firstPage)}
	case l.n < pageSize && l.n == len(l.pages[0]):
		// The first page, full below pageSize: doubled (copying under
		// pageSize slots).
		p := make([]slot, min(2*l.n, pageSize))
		copy(p, l.pages[0])
		l.pages[0] = p
	case l.n == len(l.pages)*pageSize:
		l.pages = append(l.pages, make([]slot, pageSize))
	}
	i := l.n
	chunk, off := putKey(&l.keys, key)
	*l.at(i) = slot{h: h, chunk: chunk, off: off, n: len(key), entry: e}
	l.n++
	return i
}

// evacuate copies the key of slot i out of a chunk the pass running
// evacuates, if it is in one.
func (l *slotList) evacuate(i int) {
	sl := l.at(i)
	if !l.keys.old(sl.chunk) {
		return
	}
	b := l.keys.bytes(sl.chunk, sl.off, sl.n) // its chunk stays until the pass ends
	l.keys.drop(sl.n)
	sl.chunk, sl.off = putKey(&l.keys, b)
}

// removeAt removes the slot at i by moving the last one into its place,
// and returns the hash of the key it moved and the place it was at (ok
// false when the slot at i was the last). A page left empty at the end is
// dropped, keeping one spare.
func (l *slotList) removeAt(i int) (moved uint64, from int, ok bool) {
	l.keys.drop(l.at(i).n)
	last := l.n - 1
	if i != last {
		*l.at(i) = *l.at(last)
		moved, from, ok = l.at(i).h, last, true
	}
	*l.at(last) = slot{}
	l.n = last
	if full := (l.n + pageSize - 1) / pageSize; len(l.pages) > full+1 {
		l.pages[len(l.pages)-1] = nil
		l.pages = l.pages[:len(l.pages)-1]
	}
	return moved, from, ok
}
