package lighter

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/retrypolicy"
)

// Deployments of the Lighter API.
const (
	// Mainnet is the production API, the default.
	Mainnet = "https://mainnet.zklighter.elliot.ai"
	// Testnet is the test deployment.
	Testnet = "https://testnet.zklighter.elliot.ai"
)

// Defaults, those of the Python original.
const (
	DefaultRequestsPerSecond = 2.0
	DefaultBurst             = 1
	DefaultRetries           = retrypolicy.DefaultRetries
	DefaultBackoffFactor     = retrypolicy.DefaultBackoffFactor
	DefaultPoolMaxSize       = 32
	DefaultTimeout           = 30 * time.Second
	DefaultRateLimitURL      = "sqlite://"
)

// NoRetries in Config.Retries makes one attempt per request.
const NoRetries = retrypolicy.NoRetries

// Config configures a Session. The zero value is the original's setup:
// mainnet, 2 requests per second with burst 1, the SQLite limiter at its
// default path, 5 retries with backoff factor 0.5, a pool of 32, and a 30 s
// timeout per attempt. [ConfigFromEnv] fills it from LIGHTER_* variables.
type Config struct {
	// Deployment names the Lighter deployment: "mainnet", "testnet" or
	// "robinhood" (see [Deployments]); it sets the API URL and, on
	// robinhood, pins the LLP's index. The default value is "mainnet".
	// Variable: LIGHTER_DEPLOYMENT.
	Deployment string

	// APIURL is the API base URL, or a deployment's name; it overrides
	// the Deployment's URL (the Deployment's pinned LLP index stays).
	// With no Deployment set, a deployment's name or its own URL
	// (https://api.rh.lighter.xyz) selects that deployment. The default
	// value is the Deployment's URL. Variable: LIGHTER_API_URL.
	APIURL string

	// RateLimitURL picks the limiter backend: "sqlite://" (the default
	// path), "sqlite:///abs/path", "redis://...", "rediss://...",
	// "memory://". Ignored when Limiter is set. The default value is
	// "sqlite://". Variable: LIGHTER_RATE_LIMIT_URL.
	RateLimitURL string

	// Limiter is a limiter the caller opened and keeps; the Session does
	// not close it. The default value is nil: open RateLimitURL.
	Limiter limiter.Limiter

	// RequestsPerSecond is the steady rate, as a float (0.5 is one request
	// every 2 s). It must be left zero with an AccountTier. The default
	// value is 2. Variable: LIGHTER_REQUESTS_PER_SECOND.
	RequestsPerSecond float64

	// Burst is how many requests may go at once after a quiet spell. It
	// must be left zero with an AccountTier. The default value is 1 (never
	// more than RequestsPerSecond in any second). Variable:
	// LIGHTER_RATE_LIMIT_BURST.
	Burst int

	// RateLimitKey is the key shared by everything that should count
	// against one limit (per account, per fleet). The default value is
	// the API URL's host key, [limiter.URLHostKey] (one key per host,
	// however the URL spells it). Variable: LIGHTER_RATE_LIMIT_KEY.
	RateLimitKey string

	// AccountTier selects a preset from Lighter's published limits:
	// "standard" (60 requests per rolling minute, and each request's
	// endpoint weight from a shared 24,000 weight per rolling minute) or
	// "premium" (24,000 weight per rolling minute, weighted per
	// endpoint). See [Tier]. The
	// default value is "" (RequestsPerSecond and Burst). Variable:
	// LIGHTER_ACCOUNT_TIER.
	AccountTier string

	// Retries is the number of retries after the first attempt; NoRetries
	// (-1) for none. The default value is 5. Variable: LIGHTER_RETRIES
	// (where 0 means no retries).
	Retries int

	// BackoffFactor sets the sleeps between attempts: 0, 1, 2, 4, 8 s for
	// 0.5. The default value is 0.5. Variable: LIGHTER_BACKOFF_FACTOR.
	BackoffFactor float64

	// PoolMaxSize is the number of idle connections kept per host. The
	// default value is 32. Variable: LIGHTER_POOL_MAXSIZE.
	PoolMaxSize int

	// Timeout applies to each attempt: to connect, and to wait for the
	// response headers. It never spans retries or limiter waits, and
	// never cuts a body being read. The default value is 30 s. Variable:
	// LIGHTER_TIMEOUT (a Go duration such as "30s", or seconds).
	Timeout time.Duration

	// Cost, when set, is the number of tokens a request for path takes
	// from the Session's key, instead of 1 (or the endpoint weight on a
	// weighted tier). On the standard tier the request still takes its
	// endpoint weight from the shared weight budget too (see
	// [Session.Needs]). The default value is nil.
	Cost func(path string) int

	// Observer receives the limiter's events for every attempt:
	// admissions, refusals, waits and how long, 429 holds (see
	// limiter.Observer; limiter.SlogObserver logs them). The default
	// value is nil: the limiter's own observer, if it has one.
	Observer limiter.Observer

	// Logger receives retries and limiter events. The default value is
	// nil: slog.Default().
	Logger *slog.Logger

	// from names where WithSettings took each setting from (a variable
	// or a flag), by variable, for errors.
	from map[string]string

	// Base sends the requests under the limiter, for tests and custom
	// dialing. The default value is nil: an http.Transport built from
	// PoolMaxSize and Timeout.
	Base http.RoundTripper
}

