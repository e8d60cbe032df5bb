package redis

import (
	"context"
	"fmt"
	"github.com/sharedlimit/sharedlimit/internal/urlopt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sharedlimit/sharedlimit/internal/redact"
	"github.com/sharedlimit/sharedlimit/limiter"
)

// URL schemes, by the kind of client they open.
const (
	schemeCluster  = "+cluster"
	schemeSentinel = "+sentinel"
)

func init() {
	for _, s := range []string{"redis", "rediss"} {
		limiter.Register(s, openURL)
		limiter.Register(s+schemeCluster, openURL)
		limiter.Register(s+schemeSentinel, openURL)
	}
}

// Query options of the URL that belong to this package; go-redis parses the
// rest and rejects the ones it does not know.
const (
	optPrefix           = "prefix"
	optTimeout          = "timeout"
	optOnFailure        = "on_failure"
	optFallbackShare    = "fallback_share"
	optUnavailableAfter = "unavailable_after"
)

var ourOptions = []string{optPrefix, optTimeout, optOnFailure, optFallbackShare, optUnavailableAfter, urlopt.Coalesce}

// openURL opens a Limiter that owns a client made by go-redis's ParseURL,
// ParseClusterURL or ParseFailoverURL. It does not connect: a Redis that
// is down at start-up fails the first call, not Open.
func openURL(_ context.Context, u *url.URL) (limiter.Limiter, error) {
	client, lopts, err := parseURL(u)
	if err != nil {
		return nil, err
	}
	l, err := New(client, lopts...)
	if err != nil {
		client.Close()
		return nil, err
	}
	l.s.owned = true
	return l, nil
}

// urlParser parses one URL; its errors mask every form of the password.
type urlParser struct {
	u        *url.URL
	secrets  []string
	redacted string
}

func (p *urlParser) fail(format string, args ...any) error {
	err := fmt.Errorf("limiter: redis URL %q: "+format, append([]any{p.redacted}, args...)...)
	return fmt.Errorf("%w: %w", redact.Error(err, p.secrets), limiter.ErrInvalidArgument)
}

// parseURL makes the client u describes and our options. Errors never
// contain the password.
func parseURL(u *url.URL) (goredis.UniversalClient, []Option, error) {
	p := &urlParser{u: u, redacted: limiter.Redact(u.String()), secrets: redact.Secrets(u.String())}
	q := u.Query()
	if err := urlopt.Once(p.redacted, q, ourOptions...); err != nil {
		return nil, nil, err
	}
	lopts, err := p.ours(q)
	if err != nil {
		return nil, nil, err
	}
	scheme := strings.ToLower(u.Scheme)
	base, kind, _ := strings.Cut(scheme, "+")
	switch kind {
	case "":
		rest := *u
		rest.RawQuery = q.Encode()
		opts, err := goredis.ParseURL(rest.String())
		if err != nil {
			return nil, nil, p.fail("%v (options: %s and those of go-redis's ParseURL)", err, strings.Join(ourOptions, ", "))
		}
		// Let every call's context deadline (see WithTimeout) reach
		// the socket.
		opts.ContextTimeoutEnabled = true
		return goredis.NewClient(opts), lopts, nil
	case "cluster":
		rest, err := p.hosts(base, q, "6379")
		if err != nil {
			return nil, nil, err
		}
		if path := strings.Trim(u.Path, "/"); path != "" {
			return nil, nil, p.fail("a cluster URL takes no path (Redis Cluster has database 0 only)")
		}
		opts, err := goredis.ParseClusterURL(rest.String())
		if err != nil {
			return nil, nil, p.fail("%v (options: %s and those of go-redis's ParseClusterURL)", err, strings.Join(ourOptions, ", "))
		}
		opts.ContextTimeoutEnabled = true
		return goredis.NewClusterClient(opts), lopts, nil
	case "sentinel":
		for _, k := range []string{"master_name", "password", "username"} {
			if q.Has(k) {
				return nil, nil, p.fail("option %s is not accepted: the master name goes in the path and the credentials in the user info: %s",
					k, formSentinel)
			}
		}
		parts := strings.FieldsFunc(u.Path, func(r rune) bool { return r == '/' })
		if len(parts) == 0 || len(parts) > 2 {
			return nil, nil, p.fail("want %s", formSentinel)
		}
		q.Set("master_name", parts[0])
		rest, err := p.hosts(base, q, "26379")
		if err != nil {
			return nil, nil, err
		}
		rest.Path = ""
		if len(parts) == 2 {
			rest.Path = "/" + parts[1]
		}
		opts, err := goredis.ParseFailoverURL(rest.String())
		if err != nil {
			return nil, nil, p.fail("%v (options: %s and those of go-redis's ParseFailoverURL)", err, strings.Join(ourOptions, ", "))
		}
		// The user info is the data nodes' (master and replicas);
		// the sentinels are asked without credentials.
		opts.SentinelUsername, opts.SentinelPassword = "", ""
		if u.User != nil {
			opts.Username = u.User.Username()
			opts.Password, _ = u.User.Password()
		}
		opts.ContextTimeoutEnabled = true
		return goredis.NewFailoverClient(opts), lopts, nil
	}
	return nil, nil, p.fail("unknown scheme %q (accepted: redis, rediss, redis+cluster, rediss+cluster, redis+sentinel, rediss+sentinel)", u.Scheme)
}

