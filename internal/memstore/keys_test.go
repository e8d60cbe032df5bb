package memstore

import (
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/sharedlimit/sharedlimit/internal/testutil"
	"github.com/sharedlimit/sharedlimit/limiter/driver"
)

// key is the key of slot i, as a new string (the store compares keys in
// place: keyIs).
func (l *slotList) key(i int) string {
	sl := l.at(i)
	return string(l.keys.bytes(sl.chunk, sl.off, sl.n))
}

// checkArena fails unless every slot's key is in a chunk that is there
// and has the hash the slot holds (the bytes are still the key's), and
// the arena's counts are its chunks' and its keys' bytes.
func checkArena(t interface{ Fatalf(string, ...any) }, st *State) {
	l := &st.slots
	a := &l.keys
	live := 0
	for i := range l.len() {
		sl := l.at(i)
		if int(sl.chunk) >= len(a.chunks) || a.chunks[sl.chunk] == nil || int(sl.off)+sl.n > len(a.chunks[sl.chunk]) {
			t.Fatalf("slot %d: key in chunk %d at %d+%d, which is not there (%d chunks)", i, sl.chunk, sl.off, sl.n, len(a.chunks))
		}
		if k := l.key(i); st.pos.sum(k) != sl.h {
			t.Fatalf("slot %d: key %q, which has not the slot's hash: its bytes were overwritten", i, k)
		}
		live += int(sl.n)
	}
	size := 0
	for _, ch := range a.chunks {
		size += len(ch)
	}
	if live != a.live || size != a.size {
		t.Fatalf("arena counts %d live bytes in %d, its keys hold %d in %d", a.live, a.size, live, size)
	}
}

// TestArenaFreesRemovedKeys churns keys through a State whose chunks are
// small and at their default: a key idle 1 µs after its write, a new one
// each write. The arena must free the chunks of the keys that left, so
// that it stays within a bound of the live keys' bytes, and every key
// held must read back as written.
func TestArenaFreesRemovedKeys(t *testing.T) {
	for _, chunk := range []int{16, 64, maxChunk} {
		t.Run(strconv.Itoa(chunk), func(t *testing.T) {
			clock := testutil.NewStepClock(time.Unix(0, 0))
			st := NewState(clock.Now)
			st.slots.keys.max = chunk
			const live = 100
			for i := range live {
				do(st, allow("live-"+strconv.Itoa(i), hour))
			}
			excess := 0 // the most the arena held over twice the live bytes
			for i := range 100_000 {
				clock.Set(time.Unix(0, int64(i+1)*1000))
				do(st, allow("churn-"+strconv.Itoa(i), 1)) // idle 1 µs after
				excess = max(excess, st.slots.keys.size-2*st.slots.keys.live)
				if i%997 == 0 {
					checkArena(t, st)
				}
			}
			checkArena(t, st)
			for i := range live {
				k := "live-" + strconv.Itoa(i)
				if p, ok := st.pos.find(k, &st.slots); !ok || st.slots.key(p) != k {
					t.Fatalf("%s: held %v", k, ok)
				}
			}
			// Evacuation starts at twice the live bytes and four chunks
			// over; the keys a pass adds meanwhile, and the ends of
			// chunks that a key did not fit, come on top. 100,000 keys
			// of about 12 bytes would be 1.2 MB kept.
			if bound := 8*chunk + 4096; excess > bound {
				t.Fatalf("arena held %d bytes over twice its live bytes, want at most %d", excess, bound)
			}
		})
	}
}

// TestRemoveBehindSweepEvacuates removes a key behind the sweep's place
// while a pass evacuates: the last key, still in a chunk the pass empties,
// moves into a place the pass has looked at already, so the removal must
// copy it out, or it is left in a freed chunk when the pass ends.
func TestRemoveBehindSweepEvacuates(t *testing.T) {
	clock := testutil.NewStepClock(time.Unix(0, 0))
	st := NewState(clock.Now)
	st.slots.keys.max = 4
	for i := range 10 {
		do(st, allow("k"+strconv.Itoa(i), hour))
	}
	// A pass evacuating, halfway through: the first five looked at.
	st.slots.keys.epoch++
	epoch := st.slots.keys.epoch
	st.slots.keys.evac, st.slots.keys.cur = true, -1
	st.next = 5
	for i := range st.next {
		st.slots.evacuate(i)
	}
	last := st.slots.key(st.slots.len() - 1)
	do(st, driver.Request{Op: driver.Reset, Needs: []driver.Need{{Key: st.slots.key(1), N: 1, T: hour, Tau: hour}}})
	if st.slots.key(1) != last {
		t.Fatalf("the Reset moved %q into place 1, want the last key %q", st.slots.key(1), last)
	}
	for i := range 10 { // writes that end the pass, and start the next
		do(st, allow("w"+strconv.Itoa(i), hour))
	}
	for c, ch := range st.slots.keys.chunks {
		if ch != nil && st.slots.keys.epochs[c] < epoch {
			t.Fatalf("chunk %d of before the pass kept: the pass did not end", c)
		}
	}
	checkArena(t, st)
}

