package testutil_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sharedlimit/sharedlimit/internal/testutil"
)

func TestBodyCounterCountsOpenBodies(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	}))
	defer srv.Close()
	c := &testutil.BodyCounter{Next: srv.Client().Transport}
	resp, err := (&http.Client{Transport: c}).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if n := c.Open.Load(); n != 1 {
		t.Fatalf("%d bodies open before Close, want 1", n)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	resp.Body.Close()
	if c.Attempts.Load() != 1 || c.Opened.Load() != 1 || c.Open.Load() != 0 || c.Read.Load() != 5 {
		t.Fatalf("attempts %d, opened %d, open %d, read %d: want 1, 1, 0, 5",
			c.Attempts.Load(), c.Opened.Load(), c.Open.Load(), c.Read.Load())
	}
}
