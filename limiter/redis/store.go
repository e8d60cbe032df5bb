package redis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	goredis "github.com/redis/go-redis/v9"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/driver"
)

// store is the driver.Store of a Limiter: each request is one round trip.
type store struct {
	client  goredis.UniversalClient
	cluster *goredis.ClusterClient // client, when a cluster's
	ring    *goredis.Ring          // client, when a ring's
	// ringShards is how many shards the ring was configured with.
	ringShards int
	rate       *redis_rate.Limiter
	prefix     string
	timeout    time.Duration
	owned      bool     // Close closes client
	secrets    []string // passwords to keep out of errors
	closed     atomic.Bool

	sharedMu sync.Mutex
	shared   atomic.Pointer[sharedDeadline]

	floors floors // latest slots granted, by key (see floor.go)
}

var (
	_ driver.Store   = (*store)(nil)
	_ driver.Checker = (*store)(nil)
)

func (s *store) key(key string) string { return Key(s.prefix, key) }

// Do implements driver.Store. Each request is a round trip of its own: an
// Allow of one need runs redis_rate's script, a Reserve of one need
// reserveScript, and a request of several needs compositeScript on all of
// its keys. (Requests whose keys share a slot could become one script
// call: the scripts take their keys and arguments as lists.)
func (s *store) Do(ctx context.Context, batch []driver.Request, answers []driver.Answer) error {
	if s.closed.Load() {
		return fmt.Errorf("limiter: redis: %w", limiter.ErrClosed)
	}
	for i := range batch {
		if err := s.decide(ctx, &batch[i], &answers[i]); err != nil {
			return err
		}
	}
	return nil
}

// decide answers one request with one round trip (none for a request
// whose keys cannot share one script: its Answer.Err says so).
func (s *store) decide(ctx context.Context, r *driver.Request, a *driver.Answer) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if (r.Op == driver.Allow || r.Op == driver.Reserve) && len(r.Needs) > 1 {
		return s.composite(ctx, r, a)
	}
	cctx, cancel := s.bound(ctx)
	defer cancel()
	switch r.Op {
	case driver.Allow:
		return s.allowOne(ctx, cctx, r.Needs[0], a)
	case driver.Reserve:
		return s.reserveOne(ctx, cctx, r.Needs[0], r.MaxWait, a)
	case driver.Hold:
		return s.hold(ctx, cctx, r.Needs[0], r.Hold)
	case driver.Status:
		return s.status(ctx, cctx, r.Needs[0], a)
	case driver.Reset:
		return s.reset(ctx, cctx, r.Needs[0].Key)
	case driver.Cancel:
		return s.cancel(ctx, cctx, r.Undo, a)
	}
	return fmt.Errorf("limiter: redis: unknown operation %s: %w", r.Op, limiter.ErrInvalidArgument)
}

// allowOne is one round trip of redis_rate's AllowN on the need's key,
// with the emission interval the core rounded up to the microsecond; or,
// while this handle holds a slot of the key, of reserveScript with
// maxWait 0, which keeps the key's floor (redis_rate knows none: after
// Redis lost the key it would admit beside the handle's own queue).
func (s *store) allowOne(ctx, cctx context.Context, nd driver.Need, a *driver.Answer) error {
	if floor, epoch := s.floors.get(s.key(nd.Key)); floor != 0 {
		return s.allowFloor(ctx, cctx, nd, floor, epoch, a)
	}
	rl := redis_rate.Limit{Rate: 1, Period: time.Duration(nd.T) * time.Microsecond, Burst: int(nd.Tau / nd.T)}
	res, err := s.rate.AllowN(cctx, RateKey(s.prefix, nd.Key), rl, int(nd.N))
	if err != nil {
		return s.wrap("Allow", s.key(nd.Key), ctx, err)
	}
	fromRedisRate(res, nd, a)
	return nil
}

