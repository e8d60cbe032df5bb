package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/lighter"
	"github.com/sharedlimit/sharedlimit/limiter"
)

// The worker process of a fleet: it runs a lighter.Session under load on
// the fleet's shared limiter and reports what it did on standard output.

// Reasons a worker's call ends without an answer. Every call is answered or
// has exactly one of these; a test lists the ones it allows.
const (
	reasonRunEnded    = "run ended before its slot"
	reasonUnavailable = "limiter store unavailable"
	reasonOther       = "other"
)

func reasonStatus(code int) string { return "status " + strconv.Itoa(code) }

// Environment of a worker process.
const (
	envChild     = "SHAREDLIMIT_INTEGRATION_CHILD"     // the child's index
	envSpec      = "SHAREDLIMIT_INTEGRATION_SPEC"      // its workerSpec, as JSON
	envMiniredis = "SHAREDLIMIT_INTEGRATION_MINIREDIS" // run miniredis, its clock this far off
)

// Lines a worker writes on its standard output.
const (
	lineResult   = "WORKER-RESULT "
	lineReserved = "WORKER-RESERVED "
	lineReady    = "WORKER-READY"
	lineAddr     = "MINIREDIS-ADDR "
)

// workerSpec is what a worker process runs.
type workerSpec struct {
	APIURL     string `json:"api_url"`
	LimiterURL string `json:"limiter_url"`
	Key        string `json:"key"`
	Start      int64  `json:"start"` // Unix ns: every worker begins then
	End        int64  `json:"end"`   // Unix ns: no call starts after it, every call ends by it
	Goroutines int    `json:"goroutines"`
	// ReportReservations prints a line for every reservation granted to
	// a Wait with a delay of 100 ms or more, as it is granted.
	ReportReservations bool `json:"report_reservations,omitempty"`
	// Warm sends a few requests to the API before the start, so that
	// the first requests of the run find their connections open and
	// their code paths warm; the parent resets the API's counters after
	// every worker is ready. A worker started late must not warm up: its
	// requests would count against the running fleet's window.
	Warm bool `json:"warm,omitempty"`
	// StoreSkew is an offset the parent applied to the store's clock;
	// the worker only reports it.
	StoreSkew time.Duration `json:"store_skew,omitempty"`
}

// workerResult is what a worker process did.
type workerResult struct {
	Index int `json:"index"`
	// Calls is the number of GetJSON calls made.
	Calls int `json:"calls"`
	// Answered is the number that returned the answer.
	Answered int `json:"answered"`
	// Failed counts the others by reason.
	Failed map[string]int `json:"failed"`
	// Attempts is the number of requests handed to the network: first
	// attempts and retries.
	Attempts int64 `json:"attempts"`
	// Cut is the number of those attempts that failed because the
	// call's context ended (the run's end) while they were on the
	// network: each may or may not have reached the server.
	Cut int64 `json:"cut"`
	// Samples holds one error message per reason.
	Samples map[string]string `json:"samples"`
	// ReserveErrors is the number of reservations the store failed;
	// MaxReserve is the longest a reservation took (a store that is
	// down, under a policy that waits for it, shows here).
	ReserveErrors int           `json:"reserve_errors"`
	MaxReserve    time.Duration `json:"max_reserve"`
	// Admissions are the attempts handed to the network, each with the
	// slot its Wait took.
	Admissions []admission `json:"admissions"`
	// Unreserved counts attempts handed to the network with no
	// reservation granted since the call's previous attempt: a path
	// around the limiter.
	Unreserved int `json:"unreserved"`
}

// admission is one attempt handed to the network, in Unix nanoseconds of
// the worker's clock (the host's, shared by every process of the fleet and
// by the fake API). Its slot lies in [Lo, Hi]: the reservation's call
// (less 1 µs: stores count whole microseconds) and its answer, each plus
// the reservation's Delay; Wait sleeps from the answer, so the slot never
// comes after Hi and the attempt is sent after it.
type admission struct {
	ID    string `json:"id"`    // the attempt query parameter the API sees
	Call  int64  `json:"call"`  // when the reservation was asked for
	Reply int64  `json:"reply"` // and when it was answered
	Lo    int64  `json:"lo"`
	Hi    int64  `json:"hi"`
	Sent  int64  `json:"sent"` // when it was handed to the network
}

// pending carries, in a call's context, the slot of the reservation its
// current attempt was granted, from the limiter to the network.
type pending struct {
	mu                  sync.Mutex
	ok                  bool
	call, reply, lo, hi int64
}

