package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/lighter"
	"github.com/sharedlimit/sharedlimit/lighter/lightertest"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/limitertest"
)

// The shape every fleet test shares: the 20 requests per second
// with burst 1, against a fake Lighter API that answers 429 above 20 in any
// rolling second, forgiving 50 ms of arrival jitter.
const (
	rate       = 20
	jitter     = 50 * time.Millisecond
	goroutines = 8
	// startDelay is how far ahead of the spawn the shared start lies: a
	// -race test binary on a loaded 2-core machine takes up to a second
	// to start and open its Session.
	startDelay = 2 * time.Second
)

// lim is the Session's limit: 20 per second, burst 1.
var lim = limiter.Limit{Rate: rate, Period: time.Second, Burst: 1}

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

// TestMain runs one fleet test at a time (unless -parallel is given): they
// mostly sleep in limiter waits, but the fake API forgives only 50 ms of
// arrival jitter, and another test's worker processes starting up (a
// -race binary each) on 2 cores stalled a running fleet by 100 ms: that
// measures the machine, not the limiter.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", "1")
	}
	os.Exit(m.Run())
}

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

// runMiniredis is a miniredis process: it serves on 127.0.0.1, its clock
// skew away from the host's (see skewClock) when skew is not 0, prints its
// address and stops when its standard input ends.
func runMiniredis(t *testing.T, skew time.Duration) {
	m := startMiniredis(t)
	if skew != 0 {
		skewClock(m, skew)
	}
	fmt.Printf("%s%s\n", lineAddr, m.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// startMiniredisProc runs miniredis in a process of its own, until t ends,
// and returns its address. Not in this process: here it would share the
// CPUs and the garbage collector with the fake API, whose arrival times
// would then stall behind its Lua scripts (slow under -race) and bunch.
func startMiniredisProc(t *testing.T, skew time.Duration) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run="+runPattern(t.Name()), "-test.count=1", "-test.v=false", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), envMiniredis+"="+skew.String())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	addr := make(chan string, 1)
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), lineAddr); ok {
				addr <- a
			}
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	select {
	case a := <-addr:
		return a
	case <-exited:
		t.Fatalf("miniredis process exited: %s", tail(stderr.String()))
	case <-time.After(30 * time.Second):
		t.Fatal("miniredis process did not start within 30 s")
	}
	return ""
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
				err := s.GetJSON(callCtx, lightertest.PathOrderBooks, params, &raw)
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
	u, err := s.Resolve(lightertest.PathOrderBooks, url.Values{"warm": {"1"}})
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

// child is a worker process seen from the parent.
type child struct {
	idx      int
	cmd      *exec.Cmd
	reserved chan time.Duration // reservations as the worker reports them
	ready    chan struct{}      // closed when the worker is ready to start
	done     chan struct{}      // closed when the process has exited and its output is read
	stderr   bytes.Buffer
	stdout   bytes.Buffer // everything but the known lines
	result   *workerResult
	err      error
}

// spawnWorker starts the test binary again as worker idx, running only
// t's test. The child is killed when t ends, if still running.
func spawnWorker(t *testing.T, idx int, spec workerSpec) *child {
	t.Helper()
	js, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	c := &child{idx: idx, reserved: make(chan time.Duration, 1024), ready: make(chan struct{}), done: make(chan struct{})}
	c.cmd = exec.Command(os.Args[0], "-test.run="+runPattern(t.Name()), "-test.count=1", "-test.v=false", "-test.timeout=2m")
	c.cmd.Env = append(os.Environ(), envChild+"="+strconv.Itoa(idx), envSpec+"="+string(js))
	c.cmd.Stderr = &c.stderr
	pipe, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if line == lineReady {
				close(c.ready)
				continue
			}
			if rest, ok := strings.CutPrefix(line, lineReserved); ok {
				d, _ := time.ParseDuration(rest)
				select {
				case c.reserved <- d:
				default:
				}
				continue
			}
			if rest, ok := strings.CutPrefix(line, lineResult); ok {
				var r workerResult
				if err := json.Unmarshal([]byte(rest), &r); err != nil {
					c.err = fmt.Errorf("bad result line %q: %v", rest, err)
				} else {
					c.result = &r
				}
				continue
			}
			c.stdout.WriteString(line + "\n")
		}
		if err := c.cmd.Wait(); err != nil && c.err == nil {
			c.err = err
		}
	}()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	})
	return c
}

