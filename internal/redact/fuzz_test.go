package redact_test

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/redact"
	"github.com/sharedlimit/sharedlimit/limiter"
	_ "github.com/sharedlimit/sharedlimit/limiter/memory"
	_ "github.com/sharedlimit/sharedlimit/limiter/redis"
	_ "github.com/sharedlimit/sharedlimit/limiter/sqlite"
)

// fuzzSchemes are the URL forms the fuzz target puts secrets in: every
// backend, with stores that cannot be reached (127.0.0.1:1 refuses at
// once) and short timeouts, so that nothing waits.
var fuzzSchemes = []struct {
	scheme, host, path, opts string
}{
	{"memory", "", "", ""},
	{"sqlite", "", "/DIR/x.sqlite", "busy_timeout=1s"},
	{"redis", "127.0.0.1:1", "/0", "timeout=10ms&unavailable_after=0&max_retries=-1"},
	{"rediss", "127.0.0.1:1", "/0", "timeout=10ms&unavailable_after=0&max_retries=-1"},
	{"redis+cluster", "127.0.0.1:1", "", "timeout=10ms&unavailable_after=0&max_retries=-1"},
	{"redis+sentinel", "127.0.0.1:1", "/mymaster/0", "timeout=10ms&unavailable_after=0&max_retries=-1"},
}

// credentialParams are query options whose values are credentials.
var credentialParams = []string{"password", "token", "secret", "api_key", "sentinel_password", "access_token", "auth", "client_secret"}

// splitsQuery matches what a parser takes for the start of another
// option: a raw secret holding it cannot stay one value.
var splitsQuery = regexp.MustCompile(`&[A-Za-z0-9_.%+-]+=`)

// fuzzURL puts secret in credential position pos of a URL of form
// fuzzSchemes[scheme]; ok is false when that position cannot hold it raw
// (a user name starting with '/', '?' or '#' is a path, query or
// fragment; a raw "&name=" in a query value starts another option).
func fuzzURL(dir string, scheme, pos uint8, secret string) (raw string, ok bool) {
	s := fuzzSchemes[int(scheme)%len(fuzzSchemes)]
	path := strings.ReplaceAll(s.path, "/DIR", dir)
	build := func(userinfo, query string) string {
		u := s.scheme + "://"
		if userinfo != "" {
			u += userinfo + "@"
		}
		u += s.host + path
		q := s.opts // first: a raw '#' in a secret would cut them
		if query != "" {
			q = strings.Trim(q+"&"+query, "&")
		}
		if q != "" {
			u += "?" + q
		}
		return u
	}
	n := 6 + 4*len(credentialParams)
	switch p := int(pos) % n; p {
	case 0: // password, raw
		return build(":"+secret, ""), true
	case 1: // password, encoded as url.URL does
		return build(url.UserPassword("fuzzuser", secret).String(), ""), true
	case 2: // password, every byte %XX
		return build("fuzzuser:"+redact.PercentEncode(secret, false), ""), true
	case 3: // user name, raw
		return build(secret, ""), !strings.ContainsAny(secret[:1], "/?#")
	case 4: // user name, encoded
		return build(url.User(secret).String(), ""), true
	case 5: // user name and password
		return build(url.UserPassword(secret, secret).String(), ""), true
	default:
		k := credentialParams[(p-6)/4]
		switch (p - 6) % 4 {
		case 0: // raw, first
			return build("", k+"="+secret+"&prefix=p"), !splitsQuery.MatchString(secret)
		case 1: // raw, last
			return build("", "prefix=p&"+k+"="+secret), !splitsQuery.MatchString(secret)
		case 2: // query-escaped
			return build("", k+"="+url.QueryEscape(secret)+"&prefix=p"), true
		default: // every byte %XX
			return build("", k+"="+redact.PercentEncode(secret, true)), true
		}
	}
}

// secretForms are the forms of secret that must not come out.
func secretForms(secret string) []string {
	return []string{secret, url.QueryEscape(secret), url.PathEscape(secret), url.User(secret).String(),
		redact.PercentEncode(secret, false), redact.PercentEncode(secret, true)}
}