// Environment variables read by ConfigFromEnv.
const (
	EnvDeployment        = "LIGHTER_DEPLOYMENT"
	EnvAPIURL            = "LIGHTER_API_URL"
	EnvRateLimitURL      = "LIGHTER_RATE_LIMIT_URL"
	EnvRequestsPerSecond = "LIGHTER_REQUESTS_PER_SECOND"
	EnvBurst             = "LIGHTER_RATE_LIMIT_BURST"
	EnvRateLimitKey      = "LIGHTER_RATE_LIMIT_KEY"
	EnvAccountTier       = "LIGHTER_ACCOUNT_TIER"
	EnvRetries           = "LIGHTER_RETRIES"
	EnvBackoffFactor     = "LIGHTER_BACKOFF_FACTOR"
	EnvPoolMaxSize       = "LIGHTER_POOL_MAXSIZE"
	EnvTimeout           = "LIGHTER_TIMEOUT"
)

// ConfigFromEnv returns a Config from the LIGHTER_* environment variables;
// unset ones keep their defaults. An invalid value is an error naming the
// variable and the value (a limiter URL is shown redacted).
func ConfigFromEnv() (Config, error) { return Config{}.WithEnv(os.LookupEnv) }

// WithEnv returns c with the settings that lookup finds set (os.LookupEnv,
// or a map in tests) laid over it.
func (c Config) WithEnv(lookup func(string) (string, bool)) (Config, error) {
	return c.WithSettings(lookup, nil)
}

