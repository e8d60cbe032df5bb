package sqlite

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/urlopt"
	"github.com/sharedlimit/sharedlimit/limiter"
)

func init() { limiter.Register("sqlite", openURL) }

// defaultRel is the default file under the home folder, the original
// library's path.
const defaultRel = ".tradingstrategy/lighter/rate-limit.sqlite"

// DefaultPath is the file that "sqlite://" opens:
// ~/.tradingstrategy/lighter/rate-limit.sqlite, with ~ the current user's
// home folder. It fails when the home folder is unknown.
func DefaultPath() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("limiter: sqlite default path: %w", err)
	}
	return filepath.Join(home, defaultRel), nil
}

// URL query options.
const (
	optBusyTimeout     = "busy_timeout"
	optCleanupInterval = "cleanup_interval"
)

// openURL opens "sqlite://" (DefaultPath) or "sqlite:///abs/path", with
// the options busy_timeout and cleanup_interval as Go durations, and
// coalesce=false to turn coalescing off.
func openURL(ctx context.Context, u *url.URL) (limiter.Limiter, error) {
	if err := urlopt.Check(u, optBusyTimeout, optCleanupInterval, urlopt.Coalesce); err != nil {
		return nil, err
	}
	red := limiter.Redact(u.String())
	switch {
	case u.User != nil || u.Host != "":
		hint := " (a relative path is not accepted: the path must be absolute)"
		if strings.HasPrefix(u.Host, "~") {
			hint = " (~ is not expanded)"
		}
		return nil, fmt.Errorf("limiter: sqlite URL %q names a host %q%s: use \"sqlite://\" for the default path or \"sqlite:///abs/path\": %w",
			red, u.Host, hint, limiter.ErrInvalidArgument)
	case u.Opaque != "":
		return nil, fmt.Errorf("limiter: sqlite URL %q has a relative path %q: the path must be absolute, as in \"sqlite:///abs/path\": %w",
			red, u.Opaque, limiter.ErrInvalidArgument)
	}
	var opts []Option
	for _, o := range []struct {
		name string
		set  func(time.Duration) Option
	}{{optBusyTimeout, WithBusyTimeout}, {optCleanupInterval, WithCleanupInterval}} {
		v := u.Query().Get(o.name)
		if v == "" {
			continue
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("limiter: sqlite URL %q: option %s=%q must be a positive duration such as 5s: %w",
				red, o.name, v, limiter.ErrInvalidArgument)
		}
		opts = append(opts, o.set(d))
	}
	on, set, err := urlopt.Bool(red, u.Query(), urlopt.Coalesce)
	if err != nil {
		return nil, err
	}
	if set {
		opts = append(opts, WithCoalescing(on))
	}
	path := u.Path
	if path == "" {
		p, err := DefaultPath()
		if err != nil {
			return nil, err
		}
		path = p
	}
	l, err := New(ctx, path, opts...)
	if err != nil {
		return nil, err // not a nil *Limiter in a non-nil limiter.Limiter
	}
	return l, nil
}

// checkPath rejects paths that are not absolute; ~ is not expanded.
func checkPath(path string) error {
	switch {
	case path == "":
		return fmt.Errorf("limiter: sqlite: empty path: %w", limiter.ErrInvalidArgument)
	case strings.HasPrefix(path, "~"):
		return fmt.Errorf("limiter: sqlite: path %q is relative (~ is not expanded): use an absolute path: %w", path, limiter.ErrInvalidArgument)
	case !filepath.IsAbs(path):
		return fmt.Errorf("limiter: sqlite: path %q is relative: use an absolute path: %w", path, limiter.ErrInvalidArgument)
	}
	return nil
}