// exposed returns what raw shows through the redactor, limiter.Open's
// error and, when it opens, the error of a first call.
func exposed(t *testing.T, raw string) []string {
	out := []string{redact.String(raw)}
	// A raw '#' or '?' in a user name may cut the options with their
	// short timeouts: the context bounds the call.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	l, err := limiter.Open(ctx, raw)
	if err != nil {
		return append(out, err.Error())
	}
	defer l.Close()
	if _, err := l.AllowN(ctx, "k", limiter.PerSecond(1), 1); err != nil {
		out = append(out, err.Error())
	}
	return out
}

// FuzzRedact puts a secret of 8 or more bytes in every credential position
// of every backend's URL, raw and encoded, and checks that neither it nor
// an encoded form of it comes out of the redactor, limiter.Open's error or
// a first call's error. A form that the same URL shows with a harmless
// secret in its place (a secret such as "127.0.0.1") is not a leak.
func FuzzRedact(f *testing.F) {
	for _, s := range []string{"a@TopSecretPw", "pa/ss?wo#rd@x%zz", "s e+c=r&e;t"} {
		for pos := range uint8(6 + 4*len(credentialParams)) {
			f.Add(s, uint8(pos%uint8(len(fuzzSchemes))), pos)
		}
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, secret string, scheme, pos uint8) {
		if len(secret) < 8 {
			t.Skip("secrets of 8 bytes or more")
		}
		raw, ok := fuzzURL(dir, scheme, pos, secret)
		if !ok {
			t.Skip("this position cannot hold the secret raw")
		}
		harmless, _ := fuzzURL(dir, scheme, pos, "Q9z7Q9z7Q9z7")
		baseline := strings.Join(exposed(t, harmless), "\n")
		for _, shown := range exposed(t, raw) {
			for _, form := range secretForms(secret) {
				if strings.Contains(shown, form) && !strings.Contains(baseline, form) {
					t.Fatalf("secret %q (as %q) shows in %q\nURL %q", secret, form, shown, raw)
				}
			}
		}
	})
}

// FuzzOpen gives the redactor and limiter.Open any text: neither panics
// nor returns a nil pointer in a non-nil Limiter, and a password or
// credential value of 8 bytes or more that url.Parse finds in it shows in
// neither output. SQLite URLs are skipped (they would create files where
// the input says).
func FuzzOpen(f *testing.F) {
	for _, s := range []string{"memory://", "redis://:pw@h:1/0?x=1", "redis+sentinel://u:p@h:1/m/0", "rediss+cluster://h:1,h:2",
		"redis://h/0?password=a@b&c", "memory://?token=a%40TopSecretPw", "x://y", "redis://[::1", "redis://h:1/0#frag?password=p",
		"redis://:a@b/c?d#e@h:1/0?prefix=p"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		shown := []string{redact.String(raw)}
		_ = redact.HasCredentials(raw)
		_ = redact.Secrets(raw)
		u, perr := url.Parse(raw)
		if perr == nil {
			shown = append(shown, redact.URL(u))
			if strings.EqualFold(u.Scheme, "sqlite") {
				t.Skip("sqlite: would create files")
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		l, err := limiter.Open(ctx, raw)
		switch {
		case err == nil && l == nil:
			t.Fatalf("Open(%q) = nil, nil", raw)
		case err != nil && l != nil:
			t.Fatalf("Open(%q) = %#v and %v", raw, l, err)
		case err != nil:
			shown = append(shown, err.Error())
		default:
			l.Close()
		}
		if perr != nil {
			return
		}
		var secrets []string
		if p, ok := u.User.Password(); ok {
			secrets = append(secrets, p)
		}
		if q, err := url.ParseQuery(u.RawQuery); err == nil {
			for k, vs := range q {
				if redact.IsSecretParam(k) {
					secrets = append(secrets, vs...)
				}
			}
		}
		for _, s := range secrets {
			if len(s) < 8 || strings.Contains("xxxxx:xxxxx@", s) {
				continue
			}
			for _, out := range shown {
				if strings.Contains(out, s) && !strings.Contains(strings.ReplaceAll(raw, s, ""), s) {
					t.Fatalf("secret %q of %q shows in %q", s, raw, out)
				}
			}
		}
	})
}
