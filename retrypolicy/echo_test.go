package retrypolicy

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestErrorBodyMasksRequestSecrets: a server whose error page echoes the
// request (its query, its Authorization from the userinfo) does not put
// the URL's credentials into the Error (issue 13 review: the excerpt of
// Error.Body showed the api_key the URL masks).
func TestErrorBodyMasksRequestSecrets(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(503)
		user, pass, _ := r.BasicAuth()
		w.Write([]byte("busy: " + r.URL.RequestURI() + " user " + user + " pass " + pass))
	}))
	defer srv.Close()
	sl := &sleeps{}
	cfg := quiet(sl)
	cfg.Retries = 1
	c := newClient(t, nil, cfg)
	u := strings.Replace(srv.URL, "http://", "http://TheUserName9:ThePassword9@", 1) + "/x?api_key=TheApiKey99&sentinel_password=a%40Sentinel9&n=1"
	_, err := c.Get(u)
	var re *Error
	if !errors.As(err, &re) {
		t.Fatalf("error %v, want an *Error", err)
	}
	for _, secret := range []string{"TheUserName9", "ThePassword9", "TheApiKey99", "Sentinel9"} {
		// The *url.Error of http.Client around it is net/http's.
		if strings.Contains(re.Error(), secret) || strings.Contains(string(re.Body), secret) {
			t.Errorf("secret %q in %q", secret, re)
		}
	}
	if !strings.Contains(string(re.Body), "busy: /x?api_key=xxxxx") || !strings.Contains(string(re.Body), "n=1") {
		t.Errorf("body %q: want the page with the secrets masked", re.Body)
	}
}
