package redis_test

import (
	"context"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/redis"
)

// reserveDelay takes one slot and returns its delay.
func reserveDelay(t *testing.T, l limiter.Limiter, k string, lim limiter.Limit) (*limiter.Reservation, time.Duration) {
	t.Helper()
	r, err := l.ReserveN(context.Background(), k, lim, 1, time.Hour)
	if err != nil || !r.OK {
		t.Fatalf("ReserveN: %+v, %v", r, err)
	}
	return r, r.Delay
}

// A Redis that lost its data (a restart without persistence) must not give
// a handle's queued slots a second time: the handle's next slot comes after
// the last it holds.
func TestLostDataKeepsQueuedSlots(t *testing.T) {
	m, l := openMini(t)
	lim := limiter.Limit{Rate: 1, Period: 10 * time.Second, Burst: 1}
	for i := range 3 {
		if _, d := reserveDelay(t, l, "k", lim); d != time.Duration(i)*10*time.Second {
			t.Fatalf("slot %d in %s", i, d)
		}
	}
	m.FlushAll() // the restart lost every key
	if _, d := reserveDelay(t, l, "k", lim); d != 30*time.Second {
		t.Fatalf("after Redis lost the key, the next slot is in %s, want 30s (after the 3 slots still queued)", d)
	}
	// Another handle (process) knows nothing of them: at most one slot of
	// its own may coincide, which is the bound the README states.
	other := open(t, m.Addr())
	defer other.Close()
	if _, d := reserveDelay(t, other, "k", lim); d != 40*time.Second {
		t.Fatalf("another handle's slot is in %s, want 40s (after the first handle's new one)", d)
	}
}

