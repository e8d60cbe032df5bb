package memory

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/memstore"
	"github.com/sharedlimit/sharedlimit/internal/urlopt"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/driver"
)

func init() { limiter.Register("memory", openURL) }

// State is the shared store of one or more Limiters: the map of keys and
// its clock. Handles opened on one State share every limit, as processes do
// on one SQLite file. Its Len method is the number of keys held, idle ones
// not yet swept included.
type State = memstore.State

// NewState returns an empty State on the clock now (nil: time.Now). The
// clock should carry a monotonic reading, as time.Now's does.
func NewState(now func() time.Time) *State { return memstore.NewState(now) }

// NewStore returns the in-process driver.Store on st, for programs that
// build a [limiter.Handle] themselves (a store of their own wrapping it, a
// Policy.Fallback). Most callers want New.
func NewStore(st *State) driver.Store { return memstore.New(st) }

// Limiter is a handle on a State: a [limiter.Handle] on the in-process
// store, whose methods it has. A request of several needs is decided under
// the State's one lock.
type Limiter struct {
	*limiter.Handle
}

var _ limiter.Limiter = (*Limiter)(nil)

type config struct {
	st  *State
	now func() time.Time
}

// Option configures New.
type Option func(*config)

// WithState makes the Limiter a handle on st, shared with other handles.
// The default value is a new State of its own.
func WithState(st *State) Option { return func(c *config) { c.st = st } }

// WithClock sets the clock of the Limiter's own State, for tests. It has no
// effect together with WithState. The default value is time.Now.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// New returns an in-process Limiter.
func New(opts ...Option) *Limiter {
	var c config
	for _, o := range opts {
		o(&c)
	}
	if c.st == nil {
		c.st = NewState(c.now)
	}
	h, err := limiter.NewHandle(memstore.New(c.st), limiter.Policy{})
	if err != nil {
		panic(err) // the zero Policy is valid
	}
	return &Limiter{Handle: h}
}

func openURL(_ context.Context, u *url.URL) (limiter.Limiter, error) {
	if err := urlopt.Check(u); err != nil {
		return nil, err
	}
	if u.Host != "" || (u.Path != "" && u.Path != "/") || u.Opaque != "" || u.User != nil {
		return nil, fmt.Errorf("limiter: memory URL %q takes no host, user or path: use \"memory://\": %w",
			limiter.Redact(u.String()), limiter.ErrInvalidArgument)
	}
	return New(), nil
}
