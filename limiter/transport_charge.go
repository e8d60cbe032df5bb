package limiter

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/sharedlimit/sharedlimit/internal/redact"
)

// Charge is what one request through a [Transport] takes, as its Needs
// function says: the tokens of every need, taken at one slot, and the keys
// a 429 answer holds.
type Charge struct {
	// Needs are the limits the request must pass: one at least, each
	// key once, each N from 1 to its Limit's Burst (see [Need]).
	Needs []Need
	// Hold names the keys a 429 holds, each the key of one of Needs,
	// for the answer's Retry-After under that need's Limit (one Period
	// of it without a Retry-After). Nil or empty holds every need's
	// key.
	Hold []string
}

// charge is what one request takes, checked: its needs, and the needs
// whose keys a 429 holds.
type charge struct{ needs, holds []Need }

// charge returns what req takes, from Needs or else from Key, Cost and
// Limit, checked as the Limiter would check it, so that a bad request
// stops before any store call.
func (t *Transport) charge(req *http.Request) (charge, error) {
	if t.Limiter == nil {
		return charge{}, fmt.Errorf("limiter: Transport.Limiter is nil: %w", ErrInvalidArgument)
	}
	if t.Needs != nil {
		return t.chargeOfNeeds(req)
	}
	key := HostKey(req)
	if t.Key != nil {
		key = t.Key(req)
	}
	n := 1
	if t.Cost != nil {
		var err error
		if n, err = t.Cost(req); err != nil {
			return charge{}, fmt.Errorf("limiter: cost of %s %s: %w", req.Method, redact.URL(req.URL), err)
		}
	}
	needs := []Need{{Key: key, Limit: t.Limit, N: n}}
	if err := checkNeeds("Transport", needs); err != nil {
		var eb *ExceedsBurstError
		if errors.As(err, &eb) {
			return charge{}, fmt.Errorf("limiter: %s %s costs %d tokens: %w", req.Method, redact.URL(req.URL), n, err)
		}
		return charge{}, err
	}
	return charge{needs: needs, holds: needs}, nil
}

// chargeOfNeeds is charge from the Needs function.
func (t *Transport) chargeOfNeeds(req *http.Request) (charge, error) {
	for _, f := range []struct {
		name string
		set  bool
	}{{"Key", t.Key != nil}, {"Cost", t.Cost != nil}, {"Limit", t.Limit != Limit{}}} {
		if f.set {
			return charge{}, fmt.Errorf("limiter: Transport.Needs and Transport.%s are both set: the Charge of Needs names every key, limit and cost, so leave %s unset: %w",
				f.name, f.name, ErrInvalidArgument)
		}
	}
	c, err := t.Needs(req)
	if err != nil {
		return charge{}, fmt.Errorf("limiter: needs of %s %s: %w", req.Method, redact.URL(req.URL), err)
	}
	if err := checkNeeds("Transport", c.Needs); err != nil {
		return charge{}, fmt.Errorf("limiter: needs of %s %s: %w", req.Method, redact.URL(req.URL), err)
	}
	if len(c.Hold) == 0 {
		return charge{needs: c.Needs, holds: c.Needs}, nil
	}
	for _, k := range c.Hold {
		if !hasKey(c.Needs, k) {
			return charge{}, fmt.Errorf("limiter: needs of %s %s: Charge.Hold names key %q, which no need of the request has: %w",
				req.Method, redact.URL(req.URL), k, ErrInvalidArgument)
		}
	}
	holds := make([]Need, 0, len(c.Hold))
	for _, nd := range c.Needs {
		for _, k := range c.Hold {
			if k == nd.Key {
				holds = append(holds, nd)
				break
			}
		}
	}
	return charge{needs: c.Needs, holds: holds}, nil
}

// hasKey reports whether one of needs has key.
func hasKey(needs []Need, key string) bool {
	for _, nd := range needs {
		if nd.Key == key {
			return true
		}
	}
	return false
}
