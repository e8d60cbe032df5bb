package memstore

import (
	"context"
	"sync"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/gcra"
	"github.com/sharedlimit/sharedlimit/limiter/driver"
)

// sweepPerWrite is how many held keys each write looks at, in turn, to
// forget the idle ones. A write adds at most one key, and a key forgotten
// moves the last one, often the newest and live, into its place, to be
// looked at next: with four looks a write still forgets two idle keys
// while one comes, so idle keys never pile up (with two, a write forgot
// one at most, and idle keys piled up with each pass over the live ones:
// TestSweepKeepsUp).
const sweepPerWrite = 4

// maxNeeds is how many needs a request decides without allocating.
const maxNeeds = 8

// State is the keys, their tats and its clock. Stores opened on one State
// share every limit, as processes do on one SQLite file.
type State struct {
	mu    sync.Mutex
	pos   index    // each key's place in slots
	slots slotList // every key held, with its value
	next  int      // the sweep's place in slots
	seq   uint64   // the token of the last write
	now   func() time.Time
	mono  bool // now is time.Now
	epoch time.Time
}

// entry is a key's tat and the token of the write that stored it: tokens
// never repeat within a State, so that a cancel compares its own write and
// nothing a Reset and later reservations could rebuild.
type entry struct {
	tat int64
	tok uint64
}

// NewState returns an empty State on the clock now (nil: time.Now). The
// clock should carry a monotonic reading, as time.Now's does.
func NewState(now func() time.Time) *State {
	mono := now == nil
	if mono {
		now = time.Now
	}
	return &State{pos: newIndex(), slots: newSlotList(), now: now, mono: mono, epoch: now()}
}

func (s *State) nowUS() int64 {
	if s.mono {
		return time.Since(s.epoch).Microseconds() // one clock reading, not two
	}
	return s.now().Sub(s.epoch).Microseconds()
}

// Len is the number of keys held, idle ones not yet swept included.
func (s *State) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pos.len()
}

// get is key's value (zero: none); called with mu held.
func (s *State) get(key string) (entry, bool) {
	i, ok := s.pos.find(key, &s.slots)
	if !ok {
		return entry{}, false
	}
	return s.slots.at(i).entry, true
}

// store writes tat for key with a new token and returns the entry
// written, then sweeps a little; called with mu held.
func (s *State) store(key string, tat, now int64) entry {
	s.seq++
	e := entry{tat: tat, tok: s.seq}
	h := s.pos.sum(key)
	if i, ok := s.pos.findHash(h, key, &s.slots); ok {
		s.slots.at(i).entry = e
	} else {
		s.pos.add(h, s.slots.push(key, h, e))
	}
	s.sweep(now)
	return e
}

// remove forgets the key held at i; called with mu held. The last key
// moves into its place: behind the sweep's place, its key is evacuated
// now (see keyArena), since the pass running will not look at it.
func (s *State) remove(i int) {
	s.pos.del(s.slots.at(i).h, i)
	if moved, from, ok := s.slots.removeAt(i); ok {
		s.pos.set(moved, from, i)
		if i < s.next {
			s.slots.evacuate(i)
		}
	}
}

// sweep looks at the next sweepPerWrite keys in turn and forgets those
// that are idle at now (gcra.Idle: a tat at or before now, as good as no
// value; a queued slot, a Hold or any tat ahead of now is kept).
func (s *State) sweep(now int64) {
	for range sweepPerWrite {
		if s.next >= s.slots.len() {
			s.next = 0
			s.slots.keys.passStarts()
			if s.slots.len() == 0 {
				return
			}
		}
		if gcra.Idle(s.slots.at(s.next).tat, now) {
			s.remove(s.next) // the last key moves to next: look at it next
			continue
		}
		s.slots.evacuate(s.next)
		s.next++
	}
}

// undo is what a Cancel needs of one key of a reservation.
type undo struct {
	key        string
	prev, mine entry
	had        bool
}

// Store is a driver.Store on a State.
type Store struct{ st *State }

