package limiter

import (
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/net/idna"
)

// HostKey is the default Transport key: one per API host, like the
// original's per-host bucket. It is [URLHostKey] of the request's URL.
func HostKey(req *http.Request) string { return URLHostKey(req.URL) }

// URLHostKey is the key of u's host: "host:" and the host in lower case,
// with its port unless it is the scheme's default (80 for http, 443 for
// https), so that every spelling of one host ("API.example",
// "api.example:443", "api.example.", an IP address in any of its forms,
// a Unicode name and its IDNA "xn--" name) shares one limit.
func URLHostKey(u *url.URL) string {
	h := strings.ToLower(u.Hostname())
	h = strings.TrimSuffix(h, ".") // "api.example." is "api.example"
	if a, err := netip.ParseAddr(h); err == nil {
		if a.Is4In6() && a.Zone() == "" {
			a = a.Unmap() // "::ffff:127.0.0.1" is 127.0.0.1 to the dialer
		}
		h = a.String() // "0:0::0001" is "::1"
	} else if a, err := idna.Lookup.ToASCII(h); err == nil && !isASCII(h) {
		h = a // "bücher.example" is "xn--bcher-kva.example", as net/http dials it
	}
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	p := u.Port()
	if n, err := strconv.ParseUint(p, 10, 16); err == nil {
		p = strconv.FormatUint(n, 10) // "0443" is port 443, as the dialer reads it
	}
	if p != "" && p != defaultPort(u.Scheme) {
		h += ":" + p
	}
	return "host:" + h
}

// isASCII reports whether s is all ASCII.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// defaultPort is the port a URL of scheme goes to when it names none.
func defaultPort(scheme string) string {
	switch strings.ToLower(scheme) {
	case "http":
		return "80"
	case "https":
		return "443"
	}
	return ""
}
