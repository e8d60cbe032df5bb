package redact_test

import (
	"context"
	"net/url"
	"path/filepath"
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
// error and, when it opens, the error of a first call. raw is opened only when it stays local (see localOnly): a raw '/' in a
// user name makes the rest of it a path, and what comes before it the
// host.
func exposed(t *testing.T, dir, raw string) []string {
	out := []string{redact.String(raw)}
	if u, err := url.Parse(raw); err == nil && localOnly(u, dir) != "" {
		return out
	}
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
		baseline := strings.Join(exposed(t, dir, harmless), "\n")
		for _, shown := range exposed(t, dir, raw) {
			for _, form := range secretForms(secret) {
				if strings.Contains(shown, form) && !strings.Contains(baseline, form) {
					t.Fatalf("secret %q (as %q) shows in %q\nURL %q", secret, form, shown, raw)
				}
			}
		}
	})
}

// openSeeds are FuzzOpen's seeds: at least one per registered scheme
// (TestOpenSeedsCoverEverySchemeURL checks it), with "/DIR/" standing for
// the fuzz run's temporary folder.
var openSeeds = []string{
	"memory://", "memory://?token=a%40TopSecretPw", "MEMORY://",
	"sqlite:///DIR/a.sqlite", "sqlite:///DIR/a.sqlite?busy_timeout=1s&cleanup_interval=1h", "sqlite://u:TopSecretPw@/DIR/a.sqlite",
	"sqlite:///DIR/a.sqlite?password=TopSecretPw", "sqlite:DIR/rel", "sqlite://host/DIR/a", "sqlite:///DIR/a?busy_timeout=-1s",
	"redis://:TopSecretPw@127.0.0.1:1/0?timeout=10ms", "redis://127.0.0.1:1/0?password=a@b&c", "redis://127.0.0.1:1/0?on_failure=open&fallback_share=0.5",
	"rediss://u:TopSecretPw@127.0.0.1:1/15?prefix=p", "redis://127.0.0.1:1/99x", "redis://127.0.0.1:1/0?min_idle_conns=1",
	"redis+cluster://:TopSecretPw@127.0.0.1:1,127.0.0.1:1?timeout=10ms", "rediss+cluster://127.0.0.1:1?addr=127.0.0.1:1",
	"redis+sentinel://u:TopSecretPw@127.0.0.1:1/mymaster/0", "rediss+sentinel://127.0.0.1:1,127.0.0.1:1/m", "redis+sentinel://127.0.0.1:1/m?password=TopSecretPw",
	"redis://:pw@h:1/0?x=1", "redis+sentinel://u:p@h:1/m/0", "rediss+cluster://h:1,h:2",
	"redis://h/0?password=a@b&c", "x://y", "redis://[::1", "redis://h:1/0#frag?password=p",
	"redis://:a@b/c?d#e@h:1/0?prefix=p",
}

// TestOpenSeedsCoverEverySchemeURL fails when a scheme is registered that
// FuzzOpen has no seed for.
func TestOpenSeedsCoverEverySchemeURL(t *testing.T) {
	for _, s := range limiter.Schemes() {
		found := false
		for _, seed := range openSeeds {
			found = found || strings.HasPrefix(strings.ToLower(seed), s+"://")
		}
		if !found {
			t.Errorf("FuzzOpen has no seed for the registered scheme %q", s)
		}
	}
}

// localOnly reports why Open of u could reach outside the test: a Redis
// address other than 127.0.0.1:1 (go-redis dials at once for options such
// as min_idle_conns; an empty host is localhost:6379), or a SQLite file
// outside dir (an empty path is the user's default file). "" means Open
// may go ahead: it creates files only in dir and dials only 127.0.0.1:1,
// which refuses at once.
func localOnly(u *url.URL, dir string) string {
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme == "sqlite":
		if u.Host != "" || u.User != nil || u.Opaque != "" {
			return "" // refused before any file is touched
		}
		if p := filepath.Clean(u.Path); !strings.HasPrefix(p, dir+string(filepath.Separator)) {
			return "sqlite file outside the test's folder"
		}
	case strings.HasPrefix(scheme, "redis"):
		addrs := strings.Split(u.Host, ",")
		if q, err := url.ParseQuery(u.RawQuery); err == nil {
			addrs = append(addrs, q["addr"]...)
			addrs = append(addrs, q["Addr"]...)
		} else {
			return "a query that go-redis may read otherwise"
		}
		for _, a := range addrs {
			if a != "127.0.0.1:1" {
				return "redis address " + a
			}
		}
	}
	return ""
}

