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
// loss is bounded by one Burst plus one slot per other handle.
type floors struct {
	mu sync.Mutex
	m  map[string]floor
}

type floor struct {
	tat   int64     // µs since 2017-01-01 on Redis's clock
	until time.Time // local time of the slot; after it the floor is moot
}

// pruneAt is the size at which floors whose slots came are dropped.
const pruneAt = 4096

// get returns the floor of key, 0 when none is pending.
func (f *floors) get(key string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	fl, ok := f.m[key]
	if !ok || time.Now().After(fl.until) {
		return 0
	}
	return fl.tat
}

// raise records a slot granted at tat (the stored string) for key, whose
// time comes after delay.
func (f *floors) raise(key, stored string, delay time.Duration) {
	tat, ok := parseTat(stored)
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
	if fl, ok := f.m[key]; !ok || tat > fl.tat {
		f.m[key] = floor{tat: tat, until: time.Now().Add(delay)}
	}
}

// lower follows a successful cancel of the reservation stored as stored:
// when it was this handle's latest, the floor moves back by back µs.
func (f *floors) lower(key, stored string, back int64) {
	tat, ok := parseTat(stored)
	if !ok {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if fl, ok := f.m[key]; ok && fl.tat == tat {
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

// parseTat reads "<seconds>.<6 digits>" as microseconds.
func parseTat(s string) (int64, bool) {
	secs, frac, ok := strings.Cut(s, ".")
	if !ok || len(frac) != 6 {
		return 0, false
	}
	a, err1 := strconv.ParseInt(secs, 10, 64)
	b, err2 := strconv.ParseInt(frac, 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return a*1_000_000 + b, true
}
