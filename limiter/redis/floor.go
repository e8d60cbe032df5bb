package redis

import (
	"strconv"
	"strings"
	"sync"
	"time"
)

// floors remembers, per key, the latest slot this handle was granted, so
// that a Redis that lost its data (a restart without persistence, a
// failover that dropped the last writes) cannot give this handle's next
// reservation a slot before the ones its waiters already hold. Without it,
// every queued waiter's slot could be given a second time; with it, the
// loss is bounded by one Burst plus one slot per other handle. A floor
// carries the epoch of the key it was taken under: the scripts drop it once
// the key shows another epoch, so that a Reset (which stores a new epoch)
// clears every handle's floor, and keep it on a missing key (lost data) or
// one without an epoch (see reserveScript).
type floors struct {
	mu sync.Mutex
	m  map[string]floor
}

type floor struct {
	tat   int64     // µs since 2017-01-01 on Redis's clock
	epoch string    // the key's epoch when it was taken (9 digits)
	until time.Time // local time of the slot; after it the floor is moot
}

// noEpoch is the epoch of values that carry none.
const noEpoch = "000000000"

// pruneAt is the size at which floors whose slots came are dropped.
const pruneAt = 4096

// get returns the floor of key and its epoch, 0 when none is pending.
func (f *floors) get(key string) (int64, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fl, ok := f.m[key]
	if !ok || time.Now().After(fl.until) {
		return 0, noEpoch
	}
	return fl.tat, fl.epoch
}

// raise records a slot granted at tat (the stored string) for key, whose
// time comes after delay. A slot under another epoch than the floor's
// replaces it: the key was Reset since.
func (f *floors) raise(key, stored string, delay time.Duration) {
	tat, epoch, ok := parseValue(stored)
	if !ok {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = make(map[string]floor)
	}
	if len(f.m) >= pruneAt {
		now := time.Now()
		for k, fl := range f.m {
			if now.After(fl.until) {
				delete(f.m, k)
			}
		}
	}
	if fl, ok := f.m[key]; !ok || tat > fl.tat || epoch != fl.epoch {
		f.m[key] = floor{tat: tat, epoch: epoch, until: time.Now().Add(delay)}
	}
}

// lower follows a successful cancel of the reservation stored as stored:
// when it was this handle's latest, the floor moves back by back µs.
func (f *floors) lower(key, stored string, back int64) {
	tat, epoch, ok := parseValue(stored)
	if !ok {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if fl, ok := f.m[key]; ok && fl.tat == tat && fl.epoch == epoch {
		fl.tat -= back
		f.m[key] = fl
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
