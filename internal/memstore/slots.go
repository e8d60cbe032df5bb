package memstore

// pageSize is how many keys one page of a slotList holds.
const pageSize = 4096

// slot is a key held and its value.
type slot struct {
	key string
	entry
}

// slotList is the keys of a State and their values in pages of pageSize,
// so that the sweep reads them in order without a map lookup, and the
// list grows without ever copying them (a single slice would copy every
// key when it doubled: milliseconds at a million keys, under the lock).
type slotList struct {
	pages [][]slot
	n     int
}

func (l *slotList) len() int { return l.n }

func (l *slotList) at(i int) *slot { return &l.pages[i/pageSize][i%pageSize] }

// push appends sl and returns its place.
func (l *slotList) push(sl slot) int {
	if l.n == len(l.pages)*pageSize {
		l.pages = append(l.pages, make([]slot, pageSize))
	}
	i := l.n
	*l.at(i) = sl
	l.n++
	return i
}

// removeAt removes the slot at i by moving the last one into its place,
// and returns the key it moved and the place it was at (ok false when the
// slot at i was the last). A page left empty at the end is dropped,
// keeping one spare.
func (l *slotList) removeAt(i int) (moved string, from int, ok bool) {
	last := l.n - 1
	if i != last {
		*l.at(i) = *l.at(last)
		moved, from, ok = l.at(i).key, last, true
	}
	*l.at(last) = slot{} // let the key's string go
	l.n = last
	if full := (l.n + pageSize - 1) / pageSize; len(l.pages) > full+1 {
		l.pages[len(l.pages)-1] = nil
		l.pages = l.pages[:len(l.pages)-1]
	}
	return moved, from, ok
}
