package limiter

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Opener opens a Limiter from a parsed URL. Backends register one per
// scheme. An Opener must reject query options it does not know (see
// [CheckOptions]) and must never put a password in an error.
type Opener func(ctx context.Context, u *url.URL) (Limiter, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]Opener{}
)

// Register makes a backend available to [Open] under a URL scheme, as
// database/sql drivers do. Backends call it from init. Registering a scheme
// twice, an empty scheme or a nil Opener panics.
func Register(scheme string, open Opener) {
	registryMu.Lock()
	defer registryMu.Unlock()
	scheme = strings.ToLower(scheme)
	if scheme == "" || open == nil {
		panic("limiter: Register with an empty scheme or a nil Opener")
	}
	if _, dup := registry[scheme]; dup {
		panic("limiter: Register called twice for scheme " + scheme)
	}
	registry[scheme] = open
}

// Schemes lists the registered URL schemes, sorted.
func Schemes() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	s := make([]string, 0, len(registry))
	for k := range registry {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

// Open opens a Limiter from a URL such as "memory://",
// "sqlite:///var/lib/app/rate-limit.sqlite" or "redis://:pw@host:6379/0".
// The backend's package must be imported (the lighter package imports all
// built-in ones). Errors never contain the URL's password.
func Open(ctx context.Context, rawURL string) (Limiter, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Parse errors quote the whole URL, password included.
		return nil, fmt.Errorf("limiter: malformed URL %q: %w", Redact(rawURL), ErrInvalidArgument)
	}
	if u.Scheme == "" {
		return nil, fmt.Errorf("limiter: URL %q has no scheme (registered: %s): %w",
			Redact(rawURL), strings.Join(Schemes(), ", "), ErrInvalidArgument)
	}
	registryMu.RLock()
	open := registry[strings.ToLower(u.Scheme)]
	registryMu.RUnlock()
	if open == nil {
		return nil, &unknownSchemeError{scheme: u.Scheme}
	}
	return open(ctx, u)
}

type unknownSchemeError struct{ scheme string }

func (e *unknownSchemeError) Error() string {
	return fmt.Sprintf("limiter: unknown scheme %q (forgotten import?)", e.scheme)
}

func (e *unknownSchemeError) Is(target error) bool { return target == ErrUnknownScheme }

// CheckOptions returns an error naming the first query option of u that is
// not in accepted, and listing the accepted ones; nil when all are known.
func CheckOptions(u *url.URL, accepted ...string) error {
	q := u.Query()
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
				k, Redact(u.String()), list, ErrInvalidArgument)
		}
	}
	return nil
}

// Redact returns rawURL with any password replaced by "xxxxx". It works on
// strings that do not parse as URLs too.
func Redact(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil {
		return u.Redacted()
	}
	// Mask everything between "scheme://" and the last "@" of the
	// authority, which is where a password would be.
	i := strings.Index(rawURL, "://")
	if i < 0 {
		if strings.Contains(rawURL, "@") {
			return "xxxxx"
		}
		return rawURL
	}
	rest := rawURL[i+3:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndex(rest[:end], "@")
	if at < 0 {
		return rawURL
	}
	user := rest[:at]
	if c := strings.Index(user, ":"); c >= 0 {
		user = user[:c+1] + "xxxxx"
	} else {
		user = "xxxxx"
	}
	return rawURL[:i+3] + user + rest[at:]
}
