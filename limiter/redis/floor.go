package redis

import (
	"strconv"
	"strings"
	"sync"
	"time"
)

// floors remembers, per key, the slots this handle was granted and still
// holds, so that a Redis that lost its data (a restart without
// persistence, a failover that dropped the last writes) cannot give this
// handle's next reservation a slot before the ones its waiters already
// hold: the floor of a key is the latest of them. Without it, every queued
// waiter's slot could be given a second time; with it, the loss is bounded
// by one Burst plus one slot per other handle. A cancelled slot leaves the
// set, so the floor falls back to this handle's latest slot still held
// (not to another handle's, nor to a composite's slot it was charged
// from). A floor carries the epoch of the key it was taken under: the
// scripts drop it once the key shows another epoch, so that a Reset (which
// stores a new epoch) clears every handle's floor, and keep it on a missing
// key (lost data) or one without an epoch (see reserveScript).
type floors struct {
	mu sync.Mutex
	m  map[string]*keyFloor
}

// keyFloor is one key's slots held by this handle, under one epoch.
type keyFloor struct {
	epoch string // the key's epoch when they were taken (9 digits)
	held  []heldSlot
}

type heldSlot struct {
	tat   int64     // µs since 2017-01-01 on Redis's clock
	until time.Time // local time of tat; after it the slot is moot
}

// noEpoch is the epoch of values that carry none.
const noEpoch = "000000000"

// pruneAt is the number of keys at which keys whose slots all came are
// dropped.
const pruneAt = 4096

// live drops the slots that came by now and reports whether any is left.
func (kf *keyFloor) live(now time.Time) bool {
	kept := kf.held[:0]
	for _, h := range kf.held {
		if !now.After(h.until) {
			kept = append(kept, h)
		}
	}
	clear(kf.held[len(kept):])
	kf.held = kept
	return len(kept) > 0
}

// get returns the floor of key and its epoch, 0 when no slot is pending.
func (f *floors) get(key string) (int64, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	kf, ok := f.m[key]
	if !ok || !kf.live(time.Now()) {
		return 0, noEpoch
	}
	top := kf.held[0].tat
	for _, h := range kf.held[1:] {
		top = max(top, h.tat)
	}
	return top, kf.epoch
}

// raise records a slot granted at tat (the stored string) for key, which
// is resetAfter ahead of Redis's clock (after that, a tat as good as none). A slot under another epoch than the key's floor
// replaces them all (the key was Reset since), but for a slot without an
// epoch, written on a lost key under the floor.
func (f *floors) raise(key, stored string, resetAfter time.Duration) {
	tat, epoch, ok := parseValue(stored)
	if !ok {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	if f.m == nil {
		f.m = make(map[string]*keyFloor)
	}
	if len(f.m) >= pruneAt {
		for k, kf := range f.m {
			if !kf.live(now) {
				delete(f.m, k)
			}
		}
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
	kf.held = append(kf.held, heldSlot{tat: tat, until: now.Add(resetAfter)})
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
	for i, h := range kf.held {
		if h.tat == tat {
			kf.held = append(kf.held[:i], kf.held[i+1:]...)
			return
		}
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
