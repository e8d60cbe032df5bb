package redis_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sharedlimit/sharedlimit/internal/redistest"
	"github.com/sharedlimit/sharedlimit/internal/testutil"
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
func captureLogs(t *testing.T) *testutil.LogBuffer {
	buf := &testutil.LogBuffer{}
	goredis.SetLogger(buf)
	t.Cleanup(func() { goredis.SetLogger(stderrLogger{}) })
	return buf
}

// stderrLogger is go-redis's log on stderr, as it is by default. It must
// not write to os.Stdout: go-redis dials in the background and may log
// after a test, while an example swaps os.Stdout (a data race).
type stderrLogger struct{}

// stderr is read once, so that no goroutine reads os.Stderr while a test
// could swap it.
var stderr io.Writer = os.Stderr

func (stderrLogger) Printf(_ context.Context, format string, v ...any) {
	fmt.Fprintf(stderr, "redis: "+format+"\n", v...)
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
	l, err := limiter.Open(ctx, "redis://:"+wrong+"@127.0.0.1:1/0?timeout=300ms&unavailable_after=0")
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
	l, err = limiter.Open(ctx, "redis://:"+wrong+"@"+srv.Addr()+"/0?timeout=1s&unavailable_after=0")
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
	l2, err := redis.New(c, redis.WithPolicy(limiter.Policy{UnavailableAfter: -1}))
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

// pol is the comparable part of a limiter.Policy.
type pol struct {
	mode  limiter.FailureMode
	share float64
	after time.Duration
}

// TestOpenTopologyURLs: the cluster and sentinel forms, the policy
// options, and their errors (which name the accepted options).
func TestOpenTopologyURLs(t *testing.T) {
	type want struct {
		kind   string // "cluster", "sentinel", "single"
		addrs  int    // cluster nodes
		db     int
		pw     string
		prefix string
		tls    bool
		policy pol
	}
	def := pol{after: limiter.DefaultUnavailableAfter, share: limiter.DefaultFallbackShare}
	tests := []struct {
		url     string
		want    want
		wantErr string
	}{
		{url: "redis+cluster://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002/?prefix=c:",
			want: want{kind: "cluster", addrs: 3, prefix: "c:", policy: def}},
		{url: "redis+cluster://:pw@h1:7000?addr=h2:7001&addr=[::1]:7002&read_only=true",
			want: want{kind: "cluster", addrs: 3, pw: "pw", policy: def}},
		{url: "rediss+cluster://h1:7000,h2:6379", want: want{kind: "cluster", addrs: 2, tls: true, policy: def}},
		{url: "redis+sentinel://:pw@s1:26379,s2:26379/mymaster/2?prefix=s:&on_failure=fallback&fallback_share=0.25",
			want: want{kind: "sentinel", db: 2, pw: "pw", prefix: "s:",
				policy: pol{limiter.FailFallback, 0.25, limiter.DefaultUnavailableAfter}}},
		{url: "redis+sentinel://s1/mymaster?unavailable_after=0&on_failure=wait",
			want: want{kind: "sentinel", policy: pol{limiter.FailWait, limiter.DefaultFallbackShare, -1}}},
		{url: "redis://h:1?on_failure=open&unavailable_after=5s",
			want: want{kind: "single", policy: pol{limiter.FailOpen, limiter.DefaultFallbackShare, 5 * time.Second}}},
		{url: "redis+cluster://h1:7000/0", wantErr: "takes no path"},
		{url: "redis+cluster://h1:7000?bogus=1", wantErr: "options: prefix, timeout, on_failure, fallback_share, unavailable_after, coalesce and those of go-redis's ParseClusterURL"},
		{url: "redis+sentinel://s1:26379?bogus=1", wantErr: "<master name>"},
		{url: "redis+sentinel://s1:26379/m?bogus=1", wantErr: "coalesce and those of go-redis's ParseFailoverURL"},
		{url: "redis+sentinel://s1:26379/m?password=x", wantErr: "credentials in the user info"},
		{url: "redis+sentinel://s1:26379/m/notadb", wantErr: "invalid database"},
		{url: "redis://h:1?on_failure=close", wantErr: "want wait, open or fallback"},
		{url: "redis://h:1?fallback_share=2", wantErr: "(0, 1]"},
		{url: "redis://h:1?unavailable_after=-1s", wantErr: "such as 30s"},
		{url: "redis://h:1?bogus=1", wantErr: "those of go-redis's ParseURL"},
	}
	for _, tc := range tests {
		l, err := limiter.Open(context.Background(), tc.url)
		if tc.wantErr != "" {
			if !errors.Is(err, limiter.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Open(%q): %v, want ErrInvalidArgument saying %q", tc.url, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("Open(%q): %v", tc.url, err)
			continue
		}
		rl := l.(*redis.Limiter)
		var got want
		got.prefix = rl.Prefix()
		switch c := rl.Client().(type) {
		case *goredis.ClusterClient:
			o := c.Options()
			got.kind, got.addrs, got.pw, got.tls = "cluster", len(o.Addrs), o.Password, o.TLSConfig != nil
			if !o.ContextTimeoutEnabled {
				t.Errorf("Open(%q): ContextTimeoutEnabled off", tc.url)
			}
		case *goredis.Client:
			o := c.Options()
			got.kind, got.db, got.pw, got.tls = "single", o.DB, o.Password, o.TLSConfig != nil
			if o.Addr == "FailoverClient" {
				got.kind = "sentinel"
			}
			if !o.ContextTimeoutEnabled {
				t.Errorf("Open(%q): ContextTimeoutEnabled off", tc.url)
			}
		}
		p := rl.Policy()
		got.policy = pol{p.OnFailure, p.FallbackShare, p.UnavailableAfter}
		if got != tc.want {
			t.Errorf("Open(%q):\n got %+v\nwant %+v", tc.url, got, tc.want)
		}
		if err := l.Close(); err != nil {
			t.Errorf("Close of %q: %v", tc.url, err)
		}
	}
}

// TestTopologyPasswordNeverShown: the cluster and sentinel forms keep the
// password out of errors too, malformed or unreachable.
func TestTopologyPasswordNeverShown(t *testing.T) {
	const pw = "Secret-Pass-5521"
	ctx := context.Background()
	for _, u := range []string{
		"redis+cluster://:" + pw + "@127.0.0.1:1,127.0.0.1:badport/",
		"redis+cluster://:" + pw + "@127.0.0.1:1/" + pw,
		"redis+cluster://:" + pw + "@127.0.0.1:1?bogus=" + pw,
		"redis+cluster://:" + pw + "@127.0.0.1:1?addr=" + pw,
		"redis+sentinel://:" + pw + "@127.0.0.1:1/m/" + pw,
		"redis+sentinel://:" + pw + "@127.0.0.1:1/m?timeout=" + pw,
		"redis+sentinel://:" + pw + "@127.0.0.1:1/m?on_failure=" + pw,
		"redis+sentinel://:" + pw + "@127.0.0.1:1/?x=1",
	} {
		if _, err := limiter.Open(ctx, u); err == nil || strings.Contains(err.Error(), pw) {
			t.Errorf("Open(%s): %v", limiter.Redact(u), err)
		}
	}
	for _, u := range []string{
		"redis+cluster://:" + pw + "@127.0.0.1:1,127.0.0.1:2/?timeout=200ms&unavailable_after=0",
		"redis+sentinel://:" + pw + "@127.0.0.1:1/mymaster?timeout=200ms&unavailable_after=0",
	} {
		l, err := limiter.Open(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for _, err := range everyCall(l) {
			if !errors.Is(err, limiter.ErrUnavailable) || strings.Contains(err.Error(), pw) {
				t.Errorf("%s: %v, want ErrUnavailable without the password", limiter.Redact(u), err)
			}
		}
		t.Logf("%s: %s", limiter.Redact(u), time.Since(start))
		l.Close()
	}
}

// Passwords given as query values never show in errors either.
func TestQueryPasswordNeverShown(t *testing.T) {
	for _, raw := range []string{
		"redis://127.0.0.1:1/0?password=hunter2&bogus=1",
		"redis+cluster://127.0.0.1:1,127.0.0.1:2?password=hunter2&bogus=1",
		"redis+sentinel://127.0.0.1:1/m?sentinel_password=hunter2&bogus=1",
		"redis+sentinel://127.0.0.1:1/m?password=hunter2",
	} {
		_, err := limiter.Open(context.Background(), raw)
		if err == nil {
			t.Errorf("Open(%q) accepted a bad option", raw)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%q): the error shows the password: %v", raw, err)
		}
	}
}