// allowFloor is an Allow of one need above the key's floor: reserveScript
// with maxWait 0, whose grant is used at once (not a slot to hold).
func (s *store) allowFloor(ctx, cctx context.Context, nd driver.Need, floor int64, epoch string, a *driver.Answer) error {
	rkey := s.key(nd.Key)
	v, err := reserveScript.Run(cctx, s.client, []string{rkey}, nd.T, nd.Tau, nd.N, 0, floor, epoch, newToken()).Slice()
	if err != nil {
		return s.wrap("Allow", rkey, ctx, err)
	}
	ints, _, err := reply(v, 4, 0)
	if err != nil {
		return s.wrap("Allow", rkey, ctx, err)
	}
	a.OK = ints[0] == 1
	if !a.OK {
		a.RetryAfter = ints[1]
	}
	a.Needs = append(a.Needs[:0], driver.NeedAnswer{Remaining: ints[2], ResetAfter: ints[3]})
	return nil
}

// fromRedisRate converts redis_rate's Result into a: its durations are
// truncated from float seconds, its RetryAfter is -1 when allowed, and its
// Remaining is truncated from a float (sometimes one low) or 0 when
// refused. Remaining is recomputed from ResetAfter rounded to the
// microsecond, as floor((tau - resetAfter) / T).
func fromRedisRate(res *redis_rate.Result, nd driver.Need, a *driver.Answer) {
	reset := roundUS(res.ResetAfter)
	a.OK = res.Allowed > 0
	a.Needs = append(a.Needs[:0], driver.NeedAnswer{Remaining: max(0, (nd.Tau-reset)/nd.T), ResetAfter: reset})
	if !a.OK {
		a.RetryAfter = max(0, roundUS(res.RetryAfter))
	}
}

// roundUS rounds a duration to whole microseconds.
func roundUS(d time.Duration) int64 { return d.Round(time.Microsecond).Microseconds() }

// undoKey is what a cancel needs of one key of a reservation: the exact
// value the reservation stored, the one it replaced (had: there was one).
type undoKey struct {
	rkey, mine, replaced string
	had                  bool
}

// reserveOne is one round trip of reserveScript.
func (s *store) reserveOne(ctx, cctx context.Context, nd driver.Need, maxWait int64, a *driver.Answer) error {
	rkey := s.key(nd.Key)
	floor, floorEpoch := s.floors.get(rkey)
	v, err := reserveScript.Run(cctx, s.client, []string{rkey}, nd.T, nd.Tau, nd.N, maxWait, floor, floorEpoch, newToken()).Slice()
	if err != nil {
		return s.wrap("Reserve", rkey, ctx, err)
	}
	ints, strs, err := reply(v, 4, 0)
	if err != nil {
		return s.wrap("Reserve", rkey, ctx, err)
	}
	if ints[0] == 0 {
		a.RetryAfter = ints[1]
		a.Needs = append(a.Needs[:0], driver.NeedAnswer{Remaining: ints[2], ResetAfter: ints[3]})
		return nil
	}
	if ints, strs, err = reply(v, 5, 2); err != nil {
		return s.wrap("Reserve", rkey, ctx, err)
	}
	mine := strs[0]
	s.floors.raise(rkey, mine, time.Duration(ints[3])*time.Microsecond)
	a.OK, a.Wait = true, ints[1]
	a.Needs = append(a.Needs[:0], driver.NeedAnswer{Remaining: ints[2], ResetAfter: ints[3]})
	a.Order, _, _ = parseValue(mine) // the key's queue order
	a.Undo = []undoKey{{rkey: rkey, mine: mine, replaced: strs[1], had: ints[4] == 1}}
	return nil
}

// cancel gives a reservation back: cancelScript on its one key, or
// compositeCancelScript on its several.
func (s *store) cancel(ctx, cctx context.Context, undo any, a *driver.Answer) error {
	u, ok := undo.([]undoKey)
	if !ok || len(u) == 0 {
		return fmt.Errorf("limiter: redis Cancel: not a reservation of this store (%T): %w", undo, limiter.ErrInvalidArgument)
	}
	if len(u) == 1 {
		k := u[0]
		given, err := cancelScript.Run(cctx, s.client, []string{k.rkey}, k.mine, k.replaced, had(k.had)).Int()
		if err != nil {
			return s.wrap("Cancel", k.rkey, ctx, err)
		}
		if given == 1 {
			s.floors.lower(k)
			a.OK = true
		}
		return nil
	}
	keys := make([]string, len(u))
	args := make([]any, 0, 3*len(u))
	for i, k := range u {
		keys[i] = k.rkey
		args = append(args, k.mine, k.replaced, had(k.had))
	}
	v, err := compositeCancelScript.Run(cctx, s.client, keys, args...).Int64Slice()
	if err != nil {
		return s.wrap("Cancel", keyList(keys), ctx, err)
	}
	if len(v) != len(u) {
		return s.wrap("Cancel", keyList(keys), ctx, fmt.Errorf("unexpected script reply %v", v))
	}
	for i, k := range u {
		if v[i] == 1 {
			s.floors.lower(k)
			a.OK = true
		}
	}
	return nil
}

