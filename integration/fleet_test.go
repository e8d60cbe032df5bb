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
	// Samples holds one error message per reason.
	Samples map[string]string `json:"samples"`
	// ReserveErrors is the number of reservations the store failed;
	// MaxReserve is the longest a reservation took (a store that is
	// down, under a policy that waits for it, shows here).
	ReserveErrors int           `json:"reserve_errors"`
	MaxReserve    time.Duration `json:"max_reserve"`
}

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

	mu         sync.Mutex
	errs       int           // ReserveN calls that failed
	maxReserve time.Duration // the longest ReserveN call
}

func (w *watchLimiter) ReserveN(ctx context.Context, key string, limit limiter.Limit, n int, maxWait time.Duration) (*limiter.Reservation, error) {
	t0 := time.Now()
	r, err := w.Limiter.ReserveN(ctx, key, limit, n, maxWait)
	el := time.Since(t0)
	w.mu.Lock()
	w.maxReserve = max(w.maxReserve, el)
	if err != nil {
		w.errs++
	}
	w.mu.Unlock()
	if w.report && err == nil && r.OK && r.Delay >= 100*time.Millisecond && limiter.IsWaiting(ctx) {
		w.out.println(lineReserved + r.Delay.String())
	}
	return r, err
}

// countingTransport counts the requests handed to the network.
type countingTransport struct {
	base http.RoundTripper
	n    atomic.Int64
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.base.RoundTrip(req)
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
	base := &countingTransport{base: http.DefaultTransport.(*http.Transport).Clone()}
	watch := &watchLimiter{Limiter: l, out: o, report: spec.ReportReservations}
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
				err := s.GetJSON(runCtx, lightertest.PathOrderBooks, params, &raw)
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
	res.Attempts = base.n.Load()
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
// server saw exactly the attempts each reporting worker made.
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
		if int64(per[r.Index]) != r.Attempts {
			t.Errorf("worker %d made %d attempts; the server saw %d from it", r.Index, r.Attempts, per[r.Index])
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

// checkBudget fails t when the server answered any 429, or when any
// rolling window of the server's arrivals holds more than the limit
// allows (windows shrunk by the 50 ms of jitter the server forgives).
func (f *fleet) checkBudget() {
	t := f.t
	t.Helper()
	st := f.srv.Stats()
	if st.TooMany != 0 {
		t.Errorf("the API answered %d of %d requests with 429", st.TooMany, st.Total)
	}
	ts, _ := f.arrivals()
	limitertest.CheckWindows(t, ts, lim, jitter)
	if t.Failed() {
		logFullest(t, ts, time.Second-jitter)
	}
}

// answeredIn counts the server's 2xx answers that arrived in [from, to)
// of the run.
func (f *fleet) answeredIn(from, to time.Duration) int {
	n := 0
	for _, r := range f.srv.Requests() {
		at := r.At.Sub(f.start)
		if at >= from && at < to && r.Status == http.StatusOK {
			n++
		}
	}
	return n
}

// checkUsage fails t when fewer than frac of the budget of [from, to) of
// the run was answered.
func (f *fleet) checkUsage(from, to time.Duration, frac float64) {
	f.t.Helper()
	got := f.answeredIn(from, to)
	want := frac * rate * (to - from).Seconds()
	if float64(got) < want {
		f.t.Errorf("%d answered between %s and %s of the run: want at least %.0f (%.0f %% of %d per second)",
			got, from, to, want, frac*100, rate)
	}
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
