package lighter

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
)

// Ptr returns a pointer to v, for the optional fields of queries
// (MarketID: lighter.Ptr(0) asks for market 0, nil for the default).
func Ptr[T any](v T) *T { return &v }

// Limits of the spec's parameters.
const (
	// MaxMarketID is the largest market index (an int16).
	MaxMarketID = 32767
	// AllMarkets is the market_id that stands for every market.
	AllMarkets = 255
	// MaxPageLimit is the largest limit of recentTrades and trades.
	MaxPageLimit = 100
)

// ErrInvalidParam is matched by every error a call returns for a
// parameter it refused before sending anything.
var ErrInvalidParam = errors.New("lighter: invalid parameter")

// paramError is a refused parameter: the message names the call, the
// parameter and the value.
type paramError struct{ msg string }

func (e *paramError) Error() string        { return e.msg }
func (e *paramError) Is(target error) bool { return target == ErrInvalidParam }

func paramErrorf(format string, args ...any) error {
	return &paramError{msg: fmt.Sprintf(format, args...)}
}

// query builds an endpoint's parameters, checking each against the spec
// and keeping the first problem, which names the call, the parameter and
// the value.
type query struct {
	call string
	v    url.Values
	err  error
}

func newQuery(call string) *query { return &query{call: call, v: url.Values{}} }

func (q *query) fail(format string, args ...any) {
	if q.err == nil {
		q.err = paramErrorf("lighter: %s: "+format, append([]any{q.call}, args...)...)
	}
}

// int sets name to v, which must lie in [lo, hi].
func (q *query) int(name string, v, lo, hi int64) {
	if v < lo || v > hi {
		q.fail("invalid %s %d: must be %d to %d", name, v, lo, hi)
		return
	}
	q.v.Set(name, strconv.FormatInt(v, 10))
}

// optInt sets name to *v when v is not nil.
func (q *query) optInt(name string, v *int64, lo, hi int64) {
	if v != nil {
		q.int(name, *v, lo, hi)
	}
}

// enum sets name to v, one of allowed; an empty v is an error when
// required, else leaves the parameter out (the server's default).
func (q *query) enum(name, v string, required bool, allowed []string) {
	switch {
	case v == "" && required:
		q.fail("%s is required: want one of %q", name, allowed)
	case v == "":
	case !slices.Contains(allowed, v):
		q.fail("invalid %s %q: want one of %q", name, v, allowed)
	default:
		q.v.Set(name, v)
	}
}

// marketID sets market_id, 0 to MaxMarketID.
func (q *query) marketID(id int) { q.int("market_id", int64(id), 0, MaxMarketID) }

// optMarketID sets market_id when id is not nil.
func (q *query) optMarketID(id *int) {
	if id != nil {
		q.marketID(*id)
	}
}

// isL1Address reports whether s is an Ethereum address: 0x and 40 hex
// digits.
func isL1Address(s string) bool {
	if len(s) != 42 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') {
		return false
	}
	for _, c := range s[2:] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
