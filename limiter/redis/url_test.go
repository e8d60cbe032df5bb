package redis_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sharedlimit/sharedlimit/internal/redistest"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/redis"
)

func TestOpenURL(t *testing.T) {
	tests := []struct {
		url     string
		wantErr error
		prefix  string
		tls     bool
	}{
		{url: "redis://127.0.0.1:6390/0"},
		{url: "redis://:pw@127.0.0.1:6390/2?prefix=app:", prefix: "app:"},
		{url: "redis://127.0.0.1:6390?prefix=a%2Fb&timeout=250ms&dial_timeout=1s&pool_size=4", prefix: "a/b"},
		{url: "rediss://user:pw@127.0.0.1:6390/0?prefix=t:", prefix: "t:", tls: true},
		{url: "redis://127.0.0.1:6390?bogus=1", wantErr: limiter.ErrInvalidArgument},
		{url: "redis://127.0.0.1:6390?timeout=soon", wantErr: limiter.ErrInvalidArgument},
		{url: "redis://127.0.0.1:6390?timeout=-1s", wantErr: limiter.ErrInvalidArgument},
		{url: "redis://127.0.0.1:6390/notadb", wantErr: limiter.ErrInvalidArgument},
		{url: "redis://127.0.0.1:6390?dial_timeout=x", wantErr: limiter.ErrInvalidArgument},
	}
	for _, tc := range tests {
		l, err := limiter.Open(context.Background(), tc.url)
		if tc.wantErr != nil {
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("Open(%q): err = %v, want %v", tc.url, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("Open(%q): %v", tc.url, err)
			continue
		}
		rl := l.(*redis.Limiter)
		if rl.Prefix() != tc.prefix {
			t.Errorf("Open(%q): prefix %q, want %q", tc.url, rl.Prefix(), tc.prefix)
		}
		opts := rl.Client().(*goredis.Client).Options()
		if (opts.TLSConfig != nil) != tc.tls {
			t.Errorf("Open(%q): TLS %v, want %v", tc.url, opts.TLSConfig != nil, tc.tls)
		}
		if !opts.ContextTimeoutEnabled {
			t.Errorf("Open(%q): ContextTimeoutEnabled is off: the per-call timeout would not reach the socket", tc.url)
		}
		if err := l.Close(); err != nil {
			t.Errorf("Close of %q: %v", tc.url, err)
		}
	}
}

// TestCloseOwnership: a Limiter opened from a URL closes its client; one
// given a client leaves it open.
func TestCloseOwnership(t *testing.T) {
	m := startMini(t)
	l, err := limiter.Open(context.Background(), "redis://"+m.Addr())
	if err != nil {
		t.Fatal(err)
	}
	owned := l.(*redis.Limiter).Client()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := owned.Ping(context.Background()).Err(); !errors.Is(err, goredis.ErrClosed) {
		t.Errorf("the client of a Limiter opened from a URL is still open after Close: %v", err)
	}
	c := client(t, m.Addr())
	l2, err := redis.New(c)
	if err != nil {
		t.Fatal(err)
	}
	l2.Close()
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Errorf("Close closed the caller's client: %v", err)
	}
}

// captureLogs sends go-redis's log to a buffer for the rest of the test.
func captureLogs(t *testing.T) *lockedBuffer {
	buf := &lockedBuffer{}
	goredis.SetLogger(buf)
	t.Cleanup(func() { goredis.SetLogger(stderrLogger{}) })
	return buf
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Printf(_ context.Context, format string, v ...any) {
	b.mu.Lock()
	fmt.Fprintf(&b.buf, format+"\n", v...)
	b.mu.Unlock()
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type stderrLogger struct{}

func (stderrLogger) Printf(_ context.Context, format string, v ...any) {
	fmt.Printf("redis: "+format+"\n", v...)
}

// everyCall runs each Limiter call once and returns the errors.
func everyCall(l limiter.Limiter) []error {
	ctx := context.Background()
	lim := limiter.PerSecond(10)
	_, e1 := l.AllowN(ctx, "k", lim, 1)
	_, e2 := l.ReserveN(ctx, "k", lim, 1, time.Second)
	e3 := l.Hold(ctx, "k", lim, time.Second)
	_, e4 := l.Status(ctx, "k", lim)
	e5 := l.Reset(ctx, "k")
	return []error{e1, e2, e3, e4, e5}
}

// TestPasswordNeverShown: neither errors nor go-redis's log show a password:
// malformed URLs, an unreachable server, and a real server refusing a wrong
// password.
func TestPasswordNeverShown(t *testing.T) {
	const right, wrong = "Right-Pass-7731", "Wrong-Pass-4419"
	logs := captureLogs(t)
	check := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: no error", what)
			return
		}
		for _, pw := range []string{right, wrong} {
			if strings.Contains(err.Error(), pw) {
				t.Errorf("%s: the error shows the password: %v", what, err)
			}
		}
	}
	ctx := context.Background()
	for _, u := range []string{
		"redis://:" + wrong + "@127.0.0.1:badport/0",
		"redis://:" + wrong + "@127.0.0.1:1/0?bogus=" + wrong,
		"redis://:" + wrong + "@127.0.0.1:1/" + wrong,
		"redis://user:" + wrong + "@127.0.0.1:1/0?timeout=" + wrong,
		"rediss://:" + wrong + "@[::1:1/0",
	} {
		_, err := limiter.Open(ctx, u)
		check("Open("+limiter.Redact(u)+")", err)
	}

	// Nothing listens on port 1.
	l, err := limiter.Open(ctx, "redis://:"+wrong+"@127.0.0.1:1/0?timeout=300ms")
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range everyCall(l) {
		check("unreachable server", err)
		if !errors.Is(err, limiter.ErrUnavailable) {
			t.Errorf("unreachable server: %v, want ErrUnavailable", err)
		}
	}
	l.Close()

	srv := redistest.Start(t, redistest.Config{Password: right})
	l, err = limiter.Open(ctx, "redis://:"+wrong+"@"+srv.Addr()+"/0?timeout=1s")
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range everyCall(l) {
		check("wrong password", err)
		if !errors.Is(err, limiter.ErrUnavailable) {
			t.Errorf("wrong password: %v, want ErrUnavailable", err)
		}
	}
	t.Logf("a wrong password gives: %v", everyCall(l)[0])
	l.Close()
	// The same with a client passed in.
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr(), Password: wrong, ContextTimeoutEnabled: true})
	defer c.Close()
	l2, err := redis.New(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range everyCall(l2) {
		check("wrong password, client passed in", err)
	}
	l2.Close()
	// The right one works.
	l, err = limiter.Open(ctx, srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	for i, err := range everyCall(l) {
		if err != nil {
			t.Errorf("call %d with the right password: %v", i, err)
		}
	}
	l.Close()
	if out := logs.String(); strings.Contains(out, right) || strings.Contains(out, wrong) {
		t.Errorf("go-redis's log shows a password:\n%s", out)
	}
}
