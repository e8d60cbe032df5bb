// Package urlopt checks the query options of a backend's URL.
package urlopt

import (
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/sharedlimit/sharedlimit/limiter"
)

// Check returns an error naming the first query option of u that is
// not in accepted, and listing the accepted ones; nil when all are known.
func Check(u *url.URL, accepted ...string) error {
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return fmt.Errorf("limiter: malformed options in %q: %w", limiter.Redact(u.String()), limiter.ErrInvalidArgument)
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
