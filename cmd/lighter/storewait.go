package main

import (
	"net/url"
	"strings"
	"time"

	"github.com/sharedlimit/sharedlimit/lighter"
)

// storeWait bounds how long a one-shot command (every command but
// loadtest, demo and fake-server) waits for a limiter store that cannot answer, instead of
// the library's 30 s: a person at a terminal wants exit 4 in seconds. A
// URL that sets its own bound keeps it.
const storeWait = 3 * time.Second

// boundStoreWait returns rawURL (the Session's limiter URL, "" for the
// default) with a bound of storeWait on waiting for its store, unless it
// sets one: unavailable_after for Redis, busy_timeout for SQLite. A URL
// that does not parse is left for limiter.Open to report.
func boundStoreWait(rawURL string) string {
	if rawURL == "" {
		rawURL = lighter.DefaultRateLimitURL
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	opt := ""
	switch scheme := strings.ToLower(u.Scheme); {
	case strings.HasPrefix(scheme, "redis"):
		opt = "unavailable_after"
	case scheme == "sqlite":
		opt = "busy_timeout"
	default:
		return rawURL
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil || q.Has(opt) || u.Fragment != "" || strings.Contains(rawURL, "#") {
		return rawURL
	}
	// Appended to the raw text, so that the rest stays as it was written.
	sep := "?"
	if strings.Contains(rawURL, "?") {
		sep = "&"
		if strings.HasSuffix(rawURL, "?") || strings.HasSuffix(rawURL, "&") {
			sep = ""
		}
	}
	return rawURL + sep + opt + "=" + storeWait.String()
}