// runPattern is a -test.run pattern matching the test named name and no
// other: every level anchored, so that "redis" does not run "miniredis".
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// wait waits for the child to exit, for at most timeout (then kills it).
func (c *child) wait(timeout time.Duration) {
	select {
	case <-c.done:
	case <-time.After(timeout):
		_ = c.cmd.Process.Kill()
		<-c.done
		if c.err == nil {
			c.err = fmt.Errorf("still running after %s: killed", timeout)
		}
	}
}

// kill sends SIGKILL and waits for the exit.
func (c *child) kill() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
}

func (c *child) failure() string {
	return fmt.Sprintf("worker %d: %v\nstdout:\n%s\nstderr:\n%s", c.idx, c.err, tail(c.stdout.String()), tail(c.stderr.String()))
}

func tail(s string) string {
	const keep = 3000
	if len(s) > keep {
		return "..." + s[len(s)-keep:]
	}
	return s
}

// fleet is a fake Lighter API and worker processes sharing one limiter.
type fleet struct {
	t          *testing.T
	srv        *lightertest.Server
	start, end time.Time
	workers    []*child
	base       workerSpec
}

// newAPI starts the fake Lighter API of the issue: 429 above 20 requests
// in any rolling second, 50 ms of arrival jitter forgiven.
func newAPI(t *testing.T) *lightertest.Server {
	srv := lightertest.NewServer(lightertest.Options{Limit: rate, Window: time.Second, Jitter: jitter})
	t.Cleanup(srv.Close)
	return srv
}

// startFleet spawns n workers on limiterURL against srv, running for d
// from a shared start startDelay from now.
func startFleet(t *testing.T, srv *lightertest.Server, limiterURL string, n int, d time.Duration, tweak func(*workerSpec)) *fleet {
	t.Helper()
	start := time.Now().Add(startDelay)
	f := &fleet{t: t, srv: srv, start: start, end: start.Add(d)}
	f.base = workerSpec{
		APIURL:     srv.URL,
		LimiterURL: limiterURL,
		Key:        "fleet",
		Start:      start.UnixNano(),
		End:        f.end.UnixNano(),
		Goroutines: goroutines,
		Warm:       true,
	}
	if tweak != nil {
		tweak(&f.base)
	}
	for i := range n {
		f.workers = append(f.workers, spawnWorker(t, i, f.base))
	}
	// Forget the warm-up requests, once every worker is ready and
	// before the start.
	deadline := start.Add(-100 * time.Millisecond)
	for _, c := range f.workers {
		select {
		case <-c.ready:
		case <-c.done:
			t.Fatalf("%s", c.failure())
		case <-time.After(time.Until(deadline)):
			t.Logf("worker %d was not ready 100 ms before the start", c.idx)
		}
	}
	srv.Reset()
	return f
}

// addWorker spawns one more worker with the fleet's spec, changed by
// tweak, whose index is the next one.
func (f *fleet) addWorker(tweak func(*workerSpec)) *child {
	spec := f.base
	spec.Warm = false
	if tweak != nil {
		tweak(&spec)
	}
	c := spawnWorker(f.t, len(f.workers), spec)
	f.workers = append(f.workers, c)
	return c
}

// sleepUntil sleeps until at into the run.
func (f *fleet) sleepUntil(at time.Duration) { time.Sleep(time.Until(f.start.Add(at))) }

// wait waits for every worker and returns the results of those that
// reported one; a worker that failed (and was not in killed) fails t.
func (f *fleet) wait(killed ...int) []workerResult {
	f.t.Helper()
	var rs []workerResult
	for _, c := range f.workers {
		c.wait(time.Until(f.end) + time.Minute)
		if slices.Contains(killed, c.idx) {
			continue
		}
		if c.err != nil || c.result == nil {
			if c.err == nil {
				c.err = errors.New("no result line")
			}
			f.t.Errorf("%s", c.failure())
			continue
		}
		rs = append(rs, *c.result)
	}
	return rs
}

