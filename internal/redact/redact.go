package redact

import (
	"net/url"
	"strings"
)

// Mask replaces a secret.
const Mask = "xxxxx"

// String returns raw with its userinfo (user name and password) and the
// values of credential query parameters (see [IsSecretParam]) masked.
//
// It works on strings that do not parse as URLs, and it errs on the side
// of masking: a pasted password may hold '/', '?', '#' or '@' unescaped,
// so everything between "scheme://" and the last '@' that is followed by
// something shaped like a host is userinfo; a credential value runs up to
// the next "&name=" (a raw '#', '?' or '@' does not end it). A URL whose
// authority is empty ("sqlite:///a@b", "memory://?x=a@b") has no userinfo,
// so a path or a query value holding '@' is left as it is.
func String(raw string) string {
	spans := userinfoSpans(raw)
	spans = append(spans, valueSpans(raw)...)
	return apply(raw, spans)
}

// URL is String for a parsed URL, whose parts are known: its userinfo is
// masked, and the values of credential parameters in its query and
// fragment ("#access_token=..."); its path is kept as it is, '@' and all
// ("https://host:8443/users/@me"), where String, which cannot tell a path
// from a pasted password, would mask it. It is for URLs that are used as
// parsed (request URLs); for text a person wrote (a limiter URL, a
// setting), use String, which masks a password pasted unescaped.
func URL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	if c.User != nil {
		user := ""
		if c.User.Username() != "" {
			user = Mask
		}
		if _, ok := c.User.Password(); ok {
			c.User = url.UserPassword(user, Mask)
		} else {
			c.User = url.User(user)
		}
	}
	if c.RawQuery != "" {
		q := "?" + c.RawQuery
		c.RawQuery = apply(q, valueSpans(q))[1:]
	}
	frag := ""
	if c.Fragment != "" {
		frag = "#" + c.EscapedFragment()
		frag = apply(frag, valueSpans(frag))
	}
	c.Fragment, c.RawFragment = "", ""
	return c.String() + frag
}

// HasCredentials reports whether raw seems to carry userinfo or a
// credential parameter, so that a parser's error message, which may quote
// parts of it, should not be shown.
func HasCredentials(raw string) bool {
	return strings.Contains(raw, "@") || String(raw) != raw
}

// span is a secret at raw[start:end]; a userinfo span keeps the ':' that
// separates the user name from the password.
type span struct {
	start, end int
	userinfo   bool
}

// authorityStart is the index after "scheme://", after "scheme:" when no
// "//" follows (url.URL.String writes "memory:?x=y" for "memory://?x=y"),
// 2 for a scheme-relative "//host" (url.Parse reads its userinfo), or 0
// when raw has no scheme (then raw starts with what would be the
// authority).
func authorityStart(raw string) int {
	if strings.HasPrefix(raw, "//") {
		return 2
	}
	if i := strings.Index(raw, "://"); i >= 0 && !strings.ContainsAny(raw[:i], "/?#@") {
		return i + 3
	}
	if i := strings.IndexByte(raw, ':'); i > 0 && isScheme(raw[:i]) {
		return i + 1
	}
	return 0
}

// isScheme reports whether s is a URL scheme: a letter, then letters,
// digits, '+', '-' or '.'.
func isScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return s != ""
}

// userinfoSpans returns the userinfo of raw under both readings: the
// RFC 3986 one (the authority ends at the first '/', '?' or '#'; the
// userinfo at its last '@') and the one of a pasted password holding those
// characters (the userinfo ends at the last '@' followed by a host).
func userinfoSpans(raw string) []span {
	a := authorityStart(raw)
	if a == len(raw) || strings.IndexByte("/?#", raw[a]) >= 0 {
		return nil // empty authority: a path, query or fragment follows
	}
	var spans []span
	end := len(raw)
	if i := strings.IndexAny(raw[a:], "/?#"); i >= 0 {
		end = a + i
	}
	if at := strings.LastIndexByte(raw[a:end], '@'); at >= 0 {
		spans = append(spans, span{a, a + at, true})
	}
	for at := len(raw) - 1; at > a; at-- {
		if raw[at] == '@' && hostFollows(raw[at+1:]) {
			spans = append(spans, span{a, at, true})
			break
		}
	}
	return spans
}

// hostFollows reports whether s starts with a host (possibly empty, with
// an optional port or a comma list) ending the string or followed by '/',
// '?' or '#'.
func hostFollows(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '/' || c == '?' || c == '#':
			return true
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			strings.IndexByte(".-_:[],%~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// valueSpans returns the values of credential parameters: a name after
// '?', '&', ';' or '#', then '='; the value runs to the next "&name=" or
// the end.
func valueSpans(raw string) []span {
	var spans []span
	for i := 0; i < len(raw); i++ {
		if strings.IndexByte("?&;#", raw[i]) < 0 {
			continue
		}
		name, ok := anyParamName(raw[i+1:])
		if !ok || !IsSecretParam(name) {
			continue
		}
		start := i + 1 + len(name) + 1
		end := len(raw)
		for j := start; j < len(raw); j++ {
			if raw[j] == '&' {
				if _, ok := paramName(raw[j+1:]); ok {
					end = j
					break
				}
			}
		}
		spans = append(spans, span{start, end, false})
		i = end - 1
	}
	return spans
}

// paramName returns the raw name of the parameter s starts with, when s
// starts with a name and '='.
func paramName(s string) (string, bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '=':
			return s[:i], i > 0
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			strings.IndexByte("_-.%+", c) >= 0:
		default:
			return "", false
		}
	}
	return "", false
}

// anyParamName is paramName for any name url.ParseQuery reads, such as
// "pass word" or "pass?" (which IsSecretParam reads as credentials): the
// bytes up to '=' when none of them is '&'.
func anyParamName(s string) (string, bool) {
	i := strings.IndexAny(s, "=&")
	if i <= 0 || s[i] != '=' {
		return "", false
	}
	return s[:i], true
}

// secretWords are parts of parameter names that carry credentials, after
// lower-casing and dropping '_', '-' and '.'.
var secretWords = []string{
	"pass", "pwd", "secret", "token", "auth", "apikey", "accesskey", "privatekey",
	"credential", "signature", "session", "cookie", "bearer",
}

// IsSecretParam reports whether a query parameter of that name (raw or
// percent-encoded) carries a credential: password, token, api_key,
// sentinel_password, client_secret, X-Auth, key, ... .
func IsSecretParam(name string) bool {
	if n, err := url.QueryUnescape(name); err == nil {
		name = n
	}
	name = strings.Map(func(r rune) rune {
		if r == '_' || r == '-' || r == '.' || r == ' ' {
			return -1
		}
		return r
	}, strings.ToLower(name))
	if name == "key" || name == "sig" || name == "pw" {
		return true
	}
	for _, w := range secretWords {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// apply masks the union of spans in raw.
func apply(raw string, spans []span) string {
	if len(spans) == 0 {
		return raw
	}
	masked := make([]bool, len(raw))
	keepColon := -1 // the ':' of a userinfo with an empty user name
	for _, s := range spans {
		for i := s.start; i < s.end; i++ {
			masked[i] = true
		}
		if s.userinfo {
			if c := strings.IndexByte(raw[s.start:s.end], ':'); c >= 0 {
				keepColon = s.start + c
			}
		}
	}
	var b strings.Builder
	for i := 0; i < len(raw); {
		if !masked[i] || i == keepColon {
			b.WriteByte(raw[i])
			i++
			continue
		}
		b.WriteString(Mask)
		for i < len(raw) && masked[i] && i != keepColon {
			i++
		}
	}
	return b.String()
}
