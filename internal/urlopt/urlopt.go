// Package urlopt checks the query options of a backend's URL.
package urlopt

import (
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/sharedlimit/sharedlimit/limiter"
)

// Check returns an error naming the first query option of u that is
// not in accepted, and listing the accepted ones, or that is given more
// than once; nil when all are known and given once.
func Check(u *url.URL, accepted ...string) error {
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return fmt.Errorf("limiter: malformed options in %q: %w", limiter.Redact(u.String()), limiter.ErrInvalidArgument)
	}
	if err := Once(limiter.Redact(u.String()), q, accepted...); err != nil {
		return err
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !slices.Contains(accepted, k) {
			list := "none"
			if len(accepted) > 0 {
				list = strings.Join(accepted, ", ")
			}
			return fmt.Errorf("limiter: unknown option %q in %s (accepted: %s): %w",
				k, limiter.Redact(u.String()), list, limiter.ErrInvalidArgument)
		}
	}
	return nil
}

// Once returns an error naming the first of the options names that q
// gives more than once (which value would count?), with the URL redacted
// as red; nil when each is given once at most.
func Once(red string, q url.Values, names ...string) error {
	for _, name := range names {
		if vs := q[name]; len(vs) > 1 {
			return fmt.Errorf("limiter: option %s given %d times in %s: give it once: %w",
				name, len(vs), red, limiter.ErrInvalidArgument)
		}
	}
	return nil
}

// Coalesce is the name of the option that turns coalescing on or off
// (coalesce=true or coalesce=false) on every backend that has it.
const Coalesce = "coalesce"

// Bool parses the boolean option name of u's query, as strconv.ParseBool
// does (true, false, 1, 0, ...). It reports whether the option is set; a
// value that is not a boolean is an error naming it, with u redacted as
// red.
func Bool(red string, q url.Values, name string) (v, set bool, err error) {
	if !q.Has(name) {
		return false, false, nil
	}
	v, err = strconv.ParseBool(q.Get(name))
	if err != nil {
		return false, false, fmt.Errorf("limiter: URL %q: option %s=%q must be true or false: %w",
			red, name, q.Get(name), limiter.ErrInvalidArgument)
	}
	return v, true, nil
}
