package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
)

// report is the outcome of a load test.
type report struct {
	URL        string             `json:"url"`
	Workers    int                `json:"workers"`
	Duration   float64            `json:"duration_seconds"`
	Requests   int                `json:"requests"`
	Rate       float64            `json:"rate_per_second"`
	Status     map[string]int     `json:"status"`
	NotSent    int                `json:"not_sent"`
	LatencyMS  map[string]float64 `json:"latency_ms"`
	Limit      string             `json:"limit"`
	LimiterURL string             `json:"limiter_url"`
	// Decisions are the requests the limiter gave its store (decisions,
	// holds, cancels) and RoundTrips the store round trips it made for
	// them (fewer when coalescing shares them), each also per second;
	// absent for a limiter that counts none (the in-process one).
	Decisions     int64   `json:"decisions,omitempty"`
	DecisionRate  float64 `json:"decisions_per_second,omitempty"`
	RoundTrips    int64   `json:"store_round_trips,omitempty"`
	RoundTripRate float64 `json:"store_round_trips_per_second,omitempty"`
}

// statsReporter is a Limiter that counts its store traffic
// ([limiter.Handle.Stats]).
type statsReporter interface{ Stats() limiter.Stats }

func (c *cli) loadtest(ctx context.Context, args []string) int {
	fs := c.flags("loadtest", "--url URL --workers N --duration D [--cost C] [--json]",
		"N workers send GETs to URL through one Session (its limiter, retries and pool) for D, then report\n"+
			"status counts, the achieved rate, latency percentiles, and the limiter's decisions and store\n"+
			"round trips per second. Run it in several processes or on\n"+
			"several hosts with one --rate-limit-url to see them share the limit.")
	target := fs.String("url", "", "the URL to GET (required)")
	workers := fs.Int("workers", 8, "concurrent workers")
	duration := fs.Duration("duration", 10*time.Second, "how long to run")
	cost := fs.Int("cost", 1, "tokens each request takes")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	if fs.NArg() != 0 {
		return c.usageError(fs, "loadtest takes no arguments, got %q", fs.Args())
	}
	u, err := url.Parse(*target)
	switch {
	case *target == "":
		return c.usageError(fs, "--url is required")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return c.usageError(fs, "invalid --url %q: want an http(s) URL with a host", limiter.Redact(*target))
	case *workers < 1 || *workers > 10_000:
		return c.usageError(fs, "invalid --workers %d: want 1 to 10000", *workers)
	case *duration <= 0 || *duration > 24*time.Hour:
		return c.usageError(fs, "invalid --duration %s: want more than 0 and at most 24h", *duration)
	case *cost < 1:
		return c.usageError(fs, "invalid --cost %d: want >= 1", *cost)
	}
	cfg := c.cfg
	cfg.APIURL = (&url.URL{Scheme: u.Scheme, Host: u.Host, User: u.User}).String()
	n := *cost
	cfg.Cost = func(string) int { return n }
	s, code := c.session(ctx, cfg)
	if code >= 0 {
		return code
	}
	defer s.Close()
	if n > s.Limit().Burst {
		return c.usageError(fs, "invalid --cost %d: more than the burst %d of the limit %s, so no request could ever be sent", n, s.Limit().Burst, s.Limit())
	}

	var (
		mu        sync.Mutex
		latencies []time.Duration
		statuses  = map[string]int{}
		notSent   int
	)
	stats, _ := s.Limiter().(statsReporter)
	var before limiter.Stats
	if stats != nil {
		before = stats.Stats()
	}
	runCtx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for runCtx.Err() == nil {
				var wrote atomic.Bool
				trace := &httptrace.ClientTrace{WroteHeaders: func() { wrote.Store(true) }}
				req, err := http.NewRequestWithContext(httptrace.WithClientTrace(runCtx, trace), http.MethodGet, u.String(), nil)
				if err != nil {
					return
				}
				t0 := time.Now()
				resp, err := s.Do(req)
				lat := time.Since(t0)
				var key string
				if err == nil {
					io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
					resp.Body.Close()
					key = strconv.Itoa(resp.StatusCode)
				} else if !wrote.Load() && (runCtx.Err() != nil || errors.Is(err, limiter.ErrSlotTooLate)) {
					// Its slot came after the end: no later slot
					// can come sooner, so this worker is done.
					mu.Lock()
					notSent++
					mu.Unlock()
					return
				} else if runCtx.Err() != nil {
					key = "cut at the end"
				} else {
					key = "error: " + errorKind(err)
					if limiter.IsPermanent(err) {
						// The limiter will say the same to every
						// request: stop, don't spin.
						mu.Lock()
						statuses[key]++
						mu.Unlock()
						return
					}
				}
				mu.Lock()
				statuses[key]++
				latencies = append(latencies, lat)
				mu.Unlock()
			}
		}()
	}
	stopProgress := c.progress(start, *duration, func() int { mu.Lock(); defer mu.Unlock(); return len(latencies) })
	wg.Wait()
	stopProgress()
	elapsed := time.Since(start)

	r := report{URL: limiter.Redact(u.String()), Workers: *workers, Duration: elapsed.Seconds(), Requests: len(latencies),
		Rate: float64(len(latencies)) / elapsed.Seconds(), Status: statuses, NotSent: notSent,
		LatencyMS: percentiles(latencies), Limit: s.Limit().String(), LimiterURL: limiter.Redact(cfg.RateLimitURL)}
	if stats != nil {
		after := stats.Stats()
		r.Decisions, r.RoundTrips = after.Requests-before.Requests, after.RoundTrips-before.RoundTrips
		r.DecisionRate, r.RoundTripRate = float64(r.Decisions)/elapsed.Seconds(), float64(r.RoundTrips)/elapsed.Seconds()
	}
	if *asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(r)
	} else {
		printReport(c.stdout, r)
	}
	if ctx.Err() != nil {
		return exitFailed
	}
	answered := 0
	for k, v := range statuses {
		if !strings.HasPrefix(k, "error: ") && k != "cut at the end" {
			answered += v
		}
	}
	if answered == 0 && len(latencies) > 0 {
		fmt.Fprintf(c.stderr, "lighter: loadtest: no request to %s got an answer\n", r.URL)
		return exitUnreachable
	}
	return exitOK
}