type pendingKey struct{}

func (r workerResult) failed() int {
	n := 0
	for _, v := range r.Failed {
		n += v
	}
	return n
}

// workerChild runs the worker when this process is a child spawned by a
// fleet, and reports whether it was one. Call it first in every test that
// spawns workers.
func workerChild(t *testing.T) bool {
	if skew, ok := os.LookupEnv(envMiniredis); ok {
		d, err := time.ParseDuration(skew)
		if err != nil {
			t.Fatalf("bad %s=%q", envMiniredis, skew)
		}
		runMiniredis(t, d)
		return true
	}
	idx, ok := os.LookupEnv(envChild)
	if !ok {
		return false
	}
	i, err := strconv.Atoi(idx)
	if err != nil {
		t.Fatalf("bad %s=%q", envChild, idx)
	}
	var spec workerSpec
	if err := json.Unmarshal([]byte(os.Getenv(envSpec)), &spec); err != nil {
		t.Fatalf("bad %s: %v", envSpec, err)
	}
	runWorker(t, i, spec)
	return true
}

// out serializes the worker's lines and flushes each one, so that the
// parent sees a reservation as it is granted.
type out struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (o *out) println(s string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.w.WriteString(s + "\n")
	o.w.Flush()
}

// watchLimiter reports reservations that make a Wait sleep, and measures
// how the store answered them.
type watchLimiter struct {
	limiter.Limiter
	out    *out
	report bool
	key    string // the fleet's key, whose reservations are recorded

	mu         sync.Mutex
	errs       int           // ReserveN calls that failed
	maxReserve time.Duration // the longest ReserveN call
}

func (w *watchLimiter) ReserveN(ctx context.Context, key string, limit limiter.Limit, n int, maxWait time.Duration) (*limiter.Reservation, error) {
	t0 := time.Now()
	r, err := w.Limiter.ReserveN(ctx, key, limit, n, maxWait)
	el := time.Since(t0)
	if p, ok := ctx.Value(pendingKey{}).(*pending); ok && err == nil && r.OK && key == w.key {
		p.mu.Lock()
		p.ok, p.call, p.reply = true, t0.UnixNano(), t0.Add(el).UnixNano()
		p.lo, p.hi = t0.Add(r.Delay-time.Microsecond).UnixNano(), t0.Add(el+r.Delay).UnixNano()
		p.mu.Unlock()
	}
	w.mu.Lock()
	w.maxReserve = max(w.maxReserve, el)
	if err != nil {
		w.errs++
	}
	w.mu.Unlock()
	if w.report && err == nil && r.OK && r.Delay >= 100*time.Millisecond { // every ReserveN of a worker is a Wait's
		w.out.println(lineReserved + r.Delay.String())
	}
	return r, err
}

// countingTransport counts the requests handed to the network, and records
// each as an admission with the slot its reservation took; it tags each
// with an attempt query parameter, so that the parent can match the API's
// arrivals to the admissions.
type countingTransport struct {
	base http.RoundTripper
	idx  int
	n    atomic.Int64
	cut  atomic.Int64 // attempts that failed with their context ended

	mu         sync.Mutex
	admissions []admission
	unreserved int
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	sent := time.Now().UnixNano()
	a := admission{ID: fmt.Sprintf("%d-%d", c.idx, c.n.Add(1)), Sent: sent}
	p, _ := req.Context().Value(pendingKey{}).(*pending)
	reserved := false
	if p != nil {
		p.mu.Lock()
		reserved, a.Call, a.Reply, a.Lo, a.Hi = p.ok, p.call, p.reply, p.lo, p.hi
		p.ok = false // the next attempt must take a slot of its own
		p.mu.Unlock()
	}
	c.mu.Lock()
	if reserved {
		c.admissions = append(c.admissions, a)
	} else {
		c.unreserved++
	}
	c.mu.Unlock()
	out := req.Clone(req.Context())
	q := out.URL.Query()
	q.Set("attempt", a.ID)
	out.URL.RawQuery = q.Encode()
	resp, err := c.base.RoundTrip(out)
	if err != nil && req.Context().Err() != nil {
		c.cut.Add(1)
	}
	return resp, err
}