// had is the cancel scripts' flag for a replaced value.
func had(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// hold is one round trip of holdScript.
func (s *store) hold(ctx, cctx context.Context, nd driver.Need, d int64) error {
	rkey := s.key(nd.Key)
	if err := holdScript.Run(cctx, s.client, []string{rkey}, nd.T, nd.Tau, d, newToken()).Err(); err != nil {
		return s.wrap("Hold", rkey, ctx, err)
	}
	return nil
}

// status is one round trip of statusScript.
func (s *store) status(ctx, cctx context.Context, nd driver.Need, a *driver.Answer) error {
	rkey := s.key(nd.Key)
	v, err := statusScript.Run(cctx, s.client, []string{rkey}, nd.T, nd.Tau).Slice()
	if err != nil {
		return s.wrap("Status", rkey, ctx, err)
	}
	ints, _, err := reply(v, 3, 0)
	if err != nil {
		return s.wrap("Status", rkey, ctx, err)
	}
	a.Needs = append(a.Needs[:0], driver.NeedAnswer{Remaining: ints[0], NextAfter: ints[1], ResetAfter: ints[2]})
	return nil
}

// reset is one round trip of resetScript; the handle's floor of the key
// goes with it.
func (s *store) reset(ctx, cctx context.Context, key string) error {
	rkey := s.key(key)
	if err := resetScript.Run(cctx, s.client, []string{rkey}, newEpoch(), newToken()).Err(); err != nil {
		return s.wrap("Reset", rkey, ctx, err)
	}
	s.floors.forget(rkey)
	return nil
}

// newToken returns the random token of one write (16 digits; see
// scripts.go).
func newToken() string {
	var b [16]byte
	for i, x := len(b)-1, rand.Uint64N(1e16); i >= 0; i, x = i-1, x/10 {
		b[i] = byte('0' + x%10)
	}
	return string(b[:])
}

// newEpoch returns the random epoch of one Reset (9 digits, never
// noEpoch).
func newEpoch() string { return fmt.Sprintf("%09d", 1+rand.Uint64N(999_999_999)) }

// reply reads a script's reply: want integers, then strs strings.
func reply(v []any, want, strs int) ([]int64, []string, error) {
	if len(v) < want+strs {
		return nil, nil, fmt.Errorf("unexpected script reply %v", v)
	}
	ints := make([]int64, want)
	for i := range want {
		x, ok := v[i].(int64)
		if !ok {
			return nil, nil, fmt.Errorf("unexpected script reply %v", v)
		}
		ints[i] = x
	}
	ss := make([]string, strs)
	for i := range strs {
		s, ok := v[want+i].(string)
		if !ok {
			return nil, nil, fmt.Errorf("unexpected script reply %v", v)
		}
		ss[i] = s
	}
	return ints, ss, nil
}

// Close implements driver.Store. It closes the client only when the
// Limiter opened it from a URL.
func (s *store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	if d := s.shared.Load(); d != nil {
		d.cancel()
	}
	if s.owned {
		return s.wrapClose(s.client.Close())
	}
	return nil
}

func (s *store) wrapClose(err error) error {
	if err == nil || errors.Is(err, goredis.ErrClosed) {
		return nil
	}
	return fmt.Errorf("limiter: redis Close: %w", s.redact(err))
}

// keyList names the Redis keys of one request in an error.
func keyList(keys []string) string { return strings.Join(keys, ", ") }

// order is the Answer.Order of a composite grant that stored the value
// mine with resetAfter: Redis's clock when the script ran (tat -
// resetAfter), which grows with the scripts Redis runs, so that Close gives
// a handle's composite slots back in the order Redis granted them (the
// core breaks ties newest pinned first). A binding key's tat is no such
// order across the keys of composites; for one need it is the exact one.
func order(mine string, resetAfter int64) int64 {
	tat, _, _ := parseValue(mine)
	return tat - resetAfter
}