// WithSettings is WithEnv for settings that come from elsewhere too, such
// as command-line flags: name(variable) is what errors call the setting
// lookup found under that variable, such as "--burst" for one that came
// from a flag. A nil name, or one returning "", keeps the variable's name.
func (c Config) WithSettings(lookup func(string) (string, bool), name func(variable string) string) (Config, error) {
	from := make(map[string]string, len(c.from)+4)
	for k, v := range c.from {
		from[k] = v
	}
	c.from = from
	source := func(variable string) string {
		if name != nil {
			if n := name(variable); n != "" {
				return n
			}
		}
		return variable
	}
	str := func(name string, dst *string) {
		if v, ok := lookup(name); ok && strings.TrimSpace(v) != "" {
			*dst = strings.TrimSpace(v)
			c.from[name] = source(name)
		}
	}
	var errs []string
	fromEnv := true
	num := func(name string, parse func(string) error) {
		v, ok := lookup(name)
		if !ok || strings.TrimSpace(v) == "" {
			return
		}
		c.from[name] = source(name)
		if err := parse(strings.TrimSpace(v)); err != nil {
			if src := source(name); src != name {
				errs = append(errs, fmt.Sprintf("%s %q: %v", src, v, err))
				fromEnv = false
			} else {
				errs = append(errs, fmt.Sprintf("%s=%q: %v", name, v, err))
			}
		}
	}
	str(EnvDeployment, &c.Deployment)
	str(EnvAPIURL, &c.APIURL)
	str(EnvRateLimitURL, &c.RateLimitURL)
	str(EnvRateLimitKey, &c.RateLimitKey)
	str(EnvAccountTier, &c.AccountTier)
	num(EnvRequestsPerSecond, func(v string) (err error) {
		c.RequestsPerSecond, err = positiveFloat(v)
		return err
	})
	num(EnvBurst, func(v string) (err error) { c.Burst, err = positiveInt(v); return err })
	num(EnvRetries, func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("want a whole number >= 0")
		}
		c.Retries = n
		if n == 0 {
			c.Retries = NoRetries
		}
		return nil
	})
	num(EnvBackoffFactor, func(v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f > 0) || f > 1e6 {
			retries := EnvRetries + "=0"
			if source(EnvBackoffFactor) != EnvBackoffFactor {
				retries = "the retries to 0" // a flag: its name is the caller's
			}
			return fmt.Errorf("want a number > 0 (for no retries set %s and leave this unset)", retries)
		}
		c.BackoffFactor = f
		return nil
	})
	num(EnvPoolMaxSize, func(v string) (err error) { c.PoolMaxSize, err = positiveInt(v); return err })
	num(EnvTimeout, func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			f, ferr := strconv.ParseFloat(v, 64)
			if ferr != nil && !errors.Is(ferr, strconv.ErrRange) {
				return fmt.Errorf("want a duration such as 30s, or seconds")
			}
			// Checked before converting: a float beyond int64 converts
			// to an implementation-specific value (negative on amd64,
			// the largest on arm64).
			if !(f <= maxTimeoutSeconds) {
				return fmt.Errorf("want a duration such as 30s, or seconds, at most %d", int64(maxTimeoutSeconds))
			}
			if f <= 0 {
				return fmt.Errorf("want a positive duration")
			}
			d = time.Duration(f * float64(time.Second))
		}
		if d <= 0 {
			return fmt.Errorf("want a positive duration")
		}
		c.Timeout = d
		return nil
	})
	if len(errs) > 0 {
		what := "environment"
		if !fromEnv {
			what = "settings"
		}
		return c, configErrorf("invalid %s: %s", what, strings.Join(errs, "; "))
	}
	return c, nil
}

// setting names a setting and its value as it was given: "--flag v",
// "LIGHTER_X=v", or "Field (v)" when it was set in the Config itself.
func (c Config) setting(env, field, v string) string {
	switch src, ok := c.from[env]; {
	case !ok:
		return field + " (" + v + ")"
	case src == env:
		return env + "=" + v
	default:
		return src + " " + v
	}
}

// source says where a setting came from, for errors: " (from
// LIGHTER_X)" or " (from --flag)" when WithSettings read it, else "".
func (c Config) source(env string) string {
	if src, ok := c.from[env]; ok {
		return " (from " + src + ")"
	}
	return ""
}

// maxTimeoutSeconds is the largest timeout in seconds, whole seconds
// within time.Duration's range.
const maxTimeoutSeconds = float64(math.MaxInt64 / int64(time.Second))

func positiveFloat(v string) (float64, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || !(f > 0) || f > 1e9 {
		return 0, fmt.Errorf("want a positive number")
	}
	return f, nil
}

func positiveInt(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("want a whole number > 0")
	}
	return n, nil
}

// resolved is a Config checked and with its defaults filled in.
type resolved struct {
	Config
	deployment Deployment
	base       *url.URL
	tier       Tier
	limit      limiter.Limit
	key        string
}