// runWorker is one worker process: a Session on the shared limiter, and
// spec.Goroutines goroutines calling GetJSON from the shared start until
// the end. A call failing with the store unavailable is followed by a
// 50 ms pause, as a real worker would back off; a call whose slot comes
// after the end stops its goroutine.
func runWorker(t *testing.T, idx int, spec workerSpec) {
	ctx := context.Background()
	o := &out{w: bufio.NewWriter(os.Stdout)}
	l, err := limiter.Open(ctx, spec.LimiterURL)
	if err != nil {
		t.Fatalf("worker %d: %v", idx, err)
	}
	defer l.Close()
	base := &countingTransport{base: http.DefaultTransport.(*http.Transport).Clone(), idx: idx}
	watch := &watchLimiter{Limiter: l, out: o, report: spec.ReportReservations, key: spec.Key}
	s, err := lighter.NewSession(ctx, lighter.Config{
		APIURL:            spec.APIURL,
		Limiter:           watch,
		RequestsPerSecond: rate,
		Burst:             1,
		RateLimitKey:      spec.Key,
		BackoffFactor:     0.01, // sleeps 0, 20, 40, 80, 160 ms
		Timeout:           5 * time.Second,
		Logger:            slog.New(slog.DiscardHandler),
		Base:              base,
	})
	if err != nil {
		t.Fatalf("worker %d: %v", idx, err)
	}
	defer s.Close()
	// Reach the store before the start, so that no worker starts late.
	if _, err := l.Status(ctx, spec.Key, s.Limit()); err != nil {
		t.Fatalf("worker %d: store: %v", idx, err)
	}
	if spec.Warm {
		warmUp(t, s, l, base.base, spec.Goroutines)
	}
	o.println(lineReady)
	start, end := time.Unix(0, spec.Start), time.Unix(0, spec.End)
	time.Sleep(time.Until(start))
	runCtx, cancel := context.WithDeadline(ctx, end)
	defer cancel()

	var mu sync.Mutex
	res := workerResult{Index: idx, Failed: map[string]int{}, Samples: map[string]string{}}
	params := url.Values{"worker": {strconv.Itoa(idx)}}
	var wg sync.WaitGroup
	for range spec.Goroutines {
		wg.Go(func() {
			for runCtx.Err() == nil {
				var raw json.RawMessage
				callCtx := context.WithValue(runCtx, pendingKey{}, &pending{})
				err := s.GetJSON(callCtx, lighter.PathOrderBooks, params, &raw)
				reason := classify(runCtx, err)
				mu.Lock()
				res.Calls++
				if reason == "" {
					res.Answered++
				} else {
					res.Failed[reason]++
					if _, ok := res.Samples[reason]; !ok {
						res.Samples[reason] = err.Error()
					}
				}
				mu.Unlock()
				switch reason {
				case reasonRunEnded:
					return
				case reasonUnavailable:
					sleepCtx(runCtx, 50*time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	res.Attempts, res.Cut = base.n.Load(), base.cut.Load()
	base.mu.Lock()
	res.Admissions, res.Unreserved = base.admissions, base.unreserved
	base.mu.Unlock()
	watch.mu.Lock()
	res.ReserveErrors, res.MaxReserve = watch.errs, watch.maxReserve
	watch.mu.Unlock()
	b, _ := json.Marshal(res)
	o.println(lineResult + string(b))
}

// warmUp opens a connection per goroutine to the API and runs the
// limiter's code paths on a key of its own, all before the start. Its
// requests bypass the Session (and its counters); the parent resets the
// API's counters afterwards.
func warmUp(t *testing.T, s *lighter.Session, l limiter.Limiter, rt http.RoundTripper, n int) {
	u, err := s.Resolve(lighter.PathOrderBooks, url.Values{"warm": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	warmLim := limiter.Limit{Rate: 1000, Period: time.Second, Burst: 1000}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for range 2 {
				req, _ := http.NewRequest(http.MethodGet, u.String(), nil)
				if resp, err := rt.RoundTrip(req); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				_, _ = l.AllowN(context.Background(), "warm", warmLim, 1)
			}
		})
	}
	wg.Wait()
}

// classify names why a call got no answer ("" when it did).
func classify(runCtx context.Context, err error) string {
	var se *lighter.StatusError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, limiter.ErrSlotTooLate),
		runCtx.Err() != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)):
		return reasonRunEnded
	case errors.Is(err, limiter.ErrUnavailable):
		return reasonUnavailable
	case errors.As(err, &se):
		return reasonStatus(se.StatusCode)
	}
	return reasonOther
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
