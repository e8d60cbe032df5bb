package redis

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// floors remembers, per key, the slots this handle was granted and still
// holds, so that a Redis that lost its data (a restart without
// persistence, a failover that dropped the last writes) cannot give this
// handle's next reservation a slot before the ones its waiters already
// hold: the floor of a key is the latest of them. Without it, every queued
// waiter's slot could be given a second time; with it, the loss is bounded
// by one Burst plus the slots other handles hold queued (they know
// nothing of them). A cancelled slot leaves the
// set, so the floor falls back to this handle's latest slot still held
// (not to another handle's, nor to a composite's slot it was charged
// from). A floor carries the epoch of the key it was taken under: the
// scripts drop it once the key shows another epoch, so that a Reset (which
// stores a new epoch) clears every handle's floor, and keep it on a missing
// key (lost data) or one without an epoch (see reserveScript).
type floors struct {
	mu sync.Mutex
	m  map[string]*keyFloor
	// sweepAt is the number of keys at which the next pass drops the
	// keys whose slots all came (at least pruneAt).
	sweepAt int
	sweeps  int // passes so far (for the tests)
	// raised is set by the first raise: until then every key's floor is
	// 0, which Allow reads without the lock.
	raised atomic.Bool
}

// keyFloor is one key's slots held by this handle, under one epoch.
type keyFloor struct {
	epoch string     // the key's epoch when they were taken (9 digits)
	held  []heldSlot // in tat order: the floor is the last
}

type heldSlot struct {
	tat   int64     // µs since 2017-01-01 on Redis's clock
	until time.Time // local time of tat; after it the slot is moot
}

// noEpoch is the epoch of values that carry none.
const noEpoch = "000000000"

// pruneAt is the number of keys at which keys whose slots all came are
// first dropped (then whenever the keys doubled since).
const pruneAt = 4096

// live drops the slots that came by now and reports whether any is left.
// held is in tat order, so the slots that came are at its front (a slot
// behind one still pending, its until off by the round trips' jitter,
// goes with the next prune: a floor that passed changes no decision).
func (kf *keyFloor) live(now time.Time) bool {
	i := 0
	for i < len(kf.held) && now.After(kf.held[i].until) {
		i++
	}
	kf.held = kf.held[i:]
	return len(kf.held) > 0
}

// find is where tat is, or would go, in held (in tat order).
func (kf *keyFloor) find(tat int64) (int, bool) {
	return slices.BinarySearchFunc(kf.held, tat, func(h heldSlot, t int64) int { return cmp.Compare(h.tat, t) })
}

// get returns the floor of key and its epoch, 0 when no slot is pending.
func (f *floors) get(key string) (int64, string) {
	if !f.raised.Load() {
		return 0, noEpoch
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	kf, ok := f.m[key]
	if !ok || !kf.live(time.Now()) {
		return 0, noEpoch
	}
	return kf.held[len(kf.held)-1].tat, kf.epoch
}

// getExcept is get for a batch that holds cancels of this handle's
// reservations on key, whose slots are tats (under epochs): it returns the
// floor of the other slots held (0 for none), the key floor's epoch, and
// the slots of those cancels that are in the floor (each once), which
// batchScript keeps in the floor until their cancel succeeds, as lower
// would one cancel at a time.
func (f *floors) getExcept(key string, tats []int64, epochs []string) (int64, string, []int64) {
	if len(tats) == 0 {
		fl, epoch := f.get(key)
		return fl, epoch, nil
	}
	if !f.raised.Load() {
		return 0, noEpoch, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	kf, ok := f.m[key]
	if !ok || !kf.live(time.Now()) {
		return 0, noEpoch, nil
	}
	out := make([]bool, len(kf.held))
	var pending []int64
	for i, tat := range tats {
		if epochs[i] != kf.epoch {
			continue // lower would leave the floor alone
		}
		j, found := kf.find(tat)
		for found && j < len(kf.held) && kf.held[j].tat == tat && out[j] {
			j++ // a second cancel of an equal slot
		}
		if found && j < len(kf.held) && kf.held[j].tat == tat {
			out[j] = true
			pending = append(pending, tat)
		}
	}
	var rest int64
	for j := len(kf.held) - 1; j >= 0; j-- {
		if !out[j] {
			rest = kf.held[j].tat
			break
		}
	}
	return rest, kf.epoch, pending
}

// raise records a slot granted at tat (the stored string) for key, which
// is resetAfter ahead of Redis's clock (after that, a tat as good as
// none), in tat order (raises of concurrent grants come in any order;
// each call costs O(log n) but for the move of the slots after it, none
// for the latest). A slot under another epoch than the key's floor
// replaces them all (the key was Reset since), but for a slot without an
// epoch, written on a lost key under the floor.
func (f *floors) raise(key, stored string, resetAfter time.Duration) {
	tat, epoch, ok := parseValue(stored)
	if !ok {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.raised.Store(true)
	now := time.Now()
	if f.m == nil {
		f.m = make(map[string]*keyFloor)
	}
	if len(f.m) >= max(pruneAt, f.sweepAt) {
		f.sweeps++
		for k, kf := range f.m {
			if !kf.live(now) {
				delete(f.m, k)
			}
		}
		// The next pass when the keys doubled: a raise costs O(1)
		// amortized however many keys stay live.
		f.sweepAt = 2 * len(f.m)
	}
	kf, ok := f.m[key]
	switch {
	case !ok || (kf.epoch != epoch && epoch != noEpoch):
		// A new key, or one Reset since (its new epoch): the script
		// dropped the floor, and the slots held before are moot.
		kf = &keyFloor{epoch: epoch}
		f.m[key] = kf
	case kf.epoch != epoch:
		// A write on a lost key (no epoch): the script kept the floor,
		// and the slots held before still need it.
		kf.epoch = noEpoch
	}
	kf.live(now)
	i, _ := kf.find(tat)
	kf.held = slices.Insert(kf.held, i, heldSlot{tat: tat, until: now.Add(resetAfter)})
}

// lower follows a successful cancel of the reservation k: its slot leaves
// the key's floor.
func (f *floors) lower(k undoKey) {
	tat, epoch, ok := parseValue(k.mine)
	if !ok {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	kf, ok := f.m[k.rkey]
	if !ok || kf.epoch != epoch {
		return
	}
	if i, found := kf.find(tat); found {
		kf.held = slices.Delete(kf.held, i, i+1)
	}
}

// forget drops the floor of key (Reset).
func (f *floors) forget(key string) {
	f.mu.Lock()
	delete(f.m, key)
	f.mu.Unlock()
}

// parseValue reads a value of the scripts,
// "<seconds>.<6 digits>0<epoch: 9 digits><token: 16 digits>", as its tat in
// microseconds and its epoch.
func parseValue(s string) (tat int64, epoch string, ok bool) {
	secs, frac, ok := strings.Cut(s, ".")
	if !ok || len(frac) != 6+1+9+16 || frac[6] != '0' {
		return 0, "", false
	}
	a, err1 := strconv.ParseInt(secs, 10, 64)
	b, err2 := strconv.ParseInt(frac[:6], 10, 64)
	if err1 != nil || err2 != nil || a < 0 || b < 0 || strings.Trim(frac, "0123456789") != "" {
		return 0, "", false
	}
	return a*1_000_000 + b, frac[7:16], true
}
