package limiter_test

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/sharedlimit/sharedlimit/limiter"
	_ "github.com/sharedlimit/sharedlimit/limiter/memory"
	_ "github.com/sharedlimit/sharedlimit/limiter/redis"
	"github.com/sharedlimit/sharedlimit/limiter/sqlite"
)

// TestOpenFailsWithNilLimiter runs every backend's failing URLs: each
// gives an error and a Limiter that is nil as an interface, not an
// interface holding a nil pointer whose Close panics (issue 13).
func TestOpenFailsWithNilLimiter(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.sqlite")
	if err := os.WriteFile(junk, []byte("not a database, not at all, just junk bytes......"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{
		"", "::", "nosuch://x", "no-scheme",
		"memory://host", "memory://?bogus=1", "memory://:pw@", "memory:///path", "memory:opaque",
		"sqlite:///", "sqlite:///proc/x.sqlite", "sqlite://" + dir, "sqlite://" + junk,
		"sqlite://relative/x.sqlite", "sqlite:relative.sqlite", "sqlite://~/x.sqlite", "sqlite://?bogus=1",
		"sqlite://" + dir + "/x.sqlite?busy_timeout=-1s", "sqlite://:pw@/" + dir + "/x.sqlite",
		"redis://127.0.0.1:1/0?timeout=-1s", "redis://127.0.0.1:1/0?bogus=1", "redis://127.0.0.1:1/notadb",
		"redis://127.0.0.1:1/0?on_failure=maybe", "rediss://127.0.0.1:1/0?fallback_share=2",
		"redis+cluster://127.0.0.1:1/5", "redis+cluster://", "redis+sentinel://127.0.0.1:1",
		"redis+sentinel://127.0.0.1:1/m/0?password=x", "rediss+sentinel://127.0.0.1:1/m/0/extra",
	} {
		l, err := limiter.Open(context.Background(), raw)
		if err == nil || l != nil {
			t.Errorf("Open(%q) = %#v, %v; want nil (as an interface) and an error", raw, l, err)
			if l != nil && err == nil {
				l.Close()
			}
		}
	}
}

// registerTypedNil registers the scheme once per test binary (-count=N
// runs the test N times; a second Register panics).
var registerTypedNil sync.Once

// TestOpenRefusesTypedNil: an opener that returns a nil pointer in a
// non-nil Limiter does not reach the caller.
func TestOpenRefusesTypedNil(t *testing.T) {
	registerTypedNil.Do(func() {
		limiter.Register("typednil-test", func(context.Context, *url.URL) (limiter.Limiter, error) {
			var l *sqlite.Limiter
			return l, nil
		})
	})
	l, err := limiter.Open(context.Background(), "typednil-test://")
	if err == nil || l != nil {
		t.Fatalf("Open() = %#v, %v; want nil and an error", l, err)
	}
}
