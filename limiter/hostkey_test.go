package limiter_test

import (
	"net/http"
	"testing"

	"github.com/sharedlimit/sharedlimit/limiter"
)

// Every spelling of one host is one key, so one limit: a key per spelling
// would let each spelling have the whole rate.
func TestHostKeyOneKeyPerHost(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"https://api.example/x", "host:api.example"},
		{"https://API.Example/x", "host:api.example"},
		{"https://api.example:443/x", "host:api.example"},
		{"HTTPS://api.example:443/x", "host:api.example"},
		{"http://api.example:80/x", "host:api.example"},
		{"http://api.example:443/x", "host:api.example:443"},
		{"https://api.example:8443/x", "host:api.example:8443"},
		{"http://127.0.0.1:8080/x", "host:127.0.0.1:8080"},
		{"http://[::1]:8080/x", "host:[::1]:8080"},
		{"https://[::1]:443/x", "host:[::1]"},
	} {
		req, err := http.NewRequest(http.MethodGet, tc.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := limiter.HostKey(req); got != tc.want {
			t.Errorf("HostKey(%s) = %q, want %q", tc.url, got, tc.want)
		}
	}
}

// hostKeys fails t unless every URL of urls has the key want.
func hostKeys(t *testing.T, want string, urls ...string) {
	t.Helper()
	for _, u := range urls {
		req, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := limiter.HostKey(req); got != want {
			t.Errorf("HostKey(%s) = %q, want %q", u, got, want)
		}
	}
}

// A fully qualified name (its trailing dot) is the same host as without
// it: net/http dials and verifies both alike.
func TestHostKeyTrailingDot(t *testing.T) {
	hostKeys(t, "host:api.example", "https://api.example./x", "https://API.Example.:443/x")
	hostKeys(t, "host:api.example:8443", "https://api.example.:8443/x")
}

// A port with leading zeros is the same port: the dialer reads it as a
// number.
func TestHostKeyPortLeadingZeros(t *testing.T) {
	hostKeys(t, "host:api.example", "https://api.example:0443/x", "http://api.example:080/x")
	hostKeys(t, "host:api.example:8443", "https://api.example:08443/x")
}

// An IP address is one key whatever its spelling.
func TestHostKeyIPSpellings(t *testing.T) {
	hostKeys(t, "host:[::1]:8080", "http://[0:0:0:0:0:0:0:1]:8080/x", "http://[::0001]:8080/x")
	hostKeys(t, "host:[2001:db8::1]", "https://[2001:DB8:0::1]/x", "https://[2001:0db8::0001]:443/x")
	hostKeys(t, "host:127.0.0.1:8080", "http://[::ffff:127.0.0.1]:8080/x")
	hostKeys(t, "host:[fe80::1%eth0]", "https://[fe80::0001%25eth0]/x")
}

// A Unicode host is its IDNA (punycode) name, which net/http dials.
func TestHostKeyIDNA(t *testing.T) {
	hostKeys(t, "host:xn--bcher-kva.example", "https://bücher.example/x", "https://BÜCHER.example/x", "https://xn--bcher-kva.example/x")
}
