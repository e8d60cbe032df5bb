package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sharedlimit/sharedlimit/lighter/lightertest"
)

// demoWorkerCmd is the hidden command the demo's worker processes run.
const demoWorkerCmd = "demo-worker"

// workerResult is what a demo worker prints.
type workerResult struct {
	Sent   int    `json:"sent"`
	OK     int    `json:"ok"`
	Failed int    `json:"failed"`
	Error  string `json:"error,omitempty"`
}

func (c *cli) demo(ctx context.Context, args []string) int {
	fs := c.flags("demo", "[--duration D] [--processes N]",
		"Offline: starts a fake Lighter API that answers 429 above 2 requests in any rolling second,\n"+
			"runs worker processes sharing one SQLite limiter in a temporary file for D, and prints the\n"+
			"outcome. Exit code 1 when any request got a 429.")
	duration := fs.Duration("duration", 10*time.Second, "how long the workers run")
	procs := fs.Int("processes", 3, "worker processes")
	goroutines := fs.Int("goroutines", 4, "goroutines per worker process")
	rps := fs.Float64("requests-per-second", 2, "the workers' limit; above 2 the server answers 429s")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	switch {
	case fs.NArg() != 0:
		return c.usageError(fs, "demo takes no arguments, got %q", fs.Args())
	case *duration <= 0 || *duration > time.Hour:
		return c.usageError(fs, "invalid --duration %s: want more than 0 and at most 1h", *duration)
	case *procs < 1 || *procs > 64:
		return c.usageError(fs, "invalid --processes %d: want 1 to 64", *procs)
	case *goroutines < 1 || *goroutines > 256:
		return c.usageError(fs, "invalid --goroutines %d: want 1 to 256", *goroutines)
	case !(*rps > 0) || *rps > 1000:
		return c.usageError(fs, "invalid --requests-per-second %v: want more than 0 and at most 1000", *rps)
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(c.stderr, "lighter: demo: cannot find its own executable: %v\n", err)
		return exitFailed
	}
	dir, err := os.MkdirTemp("", "lighter-demo-")
	if err != nil {
		fmt.Fprintf(c.stderr, "lighter: demo: %v\n", err)
		return exitFailed
	}
	defer os.RemoveAll(dir)
	limiterURL := "sqlite://" + filepath.ToSlash(filepath.Join(dir, "rate-limit.sqlite"))

	srv := lightertest.NewServer(lightertest.Options{Limit: 2, Window: time.Second, Jitter: 50 * time.Millisecond})
	defer srv.Close()

	fmt.Fprintf(c.stdout, "fake Lighter API at %s: 429 above 2 requests in any rolling second (50 ms jitter forgiven)\n", srv.URL)
	fmt.Fprintf(c.stdout, "%d worker processes x %d goroutines, limiter %s, %v requests per second, burst 1, for %s\n",
		*procs, *goroutines, limiterURL, *rps, *duration)

	start := time.Now().Add(time.Second) // all workers begin together
	results := make([]workerResult, *procs)
	var wg sync.WaitGroup
	for i := range *procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = c.runWorker(ctx, exe, srv.URL, limiterURL, *rps, start, *duration, *goroutines)
		}()
	}
	wg.Wait()

	st := srv.Stats()
	sent, failed := 0, 0
	for i, r := range results {
		cut := ""
		if n := r.Sent - r.OK - r.Failed; n > 0 {
			cut = fmt.Sprintf(", %d cut by the end of the run", n)
		}
		fmt.Fprintf(c.stdout, "worker %d: %d requests, %d answered 2xx%s, %d failed%s\n", i+1, r.Sent, r.OK, cut, r.Failed, suffix(r.Error))
		sent += r.Sent
		failed += r.Failed
	}
	rate := float64(st.Total) / duration.Seconds()
	fmt.Fprintf(c.stdout, "requests: %d seen by the server (%d sent, %d failed)\n", st.Total, sent, failed)
	fmt.Fprintf(c.stdout, "429s:     %d (expected 0)\n", st.TooMany)
	fmt.Fprintf(c.stdout, "rate:     %.2f per second (expected about 2)\n", rate)
	for _, r := range results {
		if r.Error != "" {
			return exitFailed
		}
	}
	if st.TooMany > 0 || failed > 0 {
		return exitFailed
	}
	return exitOK
}

func suffix(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

// runWorker runs one worker process and reads its result.
func (c *cli) runWorker(ctx context.Context, exe, apiURL, limiterURL string, rps float64, start time.Time, d time.Duration, goroutines int) workerResult {
	cctx, cancel := context.WithTimeout(ctx, d+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, exe,
		"--api-url", apiURL, "--rate-limit-url", limiterURL,
		"--requests-per-second", strconv.FormatFloat(rps, 'g', -1, 64), "--burst", "1", "--rate-limit-key", "demo",
		demoWorkerCmd, "--start", strconv.FormatInt(start.UnixNano(), 10),
		"--duration", d.String(), "--goroutines", strconv.Itoa(goroutines))
	// The worker's settings come from its flags, not the user's LIGHTER_*.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LIGHTER_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, demoWorkerEnv+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var r workerResult
	if jerr := json.Unmarshal(bytes.TrimSpace(lastLine(out)), &r); jerr != nil {
		msg := strings.TrimSpace(stderr.String())
		if err != nil {
			msg = fmt.Sprintf("%v: %s", err, msg)
		}
		return workerResult{Error: "worker failed: " + msg}
	}
	return r
}

// demoWorkerEnv marks a process started by the demo (tests dispatch on
// it).
const demoWorkerEnv = "LIGHTERDEMO_WORKER"

func lastLine(b []byte) []byte {
	b = bytes.TrimRight(b, "\n")
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		return b[i+1:]
	}
	return b
}

// demoWorker is one worker process of the demo: goroutines send GETs
// through one Session until the end, then print a workerResult.
func (c *cli) demoWorker(ctx context.Context, args []string) int {
	fs := c.flags(demoWorkerCmd, "--start NS --duration D", "Internal: one worker of lighter demo.")
	startNS := fs.Int64("start", 0, "start time, Unix nanoseconds")
	duration := fs.Duration("duration", 10*time.Second, "how long to run")
	goroutines := fs.Int("goroutines", 4, "goroutines")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	s, code := c.session(ctx, c.cfg)
	if code >= 0 {
		return code
	}
	defer s.Close()
	start := time.Unix(0, *startNS)
	time.Sleep(time.Until(start))
	runCtx, cancel := context.WithDeadline(ctx, start.Add(*duration))
	defer cancel()
	var mu sync.Mutex
	var r workerResult
	var wg sync.WaitGroup
	for range *goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for runCtx.Err() == nil {
				var out json.RawMessage
				var wrote atomic.Bool
				trace := &httptrace.ClientTrace{WroteHeaders: func() { wrote.Store(true) }}
				err := s.GetJSON(httptrace.WithClientTrace(runCtx, trace), "/api/v1/orderBooks", nil, &out)
				mu.Lock()
				switch {
				case err == nil:
					r.Sent++
					r.OK++
				case runCtx.Err() != nil && wrote.Load():
					// Sent, and cut by the end of the run.
					r.Sent++
				case runCtx.Err() != nil || isSlotTooLate(err):
					// The run ended before this request's slot.
				default:
					r.Sent++
					r.Failed++
					r.Error = err.Error()
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	json.NewEncoder(c.stdout).Encode(r)
	return exitOK
}