// The floor follows cancels and Reset, so that it never holds back more than
// the handle really holds.
func TestFloorFollowsCancelAndReset(t *testing.T) {
	m, l := openMini(t)
	lim := limiter.Limit{Rate: 1, Period: 10 * time.Second, Burst: 1}
	ctx := context.Background()
	reserveDelay(t, l, "k", lim)
	r, _ := reserveDelay(t, l, "k", lim) // slot in 10 s
	if err := r.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	m.FlushAll()
	if _, d := reserveDelay(t, l, "k", lim); d != 10*time.Second {
		t.Fatalf("after a cancel and lost data, the next slot is in %s, want 10s (the cancelled one is not held)", d)
	}
	if err := l.Reset(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, d := reserveDelay(t, l, "k", lim); d != 0 {
		t.Fatalf("after Reset the next slot is in %s, want now", d)
	}
}

// valueForm is the form of every value the scripts store:
// <seconds>.<6 digits>0<epoch: 9 digits><token: 16 digits>.
var valueForm = regexp.MustCompile(`^([0-9]+)\.([0-9]{6})0([0-9]{9})[0-9]{16}$`)

// TestStoredValue: the stored value is a number (redis_rate reads it with
// tonumber, under 0.1 µs after its microsecond), with a token of its own
// per write; a Reset keeps the key, with tat = now - 1 µs under a new
// epoch, which later writes keep.
func TestStoredValue(t *testing.T) {
	m, l := openMini(t)
	lim := limiter.Limit{Rate: 1, Period: 10 * time.Second, Burst: 1}
	ctx := context.Background()
	nowUS := miniStart.Sub(time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC)).Microseconds()
	get := func() (tat int64, epoch, v string) {
		t.Helper()
		v, err := m.Get(redis.Key("", "k"))
		if err != nil {
			t.Fatal(err)
		}
		p := valueForm.FindStringSubmatch(v)
		if p == nil {
			t.Fatalf("stored value %q is not <seconds>.<6 digits>0<9 digits><16 digits>", v)
		}
		f, err := strconv.ParseFloat(v, 64)
		s, _ := strconv.ParseInt(p[1], 10, 64)
		u, _ := strconv.ParseInt(p[2], 10, 64)
		if tat = s*1_000_000 + u; err != nil || f*1e6 < float64(tat)-0.5 || f*1e6 > float64(tat)+0.5 {
			t.Fatalf("stored value %q reads as %v (%v), not its microsecond %d", v, f, err, tat)
		}
		return tat, p[3], v
	}
	reserveDelay(t, l, "k", lim)
	tat1, e1, v1 := get()
	if tat1 != nowUS+10_000_000 || e1 != "000000000" {
		t.Fatalf("after one reservation: tat %d epoch %s, want %d and no epoch", tat1, e1, nowUS+10_000_000)
	}
	reserveDelay(t, l, "k", lim)
	if err := l.Reset(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	tat2, e2, v2 := get()
	if tat2 != nowUS-1 || e2 == "000000000" || v2 == v1 {
		t.Fatalf("after Reset: %q (tat %d, epoch %s), want tat %d under a new epoch", v2, tat2, e2, nowUS-1)
	}
	if ttl := m.TTL(redis.Key("", "k")); ttl != 20*time.Second {
		t.Errorf("TTL after a Reset = %s, want 20s: the epoch outlasts the slots queued before", ttl)
	}
	reserveDelay(t, l, "k", lim)
	reserveDelay(t, l, "k", lim)
	tat3, e3, _ := get()
	if tat3 != nowUS+20_000_000 || e3 != e2 {
		t.Fatalf("after 2 reservations since the Reset: tat %d epoch %s, want %d and the Reset's epoch %s", tat3, e3, nowUS+20_000_000, e2)
	}
}

// TestLostDataAfterReset: floors taken under a Reset's epoch still protect
// queued slots when Redis loses the key and another handle, which holds no
// slot, writes it first (without an epoch).
func TestLostDataAfterReset(t *testing.T) {
	m := startMini(t)
	a, b := open(t, m.Addr()), open(t, m.Addr())
	defer a.Close()
	defer b.Close()
	lim := limiter.Limit{Rate: 1, Period: 10 * time.Second, Burst: 1}
	if err := a.Reset(context.Background(), "k"); err != nil {
		t.Fatal(err)
	}
	reserveDelay(t, a, "k", lim) // now: a's floor until 10 s (its slot's tat)
	reserveDelay(t, b, "k", lim) // 10 s
	reserveDelay(t, b, "k", lim) // 20 s: b's floor
	m.FlushAll()
	// a's slot at 0 is still in its bucket until 10 s: a never takes a
	// second slot within one interval of one it was granted, across lost
	// data. (Floors kept only the latest queued slot before issue 16, and
	// a got a slot now.)
	if _, d := reserveDelay(t, a, "k", lim); d != 10*time.Second {
		t.Fatalf("a's slot after the loss in %s, want 10s (one interval after its own slot at 0)", d)
	}
	if _, d := reserveDelay(t, b, "k", lim); d != 30*time.Second {
		t.Fatalf("b's slot after the loss in %s, want 30s (after the 2 it holds)", d)
	}
}

// TestLostDataAllowKeepsQueuedSlots: after Redis lost a key, an Allow of one
// need (AllowN, redis_rate's script) keeps the handle's queued slots as a
// Reserve does, and as a composite Allow did. Before, it took the key as
// full and admitted at once, beside the 3 waiters still queued: the
// handle's own queue given twice.
func TestLostDataAllowKeepsQueuedSlots(t *testing.T) {
	m, l := openMini(t)
	ctx := context.Background()
	lim := limiter.Limit{Rate: 1, Period: 10 * time.Second, Burst: 1}
	for range 3 {
		reserveDelay(t, l, "k", lim)
	}
	m.FlushAll()
	for _, allow := range []func() (limiter.Result, error){
		func() (limiter.Result, error) { return l.AllowN(ctx, "k", lim, 1) },
		func() (limiter.Result, error) { return l.Allow(ctx, limiter.Need{Key: "k", Limit: lim, N: 1}) },
	} {
		r, err := allow()
		if err != nil {
			t.Fatal(err)
		}
		if r.Allowed || r.RetryAfter < 29*time.Second || r.RetryAfter > 30*time.Second {
			t.Fatalf("after Redis lost the key, an Allow: %+v, want refused for 30s (the 3 slots still queued)", r)
		}
	}
	// The floor does not outlive the slots: a Reset drops it.
	if err := l.Reset(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if r, err := l.AllowN(ctx, "k", lim, 1); err != nil || !r.Allowed {
		t.Fatalf("after Reset: %+v, %v, want allowed", r, err)
	}
}