// arrivals returns the server's arrival times from the start, and the
// number of requests per worker (from the worker query parameter).
func (f *fleet) arrivals() ([]time.Duration, map[int]int) {
	var ts []time.Duration
	per := map[int]int{}
	for _, r := range f.srv.Requests() {
		ts = append(ts, r.At.Sub(f.start))
		w, err := strconv.Atoi(r.Query.Get("worker"))
		if err != nil {
			w = -1
		}
		per[w]++
	}
	return ts, per
}

// summary is the fleet's totals.
type summary struct {
	calls, answered, failed int
	attempts                int64
	reasons                 map[string]int
	reserveErrors           int
	maxReserve              time.Duration
}

func summarize(rs []workerResult) summary {
	s := summary{reasons: map[string]int{}}
	for _, r := range rs {
		s.calls += r.Calls
		s.answered += r.Answered
		s.failed += r.failed()
		s.attempts += r.Attempts
		s.reserveErrors += r.ReserveErrors
		s.maxReserve = max(s.maxReserve, r.MaxReserve)
		for k, v := range r.Failed {
			s.reasons[k] += v
		}
	}
	return s
}

func (s summary) String() string {
	keys := slices.Sorted(maps.Keys(s.reasons))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%q=%d", k, s.reasons[k]))
	}
	return fmt.Sprintf("%d calls: %d answered, %d failed {%s}; %d attempts; %d reservations failed, the longest took %s",
		s.calls, s.answered, s.failed, strings.Join(parts, " "), s.attempts, s.reserveErrors, s.maxReserve.Round(time.Millisecond))
}

// checkAccounted fails t unless every call of every reporting worker was
// answered or failed with one of the allowed reasons, and unless the
// server saw exactly the attempts each reporting worker made (less, at
// most, those cut on the network by the run's end).
func (f *fleet) checkAccounted(rs []workerResult, allowed ...string) summary {
	t := f.t
	t.Helper()
	s := summarize(rs)
	_, per := f.arrivals()
	for _, r := range rs {
		if r.Calls != r.Answered+r.failed() {
			t.Errorf("worker %d: %d calls but %d answered + %d failed", r.Index, r.Calls, r.Answered, r.failed())
		}
		for reason, n := range r.Failed {
			if !slices.Contains(allowed, reason) {
				t.Errorf("worker %d: %d calls failed with %q (allowed: %q), such as: %s", r.Index, n, reason, allowed, r.Samples[reason])
			}
		}
		if seen := int64(per[r.Index]); seen > r.Attempts || seen < r.Attempts-r.Cut {
			t.Errorf("worker %d made %d attempts (%d cut by the run's end); the server saw %d from it", r.Index, r.Attempts, r.Cut, seen)
		}
	}
	if per[-1] != 0 {
		t.Errorf("the server saw %d requests from no known worker", per[-1])
	}
	return s
}

// checkStoreFault fails t unless the store's outage reached the workers:
// some reservation failed, or took at least d (a policy that waits for the
// store).
func (f *fleet) checkStoreFault(s summary, d time.Duration) {
	f.t.Helper()
	if s.reserveErrors == 0 && s.maxReserve < d {
		f.t.Errorf("no reservation failed and the longest took %s: the store's outage did not reach the workers", s.maxReserve)
	}
}

// checkBudget fails t when the fleet went over the limit, as the workers'
// own records and the API saw it, counted where jitter cannot hide an
// admission:
//   - an attempt was handed to the network without a reservation of its
//     own, or the API answered a 429;
//   - a window of one interval, ten, one second or the whole run certainly
//     holds more than the limit allows, by the slots the workers' Waits
//     were granted (limitertest.CheckSpans: no tolerance);
//   - the run holds more than Bound(run + 1 µs) attempts, by the workers'
//     count and by the API's: every slot lies in [start, end];
//   - a window of the API's arrivals (those of reservations answered
//     within a quarter interval: see arrivalJitter), shrunk by the jitter
//     measured between their slots and their arrivals, holds more
//     than Bound of the whole window; that jitter must stay under one
//     interval, so that the shrinking never forgives a whole interval
//     (checkBudgetPlus, which allows extra slots, checks the windows that
//     jitter leaves room for);
//   - an arrival matches no admission of a reporting worker (the workers
//     in killed could not report theirs).
func (f *fleet) checkBudget(rs []workerResult, killed ...int) {
	f.t.Helper()
	f.checkBudgetPlus(rs, 0, killed...)
}

