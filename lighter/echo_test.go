package lighter_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/sharedlimit/sharedlimit/lighter"
)

// TestEchoedSecretsMasked: a server that echoes the request in its error
// page, its API message or a body that is not JSON does not put the
// URL's credentials into the Session's errors, retried or not (issue 13
// review: StatusError.Body and APIError.Message showed the auth token the
// URL masks).
func TestEchoedSecretsMasked(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		echo := r.URL.RequestURI()
		switch r.URL.Path {
		case "/api/v1/status":
			w.WriteHeader(400)
			w.Write([]byte("bad request " + echo))
		case "/api/v1/code":
			w.Write([]byte(`{"code":21100,"message":"invalid auth in ` + strings.ReplaceAll(echo, `"`, "") + `"}`))
		default:
			w.Write([]byte("<html>" + echo))
		}
	}))
	defer srv.Close()
	for _, retries := range []int{lighter.NoRetries, 1} {
		s := newSession(t, lighter.Config{APIURL: srv.URL, RateLimitURL: "memory://", RequestsPerSecond: 1000,
			Retries: retries, BackoffFactor: 0.0001})
		for _, path := range []string{"/api/v1/status", "/api/v1/code", "/api/v1/html"} {
			err := s.GetJSON(context.Background(), path, url.Values{"auth": {"TheAuthToken9"}, "by": {"index"}}, &struct{}{})
			if err == nil {
				t.Fatalf("%s: no error", path)
			}
			if strings.Contains(err.Error(), "TheAuthToken9") {
				t.Errorf("retries %d, %s: the token shows in %q", retries, path, err)
			}
			if !strings.Contains(err.Error(), "auth=xxxxx") {
				t.Errorf("retries %d, %s: %q, want the echo with the token masked", retries, path, err)
			}
		}
	}
}