func (c Config) resolve() (*resolved, error) {
	r := &resolved{Config: c}
	dep, err := DeploymentByName(c.Deployment)
	if err != nil {
		return nil, withSource(err, c.source(EnvDeployment))
	}
	r.deployment = dep
	r.APIURL = dep.APIURL
	if c.APIURL != "" {
		r.APIURL = c.APIURL
		if named, err := DeploymentByName(c.APIURL); err == nil {
			r.APIURL = named.APIURL
			if c.Deployment == "" {
				r.deployment = named
			}
		}
	}
	u, err := url.Parse(r.APIURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, configErrorf("invalid API URL %q%s: want a deployment name (mainnet, testnet, robinhood) or an http(s) URL with a host", limiter.Redact(r.APIURL), c.source(EnvAPIURL))
	}
	r.base = u
	if c.Deployment == "" {
		if d, ok := deploymentOfURL(u); ok {
			r.deployment = d
		}
	}
	if r.RateLimitURL == "" {
		r.RateLimitURL = DefaultRateLimitURL
	}
	tier, err := TierByName(c.AccountTier)
	if err != nil {
		return nil, withSource(err, c.source(EnvAccountTier))
	}
	r.tier = tier
	if tier.Name != "" {
		if c.RequestsPerSecond != 0 || c.Burst != 0 {
			var set []string
			if c.RequestsPerSecond != 0 {
				set = append(set, c.setting(EnvRequestsPerSecond, "RequestsPerSecond", strconv.FormatFloat(c.RequestsPerSecond, 'g', -1, 64)))
			}
			if c.Burst != 0 {
				set = append(set, c.setting(EnvBurst, "Burst", strconv.Itoa(c.Burst)))
			}
			return nil, configErrorf("account tier %q%s sets the limit itself: leave %s unset",
				tier.Name, c.source(EnvAccountTier), strings.Join(set, " and "))
		}
		r.limit = tier.Limit
	} else {
		rps := c.RequestsPerSecond
		rps = cmp.Or(rps, DefaultRequestsPerSecond)
		burst := c.Burst
		burst = cmp.Or(burst, DefaultBurst)
		if burst < 0 {
			return nil, configErrorf("invalid Burst %d: must be >= 1", burst)
		}
		lim, err := limiter.PerSecondFloat(rps)
		if err != nil {
			return nil, configErrorf("invalid RequestsPerSecond %v%s: %v", rps, c.source(EnvRequestsPerSecond), err)
		}
		r.limit = lim.WithBurst(burst)
		if err := r.limit.Validate(); err != nil {
			return nil, configErrorf("%v%s%s", err, c.source(EnvRequestsPerSecond), c.source(EnvBurst))
		}
	}
	r.key = c.RateLimitKey
	if r.key == "" {
		r.key = limiter.URLHostKey(u)
	}
	switch {
	case c.Retries < NoRetries:
		return nil, configErrorf("invalid Retries %d: want >= 0, or NoRetries", c.Retries)
	case c.BackoffFactor < 0 || c.BackoffFactor != c.BackoffFactor:
		return nil, configErrorf("invalid BackoffFactor %v: want >= 0", c.BackoffFactor)
	case c.PoolMaxSize < 0:
		return nil, configErrorf("invalid PoolMaxSize %d: want > 0", c.PoolMaxSize)
	case c.Timeout < 0:
		return nil, configErrorf("invalid Timeout %s: want > 0", c.Timeout)
	}
	r.Retries = cmp.Or(r.Retries, DefaultRetries)
	r.BackoffFactor = cmp.Or(r.BackoffFactor, DefaultBackoffFactor)
	r.PoolMaxSize = cmp.Or(r.PoolMaxSize, DefaultPoolMaxSize)
	r.Timeout = cmp.Or(r.Timeout, DefaultTimeout)
	if r.Logger == nil {
		r.Logger = slog.Default()
	}
	return r, nil
}

// ErrInvalidConfig is matched by every error NewSession and
// Config.WithEnv return for a bad setting.
var ErrInvalidConfig = errors.New("lighter: invalid configuration")

type configError struct{ msg string }

func (e *configError) Error() string        { return "lighter: " + e.msg }
func (e *configError) Is(target error) bool { return target == ErrInvalidConfig }

func configErrorf(format string, args ...any) error {
	return &configError{msg: fmt.Sprintf(format, args...)}
}

// withSource adds src, where the setting came from, to a configError.
func withSource(err error, src string) error {
	var ce *configError
	if errors.As(err, &ce) {
		return &configError{msg: ce.msg + src}
	}
	return err
}