// TestArenaSmallStateFrees churns keys through a State that holds two
// live keys: its arena must stay within a few minimal chunks of the live
// bytes, as strings would (the garbage collector frees a removed key's
// string), so that a program of many small States, each churning keys,
// does not keep a quarter of a MiB of removed keys in each. (Evacuating
// only past four chunks of 64 KiB over twice the live bytes kept up to
// 346,072 bytes for 20 live.)
func TestArenaSmallStateFrees(t *testing.T) {
	clock := testutil.NewStepClock(time.Unix(0, 0))
	st := NewState(clock.Now)
	do(st, allow("live", hour))
	most := 0
	for i := range 20_000 {
		clock.Set(time.Unix(0, int64(i+1)*1000))
		do(st, allow("user:churn:"+strconv.Itoa(i), 1)) // idle 1 µs after
		most = max(most, st.slots.keys.size)
		if i%997 == 0 {
			checkArena(t, st)
		}
	}
	checkArena(t, st)
	// Four minimal chunks over twice the live bytes start evacuation,
	// and the pass adds a chunk of up to half the arena meanwhile.
	if bound := 2*st.slots.keys.live + 16*minChunk; most > bound {
		t.Fatalf("arena of %d bytes at most for %d live bytes, want at most %d", most, st.slots.keys.live, bound)
	}
}

// TestKeysEmptyAndHuge: the empty key (which the limiter refuses, but a
// driver.Store from limiter/memory.NewStore takes) and a key of 1 MiB,
// larger than any chunk, are held as any key, through passes that
// evacuate them again and again, and the 1 MiB keys that leave are freed.
func TestKeysEmptyAndHuge(t *testing.T) {
	clock := testutil.NewStepClock(time.Unix(0, 0))
	st := NewState(clock.Now)
	big := strings.Repeat("k", 1<<20)
	for _, k := range []string{"", big} {
		if a := do(st, allow(k, hour)); !a.OK {
			t.Fatalf("key of %d bytes: the first Allow at burst 1 refused", len(k))
		}
	}
	for i := range 300 {
		clock.Set(time.Unix(0, int64(i+1)*1000))
		do(st, allow(big[:len(big)-1]+strconv.Itoa(i), 1)) // 1 MiB, idle 1 µs after
		if i%17 == 0 {
			checkArena(t, st)
		}
	}
	checkArena(t, st)
	for _, k := range []string{"", big} {
		if a := do(st, allow(k, hour)); a.OK {
			t.Fatalf("key of %d bytes: a second Allow within the hour admitted: the key was lost", len(k))
		}
	}
	// Two 1 MiB keys live, 300 of them written: the arena holds a few.
	if most := 8 << 20; st.slots.keys.size > most {
		t.Fatalf("arena of %d bytes for %d live, want at most %d", st.slots.keys.size, st.slots.keys.live, most)
	}
}

// TestSmallStateIsSmall: a State of a few keys takes a few KiB, not a page
// of slots of 160 KiB (as it did, so that 10,000 such States took 1.6 GB),
// and its first page still grows to a full page as keys come, every key
// found at its place.
func TestSmallStateIsSmall(t *testing.T) {
	st := NewState(nil)
	for i := range 3 {
		do(st, allow("k"+strconv.Itoa(i), hour))
	}
	slots := 0
	for _, p := range st.slots.pages {
		slots += len(p)
	}
	if bytes := slots*int(unsafe.Sizeof(slot{})) + st.slots.keys.size + 8*int(st.pos.cur.size); slots > firstPage || bytes > 4096 {
		t.Fatalf("a State of 3 keys: %d slots, %d bytes of slots, key chunks and cells", slots, bytes)
	}
	for i := 3; i < 2*pageSize+5; i++ {
		do(st, allow("k"+strconv.Itoa(i), hour))
	}
	if len(st.slots.pages) != 3 || len(st.slots.pages[0]) != pageSize {
		t.Fatalf("%d pages, the first of %d slots, for %d keys", len(st.slots.pages), len(st.slots.pages[0]), st.Len())
	}
	for i := range 2*pageSize + 5 {
		k := "k" + strconv.Itoa(i)
		if p, ok := st.pos.find(k, &st.slots); !ok || !st.slots.keyIs(p, k) {
			t.Fatalf("%s: held %v at %d", k, ok, p)
		}
	}
	checkArena(t, st)
}