// checkBudgetPlus is checkBudget allowing extra admissions in every window
// (and 429s when extra is not 0): the documented outcome of a store that
// lost its data.
func (f *fleet) checkBudgetPlus(rs []workerResult, extra int, killed ...int) {
	t := f.t
	t.Helper()
	st := f.srv.Stats()
	if st.TooMany != 0 && extra == 0 {
		t.Errorf("the API answered %d of %d requests with 429", st.TooMany, st.Total)
	}
	for _, r := range rs {
		if r.Unreserved != 0 {
			t.Errorf("worker %d handed %d attempts to the network without a reservation of their own", r.Index, r.Unreserved)
		}
	}
	run := f.end.Sub(f.start)
	spans := f.spans(rs, nil)
	T := lim.Interval()
	if extra == 0 {
		limitertest.CheckSpans(t, spans, lim, run)
	} else {
		for _, w := range []time.Duration{T, 10 * T, time.Second, run} {
			if got, most := limitertest.MaxCertainInWindow(spans, w), limitertest.Bound(lim, w)+extra; got > most {
				t.Errorf("%d admissions certainly in a window of %s: want at most %d (the limit %s plus %d)", got, w, most, lim, extra)
			}
		}
	}
	most := limitertest.Bound(lim, run+time.Microsecond) + extra
	if len(spans) > most || st.Total > most {
		t.Errorf("the workers recorded %d admissions and the API saw %d requests in a run of %s: want at most %d (the limit %s plus %d)",
			len(spans), st.Total, run, most, lim, extra)
	}
	ts, tol, slow := f.arrivalJitter(rs, killed)
	switch {
	case extra == 0 && tol >= T:
		t.Errorf("the API's arrivals lie up to %s from their slots, one interval (%s) or more: their windows cannot be checked", tol, T)
	case extra == 0:
		limitertest.CheckWindows(t, ts, lim, tol)
	default:
		// With an allowance of extra slots per window, one interval's
		// precision is moot: windows the jitter leaves room for.
		for _, w := range []time.Duration{T, 10 * T, time.Second} {
			if w <= tol {
				t.Logf("arrivals within %s of their slots: windows of %s not checked on them", tol, w)
				continue
			}
			if got, most := limitertest.MaxInWindow(ts, w-tol), limitertest.Bound(lim, w)+extra; got > most {
				t.Errorf("%d arrivals in a window of %s (%s less the jitter): want at most %d (the limit %s plus %d)", got, w-tol, w, most, lim, extra)
			}
		}
	}
	if t.Failed() {
		logFullest(t, ts, time.Second-min(tol, T))
	}
	t.Logf("budget: %d admissions recorded, %d requests seen by the API (at most %d allowed in %s); arrivals within %s of their slots (%d of slow reservations not counted in their windows)",
		len(spans), st.Total, most, run, tol.Round(time.Microsecond), slow)
}

