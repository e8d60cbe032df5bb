package redis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	goredis "github.com/redis/go-redis/v9"

	"github.com/sharedlimit/sharedlimit/internal/gcra"
	"github.com/sharedlimit/sharedlimit/internal/lifecycle"
	"github.com/sharedlimit/sharedlimit/internal/redact"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/memory"
)

// DefaultTimeout bounds each Redis call when the caller's context allows
// longer.
const DefaultTimeout = 2 * time.Second

// Limiter is a handle on limits kept in Redis. It implements
// limiter.Limiter; its methods are safe for concurrent use.
//
// Every call goes through a [limiter.Guard] with the Limiter's failure
// policy (see [WithPolicy]): by default, a Redis that cannot answer is
// retried with backoff up to the caller's deadline or 30 s, then the call
// fails with an error matching limiter.ErrUnavailable.
type Limiter struct {
	s      *store
	g      *limiter.Guard
	policy limiter.Policy
}

var (
	_ limiter.Limiter  = (*Limiter)(nil)
	_ limiter.Observed = (*Limiter)(nil)
)

// store is the Limiter without its policy: each call is one round trip.
type store struct {
	client  goredis.UniversalClient
	rate    *redis_rate.Limiter
	prefix  string
	timeout time.Duration
	owned   bool     // Close closes client
	secrets []string // passwords to keep out of errors
	lc      *lifecycle.Lifecycle

	sharedMu sync.Mutex
	shared   atomic.Pointer[sharedDeadline]

	floors floors // latest slots granted, by key (see floor.go)
}

// Option configures New.
type Option func(*Limiter)

// WithPrefix puts prefix before every limit key (see [Key]), so that
// programs sharing one Redis keep their limits apart. The default value is
// "" (no prefix).
func WithPrefix(prefix string) Option { return func(l *Limiter) { l.s.prefix = prefix } }

// WithTimeout bounds each Redis call: a call that gets no answer within d
// fails with an error matching limiter.ErrUnavailable (not the caller's
// context.DeadlineExceeded), and the failure policy decides what follows.
// A shorter deadline of the caller's context applies as it is. Calls whose
// context can never be cancelled share one deadline renewed every d/8, so
// they are cut after between 7/8 of d and d. The default value is
// DefaultTimeout (2 s).
//
// go-redis applies a context's deadline to network reads and writes only
// when its Options.ContextTimeoutEnabled is set; clients opened from a URL
// set it, and a client given to New should too (otherwise its ReadTimeout
// and WriteTimeout bound a stuck call instead).
func WithTimeout(d time.Duration) Option { return func(l *Limiter) { l.s.timeout = d } }

// WithPolicy sets what the Limiter does when Redis cannot answer (see
// [limiter.Policy]): wait for it (the default), admit without it, or fall
// back to an in-process limiter. Under limiter.FailFallback without a
// Policy.Fallback, a limiter/memory Limiter of its own is used. The
// default value is limiter.Policy{} (FailWait, 30 s).
func WithPolicy(p limiter.Policy) Option {
	return func(l *Limiter) {
		obs := l.policy.Observer
		l.policy = p
		if p.Observer == nil {
			l.policy.Observer = obs
		}
	}
}

// WithObserver reports the Limiter's decisions, store errors and policy
// switches to o (see [limiter.Observer]); limiter.Wait reports its waits
// to it too. The default value is none.
func WithObserver(o limiter.Observer) Option { return func(l *Limiter) { l.policy.Observer = o } }

// New returns a Limiter on client, which may be any go-redis client (single
// node, cluster, sentinel failover, ring). Close does not close client.
func New(client goredis.UniversalClient, opts ...Option) (*Limiter, error) {
	if client == nil {
		return nil, fmt.Errorf("limiter: redis.New: nil client: %w", limiter.ErrInvalidArgument)
	}
	s := &store{client: client, rate: redis_rate.NewLimiter(client), timeout: DefaultTimeout, lc: lifecycle.New()}
	l := &Limiter{s: s}
	for _, o := range opts {
		o(l)
	}
	if s.timeout <= 0 {
		return nil, fmt.Errorf("limiter: redis.New: timeout must be > 0, got %s: %w", s.timeout, limiter.ErrInvalidArgument)
	}
	s.secrets = passwords(client)
	p := l.policy
	if p.OnFailure == limiter.FailFallback && p.Fallback == nil {
		p.Fallback = memory.New()
	}
	g, err := limiter.NewGuard(s, p)
	if err != nil {
		if p.Fallback != nil && l.policy.Fallback == nil {
			p.Fallback.Close()
		}
		return nil, fmt.Errorf("limiter: redis.New: %w", err)
	}
	l.g = g
	return l, nil
}

