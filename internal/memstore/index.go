package memstore

import "hash/maphash"

// index maps each key held to its place in a slotList. It is keyed by a
// 64-bit hash of the key rather than the key: a map of integers holds a
// million keys in about half the memory of a map of strings, and finds
// one in about a third of the time (fewer cache misses, no string
// compared per probe). The slot's own key confirms a match; a key whose
// hash another key held already has goes into clash, a map of strings
// that is empty but for such keys (about one pair in 10^7 at a million
// keys).
type index struct {
	seed   maphash.Seed
	hash   func(maphash.Seed, string) uint64 // maphash.String; tests make hashes clash
	byHash map[uint64]int
	clash  map[string]int
}

func newIndex() index {
	return index{seed: maphash.MakeSeed(), hash: maphash.String, byHash: make(map[uint64]int), clash: make(map[string]int)}
}

func (x *index) len() int { return len(x.byHash) + len(x.clash) }

// find is key's place in slots.
func (x *index) find(key string, slots *slotList) (int, bool) {
	if i, ok := x.byHash[x.hash(x.seed, key)]; ok && slots.at(i).key == key {
		return i, true
	}
	if len(x.clash) == 0 {
		return 0, false
	}
	i, ok := x.clash[key]
	return i, ok
}

// add records i as the place of key, which is not held.
func (x *index) add(key string, i int) {
	h := x.hash(x.seed, key)
	if _, taken := x.byHash[h]; taken {
		x.clash[key] = i
		return
	}
	x.byHash[h] = i
}

// set records to as the place of key, held at from.
func (x *index) set(key string, from, to int) {
	h := x.hash(x.seed, key)
	if j, ok := x.byHash[h]; ok && j == from {
		x.byHash[h] = to
		return
	}
	x.clash[key] = to
}

// del forgets key, held at i.
func (x *index) del(key string, i int) {
	h := x.hash(x.seed, key)
	if j, ok := x.byHash[h]; ok && j == i {
		delete(x.byHash, h)
		return
	}
	delete(x.clash, key)
}
