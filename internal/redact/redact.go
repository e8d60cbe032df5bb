package redact

import (
	"net/url"
	"strings"
)

// Mask replaces a secret.
const Mask = "xxxxx"

// secretParams are query parameters whose values are credentials.
var secretParams = map[string]bool{
	"password": true, "pass": true, "pwd": true, "secret": true,
	"token": true, "auth": true, "api_key": true, "apikey": true,
	"access_token": true, "sentinel_password": true,
}

// String returns raw with the password of its userinfo and the values of
// credential query parameters masked. It works on strings that do not parse
// as URLs: everything between "scheme://" and the last "@" is userinfo
// (a password may hold '/', '?' or '#'), and the user name is kept only
// when it is plain.
func String(raw string) string {
	out := raw
	if at := strings.LastIndex(raw, "@"); at >= 0 {
		start := strings.Index(raw, "://")
		if start < 0 || start > at {
			start = -3 // no scheme: the userinfo starts the string
		}
		userinfo := raw[start+3 : at]
		user, _, hasPass := strings.Cut(userinfo, ":")
		switch {
		case strings.ContainsAny(user, "/?#"):
			userinfo = Mask
		case hasPass:
			userinfo = user + ":" + Mask
		}
		out = raw[:start+3] + userinfo + raw[at:]
	}
	return maskQuery(out)
}

// URL is String for a parsed URL.
func URL(u *url.URL) string {
	if u == nil {
		return ""
	}
	return String(u.String())
}

// maskQuery masks the values of credential parameters in the query.
func maskQuery(s string) string {
	q := strings.IndexByte(s, '?')
	if q < 0 {
		return s
	}
	frag := ""
	query := s[q+1:]
	if h := strings.IndexByte(query, '#'); h >= 0 {
		query, frag = query[:h], query[h:]
	}
	parts := strings.Split(query, "&")
	for i, p := range parts {
		k, _, ok := strings.Cut(p, "=")
		if key, err := url.QueryUnescape(k); ok && err == nil && secretParams[strings.ToLower(key)] {
			parts[i] = k + "=" + Mask
		}
	}
	return s[:q+1] + strings.Join(parts, "&") + frag
}

// HasCredentials reports whether raw seems to carry userinfo or a
// credential parameter, so that a parser's error message, which may quote
// parts of it, should not be shown.
func HasCredentials(raw string) bool {
	return strings.Contains(raw, "@") || String(raw) != raw
}
