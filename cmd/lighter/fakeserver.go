package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/sharedlimit/sharedlimit/lighter/lightertest"
)

// fakeServer serves the fake Lighter API of lightertest until ctx ends (a
// signal), for the docker-compose fleet and for trying the CLI offline. It
// answers 429 above --limit requests in any rolling --window, prints its
// counters every --report and at the end, and serves them as JSON at
// /stats (not counted against the limit).
func (c *cli) fakeServer(ctx context.Context, args []string) int {
	fs := c.flags("fake-server", "[--addr :8080] [--limit 20] [--window 1s] [--jitter 50ms]",
		"Serves a fake Lighter API (canned data) that answers 429 above --limit requests in any rolling\n"+
			"--window, forgiving --jitter of arrival jitter, until interrupted. GET /stats returns its counters.")
	addr := fs.String("addr", ":8080", "address to listen on")
	limit := fs.Int("limit", 20, "requests admitted in any rolling window; 0 for no limit")
	window := fs.Duration("window", time.Second, "the rolling window")
	jitter := fs.Duration("jitter", lightertest.DefaultJitter, "arrival jitter forgiven")
	every := fs.Duration("report", 10*time.Second, "how often to print the counters; 0 for only at the end")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	switch {
	case fs.NArg() != 0:
		return c.usageError(fs, "fake-server takes no arguments, got %q", fs.Args())
	case *limit < 0:
		return c.usageError(fs, "invalid --limit %d: want >= 0", *limit)
	case *window <= 0:
		return c.usageError(fs, "invalid --window %s: want > 0", *window)
	case *jitter < 0 || *jitter >= *window:
		return c.usageError(fs, "invalid --jitter %s: want >= 0 and less than --window %s", *jitter, *window)
	case *every < 0:
		return c.usageError(fs, "invalid --report %s: want >= 0", *every)
	}
	j := *jitter
	if j == 0 {
		j = -1 // lightertest: a negative Jitter forgives nothing
	}
	h := lightertest.NewHandler(lightertest.Options{Limit: *limit, Window: *window, Jitter: j})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(h.Stats())
	})
	mux.Handle("/", h)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(c.stderr, "lighter: fake-server: %v\n", err)
		return exitFailed
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(c.stdout, "fake Lighter API on %s: 429 above %d requests in any rolling %s (%s jitter forgiven); counters at /stats\n",
		ln.Addr(), *limit, *window, *jitter)

	var tick <-chan time.Time
	if *every > 0 {
		t := time.NewTicker(*every)
		defer t.Stop()
		tick = t.C
	}
	report := func() {
		st := h.Stats()
		fmt.Fprintf(c.stdout, "requests: %d, answered 429: %d\n", st.Total, st.TooMany)
	}
	for {
		select {
		case <-tick:
			report()
		case err := <-served:
			fmt.Fprintf(c.stderr, "lighter: fake-server: %v\n", err)
			return exitFailed
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := srv.Shutdown(sctx)
			cancel()
			if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
				fmt.Fprintf(c.stderr, "lighter: fake-server: %v\n", err)
			}
			report()
			if err != nil {
				return exitFailed
			}
			return exitOK
		}
	}
}
