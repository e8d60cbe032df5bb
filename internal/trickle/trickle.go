// Package trickle holds a test helper: an HTTP answer whose body never
// ends, for the tests of code that must not wait for such a body.
package trickle

import (
	"net/http"
	"time"
)

// Endless writes the header status to w, then a byte of body every 100 ms
// until the client goes away (a write fails or r's context ends).
func Endless(w http.ResponseWriter, r *http.Request, status int) {
	w.WriteHeader(status)
	for {
		if _, err := w.Write([]byte("x")); err != nil {
			return
		}
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}