// Prefix is the prefix of the Limiter's keys.
func (l *Limiter) Prefix() string { return l.s.prefix }

// Client is the go-redis client the Limiter uses.
func (l *Limiter) Client() goredis.UniversalClient { return l.s.client }

// Policy is the Limiter's failure policy, defaults filled in.
func (l *Limiter) Policy() limiter.Policy { return l.g.Policy() }

// Degraded reports whether Redis is down and the policy (open, fallback)
// decides without it.
func (l *Limiter) Degraded() bool { return l.g.Degraded() }

// Observer implements limiter.Observed.
func (l *Limiter) Observer() limiter.Observer { return l.g.Observer() }

// AllowN implements limiter.Limiter. It runs redis_rate's AllowN on the
// Limiter's key, with the emission interval rounded up to the microsecond
// as everywhere else, and recomputes Remaining from ResetAfter.
func (l *Limiter) AllowN(ctx context.Context, key string, limit limiter.Limit, n int) (limiter.Result, error) {
	return l.g.AllowN(ctx, key, limit, n)
}

// ReserveN implements limiter.Limiter with one round trip.
func (l *Limiter) ReserveN(ctx context.Context, key string, limit limiter.Limit, n int, maxWait time.Duration) (*limiter.Reservation, error) {
	return l.g.ReserveN(ctx, key, limit, n, maxWait)
}

// Hold implements limiter.Limiter.
func (l *Limiter) Hold(ctx context.Context, key string, limit limiter.Limit, d time.Duration) error {
	return l.g.Hold(ctx, key, limit, d)
}

// Reset implements limiter.Limiter.
func (l *Limiter) Reset(ctx context.Context, key string) error { return l.g.Reset(ctx, key) }

// Status implements limiter.Limiter.
func (l *Limiter) Status(ctx context.Context, key string, limit limiter.Limit) (limiter.Status, error) {
	return l.g.Status(ctx, key, limit)
}

// Done implements limiter.Limiter.
func (l *Limiter) Done() <-chan struct{} { return l.g.Done() }

// Close implements limiter.Limiter. It closes the client only when the
// Limiter opened it from a URL.
func (l *Limiter) Close() error { return l.g.Close() }

// passwords lists the password client was configured with, in every form
// an error may quote it in, so that they can be masked in errors.
func passwords(client goredis.UniversalClient) []string {
	var creds []string // go-redis's errors do not quote user names
	switch c := client.(type) {
	case *goredis.Client:
		creds = append(creds, c.Options().Password)
	case *goredis.ClusterClient:
		creds = append(creds, c.Options().Password)
	case *goredis.Ring:
		creds = append(creds, c.Options().Password)
	}
	var forms []string
	for _, c := range creds {
		forms = append(forms, redact.Forms(c)...)
	}
	return forms
}

func (l *store) key(key string) string { return Key(l.prefix, key) }

// call starts a Redis call: it enters the lifecycle and bounds ctx by the
// timeout. done must be called after the call.
func (l *store) call(ctx context.Context) (context.Context, func(), error) {
	if err := l.lc.Enter(); err != nil {
		return nil, nil, err
	}
	if err := ctx.Err(); err != nil {
		l.lc.Leave()
		return nil, nil, err
	}
	cctx, cancel := l.bound(ctx)
	return cctx, func() { cancel(); l.lc.Leave() }, nil
}

// bound returns ctx limited to the timeout, unless ctx ends sooner anyway.
//
// A context that can never be cancelled (Background and its values) is
// given the Limiter's shared deadline instead of a timer of its own: a timer
// per call costs several percent of throughput when the client and Redis
// share the CPUs. The shared deadline is renewed every eighth of the
// timeout, so such a call is cut after between 7/8 of the timeout and all
// of it.
func (l *store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	now := time.Now()
	if dl, ok := ctx.Deadline(); ok && dl.Sub(now) <= l.timeout {
		return ctx, func() {}
	}
	if ctx.Done() == nil {
		return sharedCtx{Context: ctx, d: l.deadline(now)}, func() {}
	}
	return context.WithTimeout(ctx, l.timeout)
}

