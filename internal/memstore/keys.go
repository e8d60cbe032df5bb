package memstore

// keyArena holds the bytes of the keys of a slotList in chunks of bytes,
// which the garbage collector neither scans nor follows: a slot refers to
// its key by chunk, offset and length, not by a Go string, so that a
// State of a million keys is a few dozen objects to the collector rather
// than a million strings to mark on every cycle (each a cache miss; calls
// of milliseconds came during those cycles).
//
// A removed key's bytes stay in their chunk until its chunk is freed.
// When the chunks hold more than twice the live keys' bytes, the next pass
// of the sweep copies every live key it looks at out of the chunks of
// before the pass (evacuate); at the end of the pass none is left in them,
// and they are freed. A pass looks at every slot (see State.remove for the
// slots moved behind it), so the arena stays within about twice the live
// bytes plus what one pass adds, and each write copies sweepPerWrite keys
// at most, and one more by a removal (State.remove).
type keyArena struct {
	chunks [][]byte // by index; nil: free
	epochs []uint32 // the epoch each chunk was made in
	free   []uint32 // indices of nil chunks
	cur    int      // the chunk keys are added to (-1: none)
	used   int      // bytes of it used
	epoch  uint32   // chunks made before it are evacuated by the pass running (evacuating)
	evac   bool     // a pass is evacuating
	live   int      // bytes of the keys held
	size   int      // bytes of every chunk
	max    int      // the largest chunk made for keys that fit one: maxChunk; tests lower it
}

// maxChunk is the size of a chunk once the arena holds a few: 64 KiB, which
// the call that allocates it zeroes in microseconds.
const maxChunk = 64 << 10

// minChunk is the first chunk's size, so that a State of a few keys is
// small.
const minChunk = 256

func newKeyArena() keyArena { return keyArena{cur: -1, max: maxChunk} }

// putKey copies k into the arena and returns where it is.
func putKey[K string | []byte](a *keyArena, k K) (chunk, off uint32) {
	if a.cur < 0 || a.used+len(k) > len(a.chunks[a.cur]) {
		a.grow(len(k))
	}
	chunk, off = uint32(a.cur), uint32(a.used)
	a.used += copy(a.chunks[a.cur][a.used:], k)
	a.live += len(k)
	return chunk, off
}

// grow starts a chunk for keys to come, of at least n bytes: half the
// arena's size, from minChunk up to max (a key larger than that gets a
// chunk of its own size).
func (a *keyArena) grow(n int) {
	size := min(max(a.size/2, minChunk), a.max)
	size = max(size, n)
	c := len(a.chunks)
	if f := len(a.free); f > 0 {
		c = int(a.free[f-1])
		a.free = a.free[:f-1]
		a.chunks[c], a.epochs[c] = make([]byte, size), a.epoch
	} else {
		a.chunks, a.epochs = append(a.chunks, make([]byte, size)), append(a.epochs, a.epoch)
	}
	a.cur, a.used = c, 0
	a.size += size
}

// bytes is the key at chunk, off of n bytes.
func (a *keyArena) bytes(chunk, off uint32, n int) []byte {
	end := int(off) + n
	return a.chunks[chunk][off:end:end]
}

// drop accounts for a key of n bytes that left.
func (a *keyArena) drop(n int) { a.live -= n }

// old reports whether a key in chunk is to be copied out by the pass
// running.
func (a *keyArena) old(chunk uint32) bool { return a.evac && a.epochs[chunk] < a.epoch }

// passStarts is called as the sweep starts a pass over the slots: it frees
// the chunks the pass that ended evacuated, and starts evacuating in this
// pass when the chunks hold more than twice the live bytes and a few
// minimal chunks (a few of the largest would keep a quarter of a MiB of
// removed keys in each small State: TestArenaSmallStateFrees).
func (a *keyArena) passStarts() {
	if a.evac {
		for c, ch := range a.chunks {
			if ch != nil && a.epochs[c] < a.epoch {
				a.size -= len(ch)
				a.chunks[c] = nil
				a.free = append(a.free, uint32(c))
			}
		}
		a.evac = false
	}
	if a.size > 2*a.live+4*min(minChunk, a.max) {
		a.epoch++
		a.evac = true
		a.cur = -1 // the chunk in use is evacuated too
	}
}
