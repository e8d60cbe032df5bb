package redis_test

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/redis"
)

// raw returns the value stored at the Redis key rkey ("" for none).
func raw(t *testing.T, m *fakeRedis, rkey string) string {
	t.Helper()
	if !m.Exists(rkey) {
		return ""
	}
	v, err := m.Get(rkey)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// needResults compares a result's per-need remaining and resetAfter.
func needResults(t *testing.T, what string, got []limiter.NeedResult, keys []string, remaining []int, reset []time.Duration) {
	t.Helper()
	if len(got) != len(keys) {
		t.Fatalf("%s: %d need results, want %d: %+v", what, len(got), len(keys), got)
	}
	for i := range keys {
		want := limiter.NeedResult{Key: keys[i], Remaining: remaining[i], ResetAfter: reset[i]}
		if got[i] != want {
			t.Errorf("%s: need %d = %+v, want %+v", what, i, got[i], want)
		}
	}
}

// TestCompositeAllOrNothing: a request of two needs on a fixed clock takes
// from both keys or from none; a refusal names the binding need (the first
// on a tie) with its RetryAfter, reports what each key has left, and
// leaves every stored value as it was.
func TestCompositeAllOrNothing(t *testing.T) {
	m, l := openMini(t, redis.WithPrefix("p:"))
	ctx := context.Background()
	small := limiter.Limit{Rate: 1, Period: time.Second, Burst: 2} // T 1 s
	big := limiter.Limit{Rate: 10, Period: time.Second, Burst: 10} // T 100 ms
	a, b := "{acct:1}:requests", "{acct:1}:weight"
	keys := []string{a, b}
	needs := []limiter.Need{{Key: a, Limit: small, N: 1}, {Key: b, Limit: big, N: 3}}

	for i, want := range []struct {
		rem   []int
		reset []time.Duration
	}{
		{[]int{1, 7}, []time.Duration{time.Second, 300 * time.Millisecond}},
		{[]int{0, 4}, []time.Duration{2 * time.Second, 600 * time.Millisecond}},
	} {
		r, err := l.Allow(ctx, needs...)
		if err != nil || !r.Allowed {
			t.Fatalf("Allow %d: %+v, %v", i, r, err)
		}
		needResults(t, "Allow", r.Needs, keys, want.rem, want.reset)
		if r.Binding != 0 || r.Remaining != want.rem[0] {
			t.Errorf("Allow %d: binding %d, remaining %d; want the first need (a tie: both allow now), %d",
				i, r.Binding, r.Remaining, want.rem[0])
		}
	}
	before := []string{raw(t, m, redis.Key("p:", a)), raw(t, m, redis.Key("p:", b))}

	// a is empty: refused for 1 s, binding need 0; b keeps its 4 tokens.
	r, err := l.Allow(ctx, needs...)
	if err != nil || r.Allowed || r.Binding != 0 || r.RetryAfter != time.Second {
		t.Fatalf("Allow on an empty key: %+v, %v; want refused for 1s, binding 0", r, err)
	}
	needResults(t, "refused Allow", r.Needs, keys, []int{0, 4}, []time.Duration{2 * time.Second, 600 * time.Millisecond})
	// 5 tokens of b need 100 ms more than b has; the other key is
	// fresh: b (need 0) binds.
	r, err = l.Allow(ctx, limiter.Need{Key: b, Limit: big, N: 5}, limiter.Need{Key: "{acct:1}:other", Limit: small, N: 1})
	if err != nil || r.Allowed || r.Binding != 0 || r.RetryAfter != 100*time.Millisecond {
		t.Fatalf("Allow of 5 of b: %+v, %v; want refused for 100ms, binding 0", r, err)
	}
	rv, err := l.Reserve(ctx, 500*time.Millisecond, limiter.Need{Key: "{acct:1}:other", Limit: small, N: 1}, needs[0], needs[1])
	if err != nil || rv.OK || rv.Binding != 1 || rv.RetryAfter != time.Second {
		t.Fatalf("Reserve within 500ms: %+v, %v; want refused for 1s, binding 1 (a)", rv, err)
	}
	after := []string{raw(t, m, redis.Key("p:", a)), raw(t, m, redis.Key("p:", b))}
	if after[0] != before[0] || after[1] != before[1] || m.Exists(redis.Key("p:", "{acct:1}:other")) {
		t.Fatalf("a refused request changed the store: %q -> %q (other key stored: %v)", before, after,
			m.Exists(redis.Key("p:", "{acct:1}:other")))
	}

	// A tie on two fresh keys of one limit: the first need binds.
	one := limiter.Limit{Rate: 1, Period: time.Second, Burst: 1}
	tie := []limiter.Need{{Key: "{t}:x", Limit: one, N: 1}, {Key: "{t}:y", Limit: one, N: 1}}
	if r, err := l.Allow(ctx, tie...); err != nil || !r.Allowed {
		t.Fatalf("Allow on fresh keys: %+v, %v", r, err)
	}
	if r, err := l.Allow(ctx, tie...); err != nil || r.Allowed || r.Binding != 0 || r.RetryAfter != time.Second {
		t.Fatalf("Allow on a tie: %+v, %v; want refused for 1s, binding 0 (the first)", r, err)
	}
	if r, err := l.Allow(ctx, tie[1], tie[0]); err != nil || r.Allowed || r.Binding != 0 {
		t.Fatalf("Allow on a tie, reversed: %+v, %v; want binding 0 (the first)", r, err)
	}

	// After 1 s a has a token again, b too: granted, both charged.
	m.Advance(time.Second)
	r, err = l.Allow(ctx, needs...)
	if err != nil || !r.Allowed {
		t.Fatalf("Allow after 1s: %+v, %v", r, err)
	}
	needResults(t, "Allow after 1s", r.Needs, keys, []int{0, 7}, []time.Duration{2 * time.Second, 300 * time.Millisecond})
}

// TestCompositeReserveFromSlot: a reservation whose slot the first need
// sets charges the second from that slot (documented), and every key
// stores the format of scripts.go with its own token and expiry.
func TestCompositeReserveFromSlot(t *testing.T) {
	m, l := openMini(t, redis.WithPrefix("p:"))
	ctx := context.Background()
	slow := limiter.Limit{Rate: 1, Period: time.Second, Burst: 1}   // T 1 s
	fast := limiter.Limit{Rate: 10, Period: time.Second, Burst: 10} // T 100 ms
	a, b := "{acct:1}:requests", "{acct:1}:weight"
	if r, err := l.AllowN(ctx, a, slow, 1); err != nil || !r.Allowed {
		t.Fatalf("AllowN: %+v, %v", r, err)
	}
	r, err := l.Reserve(ctx, 2*time.Second, limiter.Need{Key: a, Limit: slow, N: 1}, limiter.Need{Key: b, Limit: fast, N: 2})
	if err != nil || !r.OK || r.Delay != time.Second || r.Binding != 0 {
		t.Fatalf("Reserve: %+v, %v; want a slot in 1s bound by need 0", r, err)
	}
	// b's tat = s + 2 T = 1.2 s ahead: nothing left at once.
	needResults(t, "Reserve", r.Needs, []string{a, b}, []int{0, 0}, []time.Duration{2 * time.Second, 1200 * time.Millisecond})
	if st, err := l.Status(ctx, b, fast); err != nil || st.FullAfter != 1200*time.Millisecond || st.Remaining != 0 {
		t.Fatalf("Status of b: %+v, %v; want full after 1.2s, none left", st, err)
	}
	format := regexp.MustCompile(`^[0-9]+\.[0-9]{6}0[0-9]{9}[0-9]{16}$`)
	va, vb := raw(t, m, redis.Key("p:", a)), raw(t, m, redis.Key("p:", b))
	if !format.MatchString(va) || !format.MatchString(vb) || va[len(va)-16:] == vb[len(vb)-16:] {
		t.Fatalf("stored values %q and %q: want <secs>.<6 digits>0<epoch><token>, a token of their own each", va, vb)
	}
	if ta, tb := m.TTL(redis.Key("p:", a)), m.TTL(redis.Key("p:", b)); ta != 2*time.Second || tb != 2*time.Second {
		t.Errorf("TTLs %s and %s, want 2s each (ceil of 2 s and 1.2 s ahead)", ta, tb)
	}
}

// TestCompositeCancelRestoresUntouched: the cancel of a reservation of two
// keys puts back the exact value it replaced where nothing wrote since, and
// leaves a key that another write touched; a key that had no value is
// deleted again.
func TestCompositeCancelRestoresUntouched(t *testing.T) {
	m, l := openMini(t, redis.WithPrefix("p:"))
	ctx := context.Background()
	lim := limiter.Limit{Rate: 1, Period: time.Second, Burst: 1}
	a, b, c := "{t}:a", "{t}:b", "{t}:c"
	for _, k := range []string{a, b} {
		if r, err := l.AllowN(ctx, k, lim, 1); err != nil || !r.Allowed {
			t.Fatalf("AllowN %s: %+v, %v", k, r, err)
		}
	}
	ra, rb, rc := redis.Key("p:", a), redis.Key("p:", b), redis.Key("p:", c)
	a0, ttlA0 := raw(t, m, ra), m.TTL(ra)
	r, err := l.Reserve(ctx, time.Minute,
		limiter.Need{Key: a, Limit: lim, N: 1}, limiter.Need{Key: b, Limit: lim, N: 1}, limiter.Need{Key: c, Limit: lim, N: 1})
	if err != nil || !r.OK || r.Delay != time.Second {
		t.Fatalf("Reserve: %+v, %v; want a slot in 1s", r, err)
	}
	if raw(t, m, ra) == a0 || !m.Exists(rc) {
		t.Fatal("the reservation did not write a and c")
	}
	// Another write on b after the reservation's.
	if r, err := l.ReserveN(ctx, b, lim, 1, time.Minute); err != nil || !r.OK || r.Delay != 2*time.Second {
		t.Fatalf("ReserveN on b: %+v, %v; want a slot in 2s", r, err)
	}
	b1 := raw(t, m, rb)
	if err := r.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	if got := raw(t, m, ra); got != a0 || m.TTL(ra) < ttlA0 {
		t.Errorf("a after the cancel: %q (TTL %s), want its exact previous value %q back (TTL >= %s)", got, m.TTL(ra), a0, ttlA0)
	}
	if got := raw(t, m, rb); got != b1 {
		t.Errorf("b after the cancel: %q, want the later write %q left alone", got, b1)
	}
	if m.Exists(rc) {
		t.Errorf("c after the cancel: %q, want no value (it had none)", raw(t, m, rc))
	}
	// a's slot in 1 s is free again; b's next is after the later write.
	if d := nextDelay(t, l, a, lim); d != time.Second {
		t.Errorf("next slot of a after the cancel in %s, want 1s", d)
	}
	if d := nextDelay(t, l, b, lim); d != 3*time.Second {
		t.Errorf("next slot of b in %s, want 3s (after the later write's)", d)
	}
}

// nextDelay reserves one slot of key and returns its delay.
func nextDelay(t *testing.T, l limiter.Limiter, key string, lim limiter.Limit) time.Duration {
	t.Helper()
	r, err := l.ReserveN(context.Background(), key, lim, 1, time.Hour)
	if err != nil || !r.OK {
		t.Fatalf("ReserveN %s: %+v, %v", key, r, err)
	}
	return r.Delay
}

// TestCompositeSharesWithRedisRate: raw redis_rate AllowN on one key of a
// composite request shares that key's budget both ways.
func TestCompositeSharesWithRedisRate(t *testing.T) {
	m := startMini(t)
	rawRate := redis_rate.NewLimiter(client(t, m.Addr()))
	l := open(t, m.Addr(), redis.WithPrefix("p:"))
	defer l.Close()
	ctx := context.Background()
	lim := limiter.Limit{Rate: 1, Period: time.Second, Burst: 2}
	rawLim := redis_rate.Limit{Rate: 1, Period: time.Second, Burst: 2}
	a, b := "{acct:7}:requests", "{acct:7}:weight"
	needs := []limiter.Need{{Key: a, Limit: lim, N: 1}, {Key: b, Limit: lim, N: 1}}

	// redis_rate takes a's two tokens: the composite is refused, bound
	// by a, and takes nothing of b.
	for i := range 2 {
		if res, err := rawRate.AllowN(ctx, redis.RateKey("p:", a), rawLim, 1); err != nil || res.Allowed != 1 {
			t.Fatalf("redis_rate %d: %+v, %v", i, res, err)
		}
	}
	r, err := l.Allow(ctx, needs...)
	if err != nil || r.Allowed || r.Binding != 0 || r.RetryAfter != time.Second {
		t.Fatalf("Allow after redis_rate emptied a: %+v, %v; want refused for 1s, binding 0", r, err)
	}
	if m.Exists(redis.Key("p:", b)) {
		t.Fatal("the refused request stored b")
	}
	// One token of a back: the composite takes a and b; redis_rate then
	// finds a empty for 1 s, and b with one token left.
	m.Advance(time.Second)
	if r, err := l.Allow(ctx, needs...); err != nil || !r.Allowed {
		t.Fatalf("Allow after 1s: %+v, %v", r, err)
	}
	res, err := rawRate.AllowN(ctx, redis.RateKey("p:", a), rawLim, 1)
	if err != nil || res.Allowed != 0 || res.RetryAfter.Round(time.Microsecond) != time.Second {
		t.Fatalf("redis_rate on a after the composite: %+v, %v; want refused for 1s", res, err)
	}
	if res, err = rawRate.AllowN(ctx, redis.RateKey("p:", b), rawLim, 1); err != nil || res.Allowed != 1 {
		t.Fatalf("redis_rate on b after the composite: %+v, %v; want its last token", res, err)
	}
	if res, err = rawRate.AllowN(ctx, redis.RateKey("p:", b), rawLim, 1); err != nil || res.Allowed != 0 {
		t.Fatalf("redis_rate on b: %+v, %v; want refused (the composite took a token)", res, err)
	}
}

// TestCompositeTaggedKeys: keys holding their own hash tag are stored as
// rate:<prefix><key>, by the composite script, redis_rate's AllowN and the
// other scripts alike; untagged keys keep rate:{<prefix><key>}.
func TestCompositeTaggedKeys(t *testing.T) {
	m, l := openMini(t, redis.WithPrefix("p:"))
	ctx := context.Background()
	lim := limiter.Limit{Rate: 10, Period: time.Second, Burst: 10}
	for k, want := range map[string]string{
		"{acct:1}:requests": "rate:p:{acct:1}:requests",
		"{acct:1}:weight":   "rate:p:{acct:1}:weight",
		"plain":             "rate:{p:plain}",
		"x{}y":              "rate:{p:x{}y}", // an empty tag is no tag
	} {
		if got := redis.Key("p:", k); got != want {
			t.Errorf("Key(p:, %q) = %q, want %q", k, got, want)
		}
		if got := redis.RateKey("p:", k); "rate:"+got != want {
			t.Errorf("RateKey(p:, %q) = %q, want %q", k, got, want[len("rate:"):])
		}
	}
	if r, err := l.Allow(ctx, limiter.Need{Key: "{acct:1}:requests", Limit: lim, N: 1},
		limiter.Need{Key: "{acct:1}:weight", Limit: lim, N: 2}); err != nil || !r.Allowed {
		t.Fatalf("Allow: %+v, %v", r, err)
	}
	if r, err := l.AllowN(ctx, "{acct:2}:requests", lim, 1); err != nil || !r.Allowed {
		t.Fatalf("AllowN: %+v, %v", r, err)
	}
	if err := l.Hold(ctx, "{acct:3}:requests", lim, time.Second); err != nil {
		t.Fatal(err)
	}
	got := m.Keys()
	want := []string{"rate:p:{acct:1}:requests", "rate:p:{acct:1}:weight", "rate:p:{acct:2}:requests", "rate:p:{acct:3}:requests"}
	if len(got) != len(want) {
		t.Fatalf("stored keys %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("stored keys %q, want %q", got, want)
		}
	}
	if st, err := l.Status(ctx, "{acct:1}:weight", lim); err != nil || st.Remaining != 8 {
		t.Fatalf("Status of the weight key: %+v, %v; want 8 left", st, err)
	}
}

// TestCompositeFloors: after Redis lost its data, a composite reservation
// does not hand out the handle's queued slots again, on any of its keys.
func TestCompositeFloors(t *testing.T) {
	m, l := openMini(t)
	ctx := context.Background()
	lim := limiter.Limit{Rate: 1, Period: 10 * time.Second, Burst: 1}
	needs := []limiter.Need{{Key: "{f}:a", Limit: lim, N: 1}, {Key: "{f}:b", Limit: lim, N: 1}}
	for i := range 3 {
		r, err := l.Reserve(ctx, time.Hour, needs...)
		if err != nil || !r.OK || r.Delay != time.Duration(i)*10*time.Second {
			t.Fatalf("Reserve %d: %+v, %v; want a slot in %ds", i, r, err, 10*i)
		}
	}
	m.FlushAll()
	r, err := l.Reserve(ctx, time.Hour, needs...)
	if err != nil || !r.OK || r.Delay != 30*time.Second {
		t.Fatalf("Reserve after the loss: %+v, %v; want a slot in 30s (after the 3 queued)", r, err)
	}
	// b's floor is its own: a one-need reservation of b comes after the
	// composite's slots too.
	m.FlushAll()
	if d := nextDelay(t, l, "{f}:b", lim); d != 40*time.Second {
		t.Fatalf("ReserveN of b after a second loss in %s, want 40s", d)
	}
}
