package redis

import (
	"fmt"
	"github.com/sharedlimit/sharedlimit/internal/coalesce"
	"github.com/sharedlimit/sharedlimit/internal/handleopt"
	"time"

	"github.com/go-redis/redis_rate/v10"
	goredis "github.com/redis/go-redis/v9"

	"github.com/sharedlimit/sharedlimit/internal/redact"
	"github.com/sharedlimit/sharedlimit/limiter"
)

// DefaultTimeout bounds each Redis call when the caller's context allows
// longer.
const DefaultTimeout = 2 * time.Second

// Limiter is a handle on limits kept in Redis: a [limiter.Handle] on a
// Redis store, whose methods it has. They are safe for concurrent use.
//
// Every call goes through the Handle's failure policy (see [WithPolicy]):
// by default, a Redis that cannot answer is retried with backoff up to the
// caller's deadline or 30 s, then the call fails with an error matching
// limiter.ErrUnavailable.
//
// A request of several needs ([limiter.Handle.Allow],
// [limiter.Handle.Reserve]) is one script on all of its keys, all or
// nothing; on a Redis Cluster (or a Ring of several shards) its keys must
// share one hash tag (see [Key]), or the request fails before reaching
// Redis with an error matching limiter.ErrInvalidArgument.
type Limiter struct {
	*limiter.Handle
	s *store
}

var (
	_ limiter.Limiter  = (*Limiter)(nil)
	_ limiter.Observed = (*Limiter)(nil)
)

// config is what the options set.
type config struct {
	prefix  string
	timeout time.Duration
	handleopt.Common
}

// Option configures New.
type Option func(*config)

// WithPrefix puts prefix before every limit key (see [Key]), so that
// programs sharing one Redis keep their limits apart. The default value is
// "" (no prefix).
func WithPrefix(prefix string) Option { return func(c *config) { c.prefix = prefix } }

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
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithPolicy sets what the Limiter does when Redis cannot answer (see
// [limiter.Policy]): wait for it (the default), admit without it, or fall
// back to an in-process limiter. Under limiter.FailFallback without a
// Policy.Fallback, an in-process store of its own is used. The default
// value is limiter.Policy{} (FailWait, 30 s).
func WithPolicy(p limiter.Policy) Option { return func(c *config) { c.SetPolicy(p) } }

// WithCoalescing turns coalescing on or off. On, concurrent calls on the
// Limiter share round trips: a call that finds none in flight goes at
// once, and calls arriving meanwhile go together as the next batch, decided
// by Redis in one script call, each request in arrival order as if alone. Off, every
// call is a round trip of its own. The default value is true.
func WithCoalescing(on bool) Option { return func(c *config) { c.SetCoalescing(on) } }

// WithObserver reports the Limiter's decisions, store errors and policy
// switches to o (see [limiter.Observer]); limiter.Wait reports its waits
// to it too. The default value is none.
func WithObserver(o limiter.Observer) Option { return func(c *config) { c.SetObserver(o) } }

// New returns a Limiter on client, which may be any go-redis client (single
// node, cluster, sentinel failover, ring). Close does not close client.
func New(client goredis.UniversalClient, opts ...Option) (*Limiter, error) {
	if client == nil {
		return nil, fmt.Errorf("limiter: redis.New: nil client: %w", limiter.ErrInvalidArgument)
	}
	c := config{timeout: DefaultTimeout, Common: handleopt.Common{Batch: coalesce.Options{InFlight: batchesInFlight}}}
	for _, o := range opts {
		o(&c)
	}
	if c.timeout <= 0 {
		return nil, fmt.Errorf("limiter: redis.New: timeout must be > 0, got %s: %w", c.timeout, limiter.ErrInvalidArgument)
	}
	s := &store{
		client:  client,
		rate:    redis_rate.NewLimiter(client),
		prefix:  c.prefix,
		timeout: c.timeout,
		secrets: passwords(client),
	}
	s.cluster, _ = client.(*goredis.ClusterClient)
	if s.ring, _ = client.(*goredis.Ring); s.ring != nil {
		s.ringShards = len(s.ring.Options().Addrs)
	}
	h, err := c.Handle(s)
	if err != nil {
		return nil, fmt.Errorf("limiter: redis.New: %w", err)
	}
	return &Limiter{Handle: h, s: s}, nil
}

// Prefix is the prefix of the Limiter's keys.
func (l *Limiter) Prefix() string { return l.s.prefix }

// Client is the go-redis client the Limiter uses.
func (l *Limiter) Client() goredis.UniversalClient { return l.s.client }

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