// deadline returns the shared deadline context, renewing it when less than
// 7/8 of the timeout is left.
func (l *store) deadline(now time.Time) context.Context {
	if d := l.shared.Load(); d != nil && d.end.Sub(now) >= l.timeout-l.timeout/8 {
		return d.ctx
	}
	l.sharedMu.Lock()
	defer l.sharedMu.Unlock()
	if d := l.shared.Load(); d != nil && d.end.Sub(now) >= l.timeout-l.timeout/8 {
		return d.ctx
	}
	end := now.Add(l.timeout)
	ctx, cancel := context.WithDeadline(context.Background(), end)
	// The one replaced releases its timer at its own deadline, which
	// the calls still using it need.
	l.shared.Store(&sharedDeadline{ctx: ctx, cancel: cancel, end: end})
	return ctx
}

// sharedDeadline is a deadline context shared by calls started within an
// eighth of the timeout of each other.
type sharedDeadline struct {
	ctx    context.Context
	cancel context.CancelFunc
	end    time.Time
}

// sharedCtx is a caller's context that cannot be cancelled (its values),
// with the shared deadline's Deadline, Done and Err.
type sharedCtx struct {
	context.Context
	d context.Context
}

func (c sharedCtx) Deadline() (time.Time, bool) { return c.d.Deadline() }
func (c sharedCtx) Done() <-chan struct{}       { return c.d.Done() }
func (c sharedCtx) Err() error                  { return c.d.Err() }

// AllowN is one round trip of redis_rate's AllowN.
func (l *store) AllowN(ctx context.Context, key string, limit limiter.Limit, n int) (limiter.Result, error) {
	if err := limiter.CheckArgs(key, limit, n); err != nil {
		return limiter.Result{}, err
	}
	cctx, done, err := l.call(ctx)
	if err != nil {
		return limiter.Result{}, err
	}
	defer done()
	p := gcra.ParamsOf(limit)
	rl := redis_rate.Limit{Rate: 1, Period: gcra.US(p.T), Burst: limit.Burst}
	res, err := l.rate.AllowN(cctx, RateKey(l.prefix, key), rl, n)
	if err != nil {
		return limiter.Result{}, l.wrap("AllowN", l.key(key), ctx, err)
	}
	return fromRedisRate(res, p), nil
}

// fromRedisRate converts redis_rate's Result: its durations are truncated
// from float seconds, its RetryAfter is -1 when allowed, and its Remaining
// is truncated from a float (sometimes one low) or 0 when refused. Remaining
// is recomputed from ResetAfter rounded to the microsecond, as
// floor((tau - resetAfter) / T).
func fromRedisRate(res *redis_rate.Result, p gcra.Params) limiter.Result {
	reset := roundUS(res.ResetAfter)
	r := limiter.Result{
		Allowed:    res.Allowed > 0,
		Remaining:  int(max(0, (p.Tau-reset)/p.T)),
		ResetAfter: gcra.US(reset),
	}
	if !r.Allowed {
		r.RetryAfter = gcra.US(max(0, roundUS(res.RetryAfter)))
	}
	return r
}

// roundUS rounds a duration to whole microseconds.
func roundUS(d time.Duration) int64 { return d.Round(time.Microsecond).Microseconds() }