// FuzzOpen gives the redactor and limiter.Open any text, "/DIR/" in it
// standing for a temporary folder: neither panics nor returns a nil
// pointer in a non-nil Limiter, and a password or credential value of 8
// bytes or more that url.Parse finds in it shows in neither output. Open
// runs only on URLs that create files in that folder and dial only
// 127.0.0.1:1 (see localOnly); the redactor sees every input.
//
// A URL that opens round-trips, in three senses: its normal form
// (url.Parse then String, as a caller building it with url.URL writes it)
// opens too; its redacted form, which errors and logs show, is the same
// URL (same scheme, host, path and option names) with the credentials
// masked, and opens too with the masks as credentials, so that what a log
// shows is a working URL once the real password is put back (unless an
// '@' follows its authority: the redactor then also reads the URL as one
// whose password holds '/', '?' or '#', as a pasted password may, and
// masks up to that '@', host included: "redis://127.0.0.1:1#@" shows as
// "redis://xxxxx:xxxxx@"); and redacting it again changes nothing.
func FuzzOpen(f *testing.F) {
	for _, s := range openSeeds {
		f.Add(s)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, raw string) {
		raw = strings.ReplaceAll(raw, "/DIR/", dir+"/")
		shown := []string{redact.String(raw)}
		_ = redact.HasCredentials(raw)
		_ = redact.Secrets(raw)
		u, perr := url.Parse(raw)
		if perr == nil {
			shown = append(shown, redact.URL(u))
			if why := localOnly(u, dir); why != "" {
				t.Skip(why)
			}
		}
		l, err := open(raw)
		switch {
		case err == nil && l == nil:
			t.Fatalf("Open(%q) = nil, nil", raw)
		case err != nil && l != nil:
			t.Fatalf("Open(%q) = %#v and %v", raw, l, err)
		case err != nil:
			shown = append(shown, err.Error())
		default:
			l.Close()
			roundTrip(t, raw, u, dir)
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
			if len(s) < 8 || strings.Contains("xxxxx:xxxxx@", s) || shownElsewhere(u, s) {
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

// shownElsewhere reports whether s is also in a part of u that is no
// credential (scheme, host, path, fragment, a name or a value of another
// option), or in u with its credentials masked, which an output may show:
// "//:00000000@00000000" has the host of its password, and
// "//:@0000000@0000000" the '@' and host of "//xxxxx:xxxxx@0000000".
func shownElsewhere(u *url.URL, s string) bool {
	masked := *u
	if masked.User != nil {
		masked.User = url.UserPassword("xxxxx", "xxxxx")
	}
	parts := []string{u.Scheme, u.Host, u.Path, u.RawPath, u.Opaque, u.Fragment, u.RawFragment, u.RawQuery}
	if q, err := url.ParseQuery(u.RawQuery); err == nil {
		parts = parts[:len(parts)-1]
		for k, vs := range q {
			parts = append(parts, k)
			if !redact.IsSecretParam(k) {
				parts = append(parts, vs...)
			} else {
				q[k] = []string{"xxxxx"}
			}
		}
		masked.RawQuery = q.Encode()
		parts = append(parts, masked.String())
	}
	for _, p := range parts {
		if strings.Contains(p, s) {
			return true
		}
	}
	return false
}

// open is limiter.Open within 5 s: no backend dials in Open, and SQLite
// on a loaded machine may take more than a fraction of a second to
// create its file (a hang still fails).
func open(raw string) (limiter.Limiter, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return limiter.Open(ctx, raw)
}

// roundTrip checks the three round trips of FuzzOpen for raw, which
// opened.
func roundTrip(t *testing.T, raw string, u *url.URL, dir string) {
	t.Helper()
	forms := []struct{ name, raw string }{{"normal", u.String()}}
	if !atAfterAuthority(raw) {
		forms = append(forms, struct{ name, raw string }{"redacted", redact.String(raw)})
	}
	for _, form := range forms {
		v, err := url.Parse(form.raw)
		if err != nil {
			t.Fatalf("the %s form %q of %q, which opens, does not parse: %v", form.name, form.raw, raw, err)
		}
		if !strings.EqualFold(v.Scheme, u.Scheme) || v.Host != u.Host || v.Path != u.Path || v.Opaque != u.Opaque ||
			!sameKeys(v.Query(), u.Query()) || (v.User == nil) != (u.User == nil) {
			t.Fatalf("the %s form %q of %q, which opens, is another URL", form.name, form.raw, raw)
		}
		if why := localOnly(v, dir); why != "" {
			t.Fatalf("the %s form %q of %q, which opens, is not local: %s", form.name, form.raw, raw, why)
		}
		l, err := open(form.raw)
		if err != nil {
			t.Fatalf("the %s form %q of %q, which opens, does not: %v", form.name, form.raw, raw, err)
		}
		l.Close()
	}
	if once := redact.String(raw); redact.String(once) != once {
		t.Fatalf("redacting %q twice gives %q, once %q", raw, redact.String(once), once)
	}
}

// atAfterAuthority reports whether raw holds an '@' after its authority
// (the text after "//" up to the first '/', '?' or '#'), or any '@' when
// it has no authority.
func atAfterAuthority(raw string) bool {
	_, rest, ok := strings.Cut(raw, "//")
	if !ok {
		return strings.Contains(raw, "@")
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		return strings.Contains(rest[i:], "@")
	}
	return false
}

// sameKeys reports whether a and b have the same option names, with as
// many values each.
func sameKeys(a, b url.Values) bool {
	if len(a) != len(b) {
		return false
	}
	for k, vs := range a {
		if len(b[k]) != len(vs) {
			return false
		}
	}
	return true
}
