package memstore

// pageSize is how many keys one page of a keyList holds.
const pageSize = 4096

// keyList is the keys of a State in pages of pageSize, so that it grows
// without ever copying its keys (a single slice would copy all of them
// when it doubled: milliseconds at a million keys, under the lock).
type keyList struct {
	pages [][]string
	n     int
}

func (l *keyList) len() int { return l.n }

func (l *keyList) at(i int) string { return l.pages[i/pageSize][i%pageSize] }

// push appends key and returns its place.
func (l *keyList) push(key string) int {
	if l.n == len(l.pages)*pageSize {
		l.pages = append(l.pages, make([]string, pageSize))
	}
	i := l.n
	l.pages[i/pageSize][i%pageSize] = key
	l.n++
	return i
}

// removeAt removes the key at i by moving the last key into its place,
// and returns that key (ok false when the key at i was the last). A page
// left empty at the end is dropped, keeping one spare.
func (l *keyList) removeAt(i int) (moved string, ok bool) {
	last := l.n - 1
	if i != last {
		moved, ok = l.at(last), true
		l.pages[i/pageSize][i%pageSize] = moved
	}
	l.pages[last/pageSize][last%pageSize] = "" // let the key's string go
	l.n = last
	if full := (l.n + pageSize - 1) / pageSize; len(l.pages) > full+1 {
		l.pages[len(l.pages)-1] = nil
		l.pages = l.pages[:len(l.pages)-1]
	}
	return moved, ok
}