// errorKind names an error class for the status table, without URLs.
func errorKind(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	switch {
	case errors.Is(err, limiter.ErrUnavailable):
		return "limiter store unavailable"
	case errors.Is(err, limiter.ErrClosed):
		return "limiter closed"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return msg
}

func percentiles(ds []time.Duration) map[string]float64 {
	out := map[string]float64{}
	if len(ds) == 0 {
		return out
	}
	slices.Sort(ds)
	at := func(p float64) float64 {
		i := int(p * float64(len(ds)-1))
		return float64(ds[i]) / float64(time.Millisecond)
	}
	out["p50"], out["p90"], out["p99"], out["max"] = at(0.50), at(0.90), at(0.99), at(1)
	return out
}

func printReport(w io.Writer, r report) {
	fmt.Fprintf(w, "url:       %s\n", r.URL)
	fmt.Fprintf(w, "limit:     %s on %s\n", r.Limit, r.LimiterURL)
	fmt.Fprintf(w, "requests:  %d in %.1fs with %d workers: %.2f per second\n", r.Requests, r.Duration, r.Workers, r.Rate)
	keys := make([]string, 0, len(r.Status))
	for k := range r.Status {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, r.Status[k]))
	}
	fmt.Fprintf(w, "status:    %s\n", strings.Join(parts, " "))
	if r.NotSent > 0 {
		fmt.Fprintf(w, "not sent:  %d (their slots came after the end)\n", r.NotSent)
	}
	if r.Decisions > 0 {
		fmt.Fprintf(w, "limiter:   %d decisions (%.2f per second) in %d store round trips (%.2f per second)\n",
			r.Decisions, r.DecisionRate, r.RoundTrips, r.RoundTripRate)
	}
	if len(r.LatencyMS) > 0 {
		fmt.Fprintf(w, "latency:   p50 %.1fms  p90 %.1fms  p99 %.1fms  max %.1fms (limiter wait included)\n",
			r.LatencyMS["p50"], r.LatencyMS["p90"], r.LatencyMS["p99"], r.LatencyMS["max"])
	}
}

// progress prints a live line on a terminal stderr, once a second, until
// the returned stop is called.
func (c *cli) progress(start time.Time, total time.Duration, count func() int) (stop func()) {
	f, ok := c.stderr.(*os.File)
	if !ok {
		return func() {}
	}
	if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprint(f, "\r\033[K")
				return
			case <-t.C:
				el := time.Since(start)
				n := count()
				fmt.Fprintf(f, "\r\033[K%5.1fs / %s  %d requests  %.2f/s", el.Seconds(), total, n, float64(n)/el.Seconds())
			}
		}
	}()
	return func() { close(done); <-finished }
}