// spans returns the slots of the reporting workers' admissions (those keep
// accepts, all when nil), from the start of the run.
func (f *fleet) spans(rs []workerResult, keep func(limitertest.Span) bool) []limitertest.Span {
	var out []limitertest.Span
	for _, r := range rs {
		for _, a := range r.Admissions {
			s := limitertest.Span{Lo: time.Duration(a.Lo - f.base.Start), Hi: time.Duration(a.Hi - f.base.Start)}
			if keep == nil || keep(s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// arrivalJitter matches the API's arrivals to the workers' admissions (by
// their attempt parameter) and returns the arrivals to count in windows
// and how far they may lie from their slots: each arrival comes e after
// its slot, with e between arrival - Hi (Wait sleeps until Hi at least)
// and arrival - Lo; the spread of e over the arrivals counted (largest
// upper minus smallest lower) is the tolerance their windows need. The
// arrivals of reservations that took more than a quarter interval (those
// retried through a store outage, or stalled) are not counted: their
// spread would make every window unreadable, and their slots are held to
// the bound by the span check (as precisely as their span allows) and by
// the run's total. The arrivals of the workers in killed, which could not
// report their admissions, are counted with the tolerance of the others.
// Fails t for any other arrival with no admission, or one before its Wait
// could have returned.
func (f *fleet) arrivalJitter(rs []workerResult, killed []int) (counted []time.Duration, tol time.Duration, slow int) {
	t := f.t
	t.Helper()
	byID := map[string]admission{}
	for _, r := range rs {
		for _, a := range r.Admissions {
			byID[a.ID] = a
		}
	}
	narrow := lim.Interval() / 4
	var emin, emax time.Duration
	first := true
	for _, req := range f.srv.Requests() {
		at := req.At.UnixNano()
		a, ok := byID[req.Query.Get("attempt")]
		if !ok {
			w, err := strconv.Atoi(req.Query.Get("worker"))
			if err != nil || !slices.Contains(killed, w) {
				t.Errorf("the API saw a request (attempt %q of worker %q) that no worker recorded as admitted",
					req.Query.Get("attempt"), req.Query.Get("worker"))
				continue
			}
			counted = append(counted, req.At.Sub(f.start))
			continue
		}
		lo, hi := time.Duration(at-a.Hi), time.Duration(at-a.Lo)
		if lo < 0 {
			t.Errorf("attempt %s arrived %s before its Wait could have returned", a.ID, -lo)
		}
		if time.Duration(a.Hi-a.Lo) > narrow {
			slow++
			continue
		}
		counted = append(counted, req.At.Sub(f.start))
		if first {
			emin, emax, first = lo, hi, false
		}
		emin, emax = min(emin, lo), max(emax, hi)
	}
	return counted, max(0, emax-emin), slow
}

// checkUsage fails t when the attempts handed to the network in [from, to)
// of the run use less than 99 % of the limit's budget over the part of it
// they cover: from the first to the last instant a Wait returned
// (admission.Sent), held to Bound of that span (limitertest.CheckUsage).
// Measured so, the edges where the limiter was not yet or no longer
// saturated (the first reservation's round trip after the start, the slot
// after the last one that fits before the end) are left out, and nothing
// else is: the caller chooses [from, to) as a part of the run where
// waiters were always queued. (Slots are not used here: a reservation
// retried through a store outage has a span as wide as the outage, which
// says nothing of where in it the slot lay; the instant its Wait returned
// lies a round trip after the slot.)
func (f *fleet) checkUsage(rs []workerResult, from, to time.Duration) {
	f.t.Helper()
	var times []time.Duration
	for _, r := range rs {
		for _, a := range r.Admissions {
			if at := time.Duration(a.Sent - f.base.Start); at >= from && at < to {
				times = append(times, at)
			}
		}
	}
	if len(times) < 2 {
		f.t.Errorf("%d attempts between %s and %s of the run: nothing to measure", len(times), from, to)
		return
	}
	span := slices.Max(times) - slices.Min(times) + time.Microsecond
	budget := limitertest.Bound(lim, span)
	f.t.Logf("usage between %s and %s: %d attempts over %s, where the limit allows %d (%.1f %%)",
		from.Round(time.Millisecond), to, len(times), span.Round(time.Millisecond), budget, 100*float64(len(times))/float64(budget))
	limitertest.CheckUsage(f.t, times, lim, 0)
}

// logFullest logs the arrivals around the fullest window of length w.
func logFullest(t *testing.T, times []time.Duration, w time.Duration) {
	ts, bi, best := limitertest.FullestWindow(times, w)
	var b strings.Builder
	for k := max(0, bi-2); k < min(len(ts), bi+best+2); k++ {
		fmt.Fprintf(&b, " %s", ts[k].Round(time.Millisecond))
	}
	t.Logf("fullest window of %s holds %d arrivals:%s", w, best, b.String())
}
