package limiter_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/sharedlimit/sharedlimit/limiter"
	_ "github.com/sharedlimit/sharedlimit/limiter/memory"
)

func TestOpen(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		url     string
		wantErr error  // nil: opens
		wantSub string // in the message
	}{
		{"memory://", nil, ""},
		{"nosuch://x", limiter.ErrUnknownScheme, `limiter: unknown scheme "nosuch" (forgotten import?)`},
		{"memory://?bogus=1", limiter.ErrInvalidArgument, `unknown option "bogus"`},
		{"memory://host", limiter.ErrInvalidArgument, "takes no host"},
		{"no-scheme-at-all", limiter.ErrInvalidArgument, "has no scheme (registered: memory"},
		{"redis://:hunter2@host:6379/0\x7f", limiter.ErrInvalidArgument, "malformed URL"},
		{"redis://:hun/ter2@host:6379/0", limiter.ErrInvalidArgument, "the reason is not shown"},
		{"redis://:hunter2#x@host:6379/0", limiter.ErrInvalidArgument, "malformed URL"},
		{"redis://host:notaport/0", limiter.ErrInvalidArgument, `invalid port ":notaport"`},
		{"memory://?x=%zz", limiter.ErrInvalidArgument, "malformed options"},
		// A scheme-relative URL has an authority too (issue 13 review:
		// its password was shown).
		{"//:hunter2@host:6379/0", limiter.ErrInvalidArgument, `"//:xxxxx@host:6379/0" has no scheme`},
		{"//user:hunter2@host/0?token=tok", limiter.ErrInvalidArgument, `"//xxxxx:xxxxx@host/0?token=xxxxx" has no scheme`},
	}
	for _, tt := range tests {
		l, err := limiter.Open(ctx, tt.url)
		if tt.wantErr == nil {
			if err != nil {
				t.Errorf("Open(%q): %v", tt.url, err)
			} else {
				l.Close()
			}
			continue
		}
		if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantSub) {
			t.Errorf("Open(%q): err = %v, want %v containing %q", tt.url, err, tt.wantErr, tt.wantSub)
		}
		if err != nil && (strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "hun/ter2") || strings.Contains(err.Error(), "ter2")) {
			t.Errorf("Open(%q): the error shows the password: %v", tt.url, err)
		}
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"redis://:pw@host:6379/0", "redis://:xxxxx@host:6379/0"},
		{"redis://user:pw@host/0", "redis://xxxxx:xxxxx@host/0"},
		{"sqlite:///var/lib/x.sqlite", "sqlite:///var/lib/x.sqlite"},
		// Does not parse (control byte): masked by hand.
		{"redis://:p%zz@host:6379/0", "redis://:xxxxx@host:6379/0"},
		{"redis://user:s3cret@host/0\x7f", "redis://xxxxx:xxxxx@host/0\x7f"},
		{"redis://justuser@host\x7f", "redis://xxxxx@host\x7f"}, // a user name may be a token
		{"redis://:pa/ss@host:6379/0", "redis://:xxxxx@host:6379/0"},
		{"redis://:pa#ss@host:6379/0", "redis://:xxxxx@host:6379/0"},
		{"redis://u:123/ss@host", "redis://xxxxx:xxxxx@host"},
		{"redis://host:6379/0?password=s3cret", "redis://host:6379/0?password=xxxxx"},
		{"memory://", "memory://"},
	}
	for _, tt := range tests {
		if got := limiter.Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRegisterPanics(t *testing.T) {
	open := func(context.Context, *url.URL) (limiter.Limiter, error) { return nil, nil }
	for _, tc := range []struct {
		name   string
		scheme string
		open   limiter.Opener
	}{
		{"duplicate", "memory", open},
		{"empty scheme", "", open},
		{"nil opener", "fresh-scheme", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%q) did not panic", tc.scheme)
				}
			}()
			limiter.Register(tc.scheme, tc.open)
		})
	}
	found := false
	for _, s := range limiter.Schemes() {
		found = found || s == "memory"
	}
	if !found {
		t.Errorf("Schemes() = %v, want memory listed", limiter.Schemes())
	}
}