var (
	_ driver.Store        = Store{}
	_ driver.OneAllower   = Store{}
	_ driver.NeedsAllower = Store{}
)

// New returns a Store on st.
func New(st *State) Store { return Store{st: st} }

// Do implements driver.Store: the whole batch under the State's lock.
func (m Store) Do(_ context.Context, batch []driver.Request, answers []driver.Answer) error {
	s := m.st
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowUS()
	for i := range batch {
		s.decide(&batch[i], &answers[i], now)
	}
	return nil
}

// decide answers one request; mu is held.
func (s *State) decide(r *driver.Request, a *driver.Answer, now int64) {
	switch r.Op {
	case driver.Allow, driver.Reserve:
		var tb, nb [maxNeeds]int64
		tats, next := tb[:0], nb[:0]
		if len(r.Needs) > maxNeeds {
			tats, next = make([]int64, 0, len(r.Needs)), make([]int64, 0, len(r.Needs))
		}
		for _, nd := range r.Needs {
			e, _ := s.get(nd.Key)
			tats = append(tats, e.tat)
		}
		next = next[:len(r.Needs)]
		maxWait := int64(0)
		if r.Op == driver.Reserve {
			maxWait = r.MaxWait
		}
		if !gcra.Take(tats, now, r.Needs, maxWait, a, next) {
			return
		}
		if r.Op == driver.Allow {
			for i, nd := range r.Needs {
				s.store(nd.Key, next[i], now)
			}
			return
		}
		u := make([]undo, len(r.Needs))
		for i, nd := range r.Needs {
			prev, had := s.get(nd.Key)
			u[i] = undo{key: nd.Key, prev: prev, had: had, mine: s.store(nd.Key, next[i], now)}
		}
		a.Undo = u
		// The token of the last write, not the binding key's tat
		// (gcra.Take's Order): a later composite grant on one of these
		// keys may bind on another key whose tat is lower, and Close
		// must still give it back first.
		a.Order = int64(s.seq)
	case driver.Hold:
		nd := r.Needs[0]
		e, _ := s.get(nd.Key)
		s.store(nd.Key, gcra.Hold(e.tat, now, nd.T, nd.Tau, r.Hold), now)
	case driver.Status:
		nd := r.Needs[0]
		e, _ := s.get(nd.Key)
		a.Needs = append(a.Needs[:0], gcra.Status(e.tat, now, nd.T, nd.Tau))
	case driver.Reset:
		if i, ok := s.pos.find(r.Needs[0].Key, &s.slots); ok {
			s.remove(i)
		}
	case driver.Cancel:
		// Compare-and-set on each key's token: only where this
		// reservation's write is still the last one, and then back to
		// exactly what it replaced (token included), so that cancels
		// run newest first chain.
		u, _ := r.Undo.([]undo)
		for _, k := range u {
			if i, ok := s.pos.find(k.key, &s.slots); ok && s.slots.at(i).entry == k.mine {
				if k.had {
					s.slots.at(i).entry = k.prev
				} else {
					s.remove(i)
				}
				a.OK = true
			}
		}
	}
}

// AllowOne implements driver.OneAllower: Allow of one need, under the
// State's lock, with gcra.Take's formulas.
func (m Store) AllowOne(_ context.Context, nd driver.Need) (bool, driver.NeedAnswer, int64, error) {
	s := m.st
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowUS()
	e, _ := s.get(nd.Key)
	a, next, ok := gcra.TakeOne(e.tat, now, nd, 0)
	if ok {
		s.store(nd.Key, next, now)
		return true, a, 0, nil
	}
	return false, a, next, nil
}

// AllowNeeds implements driver.NeedsAllower: decide of one Allow, under
// the State's lock, as Do decides it.
func (m Store) AllowNeeds(_ context.Context, needs []driver.Need, a *driver.Answer) error {
	s := m.st
	s.mu.Lock()
	defer s.mu.Unlock()
	r := driver.Request{Op: driver.Allow, Needs: needs}
	s.decide(&r, a, s.nowUS())
	return nil
}

// Close implements driver.Store; the State stays usable by other stores.
func (Store) Close() error { return nil }