const formSentinel = "redis+sentinel://[user:password@]sentinel1:26379[,sentinel2:26379...]/<master name>[/db][?options]"

// hosts turns the comma-separated hosts of u into go-redis's form: the
// first one as the host, the others as addr options (after any addr given
// in q). The user info is dropped for the sentinel form (see parseURL).
func (p *urlParser) hosts(base string, q url.Values, defPort string) (*url.URL, error) {
	var addrs []string
	for h := range strings.SplitSeq(p.u.Host, ",") {
		if h == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(h); err != nil {
			h = net.JoinHostPort(h, defPort)
		}
		addrs = append(addrs, h)
	}
	addrs = append(addrs, q["addr"]...)
	if len(addrs) == 0 {
		return nil, p.fail("no host")
	}
	q.Del("addr")
	for _, a := range addrs[1:] {
		q.Add("addr", a)
	}
	rest := &url.URL{Scheme: base, Host: addrs[0], RawQuery: q.Encode()}
	if !strings.HasSuffix(p.u.Scheme, schemeSentinel) {
		rest.User = p.u.User
	}
	return rest, nil
}

// ours takes this package's options out of q.
func (p *urlParser) ours(q url.Values) ([]Option, error) {
	var lopts []Option
	if q.Has(optPrefix) {
		lopts = append(lopts, WithPrefix(q.Get(optPrefix)))
		q.Del(optPrefix)
	}
	if q.Has(optTimeout) {
		d, err := time.ParseDuration(q.Get(optTimeout))
		if err != nil || d <= 0 {
			return nil, p.fail("option timeout=%q must be a positive duration such as 2s", q.Get(optTimeout))
		}
		lopts = append(lopts, WithTimeout(d))
		q.Del(optTimeout)
	}
	if q.Has(urlopt.Coalesce) {
		on, err := strconv.ParseBool(q.Get(urlopt.Coalesce))
		if err != nil {
			return nil, p.fail("option coalesce=%q must be true or false", q.Get(urlopt.Coalesce))
		}
		lopts = append(lopts, WithCoalescing(on))
		q.Del(urlopt.Coalesce)
	}
	var pol limiter.Policy
	set := false
	if q.Has(optOnFailure) {
		m, err := limiter.ParseFailureMode(q.Get(optOnFailure))
		if err != nil {
			return nil, p.fail("option on_failure=%q: want wait, open or fallback", q.Get(optOnFailure))
		}
		pol.OnFailure, set = m, true
		q.Del(optOnFailure)
	}
	if q.Has(optFallbackShare) {
		f, err := strconv.ParseFloat(q.Get(optFallbackShare), 64)
		if err != nil || !(f > 0 && f <= 1) {
			return nil, p.fail("option fallback_share=%q must be a number in (0, 1] such as 0.5", q.Get(optFallbackShare))
		}
		pol.FallbackShare, set = f, true
		q.Del(optFallbackShare)
	}
	if q.Has(optUnavailableAfter) {
		d, err := time.ParseDuration(q.Get(optUnavailableAfter))
		if err != nil || d < 0 {
			return nil, p.fail("option unavailable_after=%q must be a duration such as 30s (0: give up at the first failure)",
				q.Get(optUnavailableAfter))
		}
		if d == 0 {
			d = -1
		}
		pol.UnavailableAfter, set = d, true
		q.Del(optUnavailableAfter)
	}
	if set {
		lopts = append(lopts, WithPolicy(pol))
	}
	return lopts, nil
}
