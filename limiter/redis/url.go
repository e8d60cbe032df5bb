package redis

import (
	"context"
	"fmt"
	"net/url"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sharedlimit/sharedlimit/limiter"
)

func init() {
	limiter.Register("redis", openURL)
	limiter.Register("rediss", openURL)
}

// Query options of the URL that belong to this package; go-redis parses the
// rest and rejects the ones it does not know.
const (
	optPrefix  = "prefix"
	optTimeout = "timeout"
)

// openURL opens a Limiter that owns a client made by go-redis's ParseURL.
// It does not connect: a Redis that is down at start-up fails the first
// call, not Open.
func openURL(_ context.Context, u *url.URL) (limiter.Limiter, error) {
	opts, lopts, err := parseURL(u)
	if err != nil {
		return nil, err
	}
	l, err := New(goredis.NewClient(opts), lopts...)
	if err != nil {
		return nil, err
	}
	l.owned = true
	return l, nil
}

// parseURL splits u into go-redis options and ours. Errors never contain
// the password.
func parseURL(u *url.URL) (*goredis.Options, []Option, error) {
	var secrets []string
	if pw, ok := u.User.Password(); ok && pw != "" {
		secrets = append(secrets, pw, url.QueryEscape(pw), url.PathEscape(pw))
	}
	// fail masks the password wherever it shows, in the URL's query or
	// path too.
	fail := func(err error) error {
		return fmt.Errorf("%w: %w", redactErr(err, secrets), limiter.ErrInvalidArgument)
	}
	redacted := u.Redacted()
	q := u.Query()
	var lopts []Option
	if q.Has(optPrefix) {
		lopts = append(lopts, WithPrefix(q.Get(optPrefix)))
		q.Del(optPrefix)
	}
	if q.Has(optTimeout) {
		d, err := time.ParseDuration(q.Get(optTimeout))
		if err != nil || d <= 0 {
			return nil, nil, fail(fmt.Errorf("limiter: redis URL %q: option timeout=%q must be a positive duration such as 2s",
				redacted, q.Get(optTimeout)))
		}
		lopts = append(lopts, WithTimeout(d))
		q.Del(optTimeout)
	}
	rest := *u
	rest.RawQuery = q.Encode()
	opts, err := goredis.ParseURL(rest.String())
	if err != nil {
		return nil, nil, fail(fmt.Errorf("limiter: redis URL %q (options: %s, %s and go-redis's): %v",
			redacted, optPrefix, optTimeout, err))
	}
	// Let every call's context deadline (see WithTimeout) reach the
	// socket.
	opts.ContextTimeoutEnabled = true
	return opts, lopts, nil
}