// ReserveN is one round trip of reserveScript.
func (l *store) ReserveN(ctx context.Context, key string, limit limiter.Limit, n int, maxWait time.Duration) (*limiter.Reservation, error) {
	if err := limiter.CheckArgs(key, limit, n); err != nil {
		return nil, err
	}
	if err := limiter.CheckMaxWait(maxWait); err != nil {
		return nil, err
	}
	cctx, done, err := l.call(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	p := gcra.ParamsOf(limit)
	// Beyond 2^53 µs (285 years) a Lua double loses integers; any wait
	// that long means "no limit" anyway.
	mw := min(gcra.MaxWaitUS(maxWait), 1<<53)
	rkey := l.key(key)
	floor, floorEpoch := l.floors.get(rkey)
	v, err := reserveScript.Run(cctx, l.client, []string{rkey}, p.T, p.Tau, n, mw, floor, floorEpoch, newToken()).Slice()
	if err != nil {
		return nil, l.wrap("ReserveN", rkey, ctx, err)
	}
	ints, strs, err := reply(v, 4, 0)
	if err != nil {
		return nil, l.wrap("ReserveN", rkey, ctx, err)
	}
	if ints[0] == 0 {
		return &limiter.Reservation{Remaining: int(ints[2]), RetryAfter: gcra.US(ints[1]), ResetAfter: gcra.US(ints[3])}, nil
	}
	if ints, strs, err = reply(v, 5, 2); err != nil {
		return nil, l.wrap("ReserveN", rkey, ctx, err)
	}
	mine, replaced, had := strs[0], strs[1], strconv.FormatInt(ints[4], 10)
	delay := gcra.US(ints[1])
	l.floors.raise(rkey, mine, delay)
	var pin *lifecycle.Pin
	if delay > 0 && limiter.IsWaiting(ctx) {
		// Close gives the slots of Waits back, newest first.
		tat, _, _ := parseValue(mine)
		pin = l.lc.Pin(delay, tat)
	}
	cancel := func(ctx context.Context) error {
		if pin != nil {
			defer pin.Release()
		}
		// Not l.call: Close gives pinned slots back after it started.
		cctx, stop := l.bound(ctx)
		defer stop()
		given, err := cancelScript.Run(cctx, l.client, []string{rkey}, mine, replaced, had).Int()
		if err != nil {
			return l.wrap("Cancel", rkey, ctx, err)
		}
		if given == 1 {
			l.floors.lower(rkey, mine, int64(n)*p.T)
		}
		return nil
	}
	r := limiter.NewReservation(delay, int(ints[2]), gcra.US(ints[3]), cancel)
	if pin != nil {
		pin.GiveBack(r.Cancel)
	}
	return r, nil
}

// newToken returns the random token of one write (16 digits; see
// scripts.go).
func newToken() string { return fmt.Sprintf("%016d", rand.Uint64N(1e16)) }

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

// Hold implements limiter.Limiter.
func (l *store) Hold(ctx context.Context, key string, limit limiter.Limit, d time.Duration) error {
	if err := limiter.CheckHold(key, limit, d); err != nil {
		return err
	}
	cctx, done, err := l.call(ctx)
	if err != nil {
		return err
	}
	defer done()
	p := gcra.ParamsOf(limit)
	if err := holdScript.Run(cctx, l.client, []string{l.key(key)}, p.T, p.Tau, d.Microseconds(), newToken()).Err(); err != nil {
		return l.wrap("Hold", l.key(key), ctx, err)
	}
	return nil
}

// Reset implements limiter.Limiter.
func (l *store) Reset(ctx context.Context, key string) error {
	if err := limiter.CheckKey(key); err != nil {
		return err
	}
	cctx, done, err := l.call(ctx)
	if err != nil {
		return err
	}
	defer done()
	if err := resetScript.Run(cctx, l.client, []string{l.key(key)}, newEpoch(), newToken()).Err(); err != nil {
		return l.wrap("Reset", l.key(key), ctx, err)
	}
	l.floors.forget(l.key(key))
	return nil
}

// Status implements limiter.Limiter.
func (l *store) Status(ctx context.Context, key string, limit limiter.Limit) (limiter.Status, error) {
	if err := limiter.CheckArgs(key, limit, 1); err != nil {
		return limiter.Status{}, err
	}
	cctx, done, err := l.call(ctx)
	if err != nil {
		return limiter.Status{}, err
	}
	defer done()
	p := gcra.ParamsOf(limit)
	v, err := statusScript.Run(cctx, l.client, []string{l.key(key)}, p.T, p.Tau).Slice()
	if err != nil {
		return limiter.Status{}, l.wrap("Status", l.key(key), ctx, err)
	}
	ints, _, err := reply(v, 3, 0)
	if err != nil {
		return limiter.Status{}, l.wrap("Status", l.key(key), ctx, err)
	}
	return limiter.Status{Remaining: int(ints[0]), NextAfter: gcra.US(ints[1]), FullAfter: gcra.US(ints[2])}, nil
}

// Done implements limiter.Limiter.
func (l *store) Done() <-chan struct{} { return l.lc.Done() }

// Close closes the client only when the Limiter opened it from a URL.
func (l *store) Close() error {
	return l.lc.Close(func() error {
		if d := l.shared.Load(); d != nil {
			d.cancel()
		}
		if l.owned {
			return l.wrapClose(l.client.Close())
		}
		return nil
	})
}

func (l *store) wrapClose(err error) error {
	if err == nil || errors.Is(err, goredis.ErrClosed) {
		return nil
	}
	return fmt.Errorf("limiter: redis Close: %w", l.redact(err))
}
