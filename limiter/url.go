package limiter

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/sharedlimit/sharedlimit/internal/redact"
)

// Opener opens a Limiter from a parsed URL. Backends register one per
// scheme. An Opener must reject query options it does not know (see
// internal/urlopt) and must never put a password in an error.
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
		return nil, malformed(rawURL, err)
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
	l, err := open(ctx, u)
	if err != nil {
		if l != nil && !isNil(l) {
			l.Close()
		}
		// The opener masks what it knows; this catches what a
		// library under it quoted.
		return nil, redact.Error(err, redact.Secrets(rawURL))
	}
	if isNil(l) {
		return nil, fmt.Errorf("limiter: the %s opener returned no Limiter and no error for %q: %w",
			u.Scheme, Redact(rawURL), ErrInvalidArgument)
	}
	return l, nil
}

// isNil reports whether l is nil or an interface holding a nil pointer,
// which would panic on its first call.
func isNil(l Limiter) bool {
	if l == nil {
		return true
	}
	v := reflect.ValueOf(l)
	switch v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan, reflect.Interface:
		return v.IsNil()
	}
	return false
}

// malformed is the error for a URL that does not parse. url.Parse errors
// quote the URL, password included, and may quote a piece of a password
// that holds '/' (as an "invalid port"): the reason is shown only when the
// URL carries no credentials.
func malformed(rawURL string, err error) error {
	reason := "the reason is not shown, as the URL carries credentials"
	var ue *url.Error
	if errors.As(err, &ue) && !redact.HasCredentials(rawURL) {
		reason = ue.Err.Error()
	}
	return fmt.Errorf("limiter: malformed URL %q (%s); want scheme://... with a registered scheme (%s): %w",
		Redact(rawURL), reason, strings.Join(Schemes(), ", "), ErrInvalidArgument)
}

type unknownSchemeError struct{ scheme string }

func (e *unknownSchemeError) Error() string {
	return fmt.Sprintf("limiter: unknown scheme %q (forgotten import?)", e.scheme)
}

func (e *unknownSchemeError) Is(target error) bool { return target == ErrUnknownScheme }

// Redact returns rawURL with its user name and password replaced by
// "xxxxx", and the values of credential query parameters (password, token,
// secret, api_key, ...) masked. It works on strings that do not parse as
// URLs too, and on passwords holding '/', '?', '#' or '@'; a path or query
// value holding '@' is kept as it is.
func Redact(rawURL string) string { return redact.String(rawURL) }
