package memstore

// table is an open-addressing table of cells probed linearly: a power-of-two
// number of cells, in pages of cellPage cells (one smaller page when the
// table is smaller than that), so that a table is allocated a page at a
// time (see index.prepare). A cell is a key's tag (the upper 32 bits of its
// hash) and its place plus one in the lower 32 bits; zero is an empty
// cell. A cell's home is its tag modulo the table's size.
type table struct {
	pages [][]uint64
	size  uint64 // cells
	n     int    // cells used
}

// cellPageBits is log2 of cellPage.
const cellPageBits = 13

// cellPage is how many cells a page holds: 64 KiB, which the call that
// allocates it zeroes in microseconds.
const cellPage = 1 << cellPageBits

// placeBits is how many low bits of a cell hold the place plus one.
const placeBits = 32

// placeMask selects them.
const placeMask = 1<<placeBits - 1

// tag is the cell bits of a key's hash h.
func tag(h uint64) uint64 { return h &^ placeMask }

// cellPages returns the pages of a table of size cells (a power of two).
func cellPages(size uint64) [][]uint64 {
	if size <= cellPage {
		return [][]uint64{make([]uint64, size)}
	}
	pages := make([][]uint64, size/cellPage)
	for i := range pages {
		pages[i] = make([]uint64, cellPage)
	}
	return pages
}

func (t *table) mask() uint64 { return t.size - 1 }

// cell is cell j.
func (t *table) cell(j uint64) *uint64 { return &t.pages[j>>cellPageBits][j&(cellPage-1)] }

// home is the first cell probed for a cell value (or a tag) c.
func (t *table) home(c uint64) uint64 { return (c >> placeBits) & t.mask() }

// find is the cell holding exactly c (tag and place), ok false when t has
// none.
func (t *table) find(c uint64) (uint64, bool) {
	m := t.mask()
	for j := t.home(c); ; j = (j + 1) & m {
		switch *t.cell(j) {
		case c:
			return j, true
		case 0:
			return 0, false
		}
	}
}

// put stores c in the first empty cell from its home.
func (t *table) put(c uint64) {
	m := t.mask()
	j := t.home(c)
	for *t.cell(j) != 0 {
		j = (j + 1) & m
	}
	*t.cell(j) = c
	t.n++
}

// delete empties cell j and moves later cells of its run back into the
// hole where their home allows (backward-shift deletion), so that every
// cell stays reachable from its home without an empty cell between and no
// tombstone is left.
func (t *table) delete(j uint64) {
	m := t.mask()
	hole := j
	for k := (j + 1) & m; *t.cell(k) != 0; k = (k + 1) & m {
		// The cell at k stays when its home is cyclically in (hole, k].
		if h := t.home(*t.cell(k)); (k-h)&m < (k-hole)&m {
			continue
		}
		*t.cell(hole) = *t.cell(k)
		hole = k
	}
	*t.cell(hole) = 0
	t.n--
}
