package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/proctest"
	"github.com/sharedlimit/sharedlimit/lighter/lightertest"
	"github.com/sharedlimit/sharedlimit/limiter"
)

// The fleet harness: worker processes (the test binary run again through
// internal/proctest) sharing one limiter against one fake Lighter API.

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
	c.cmd = proctest.Command(context.Background(), t, []string{envChild + "=" + strconv.Itoa(idx), envSpec + "=" + string(js)}, "-test.timeout=2m")
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
	return fmt.Sprintf("worker %d: %v\nstdout:\n%s\nstderr:\n%s", c.idx, c.err, proctest.Tail(c.stdout.String()), proctest.Tail(c.stderr.String()))
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
