package proctest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	envIndex = "SHAREDLIMIT_PROCTEST_INDEX"
	envStart = "SHAREDLIMIT_PROCTEST_START"
	prefix   = "PROCTEST-ADMIT "
)

// StartDelay is how far ahead of Spawn the children's shared start lies,
// so that every child is running before the load begins.
const StartDelay = 1500 * time.Millisecond

// Proc is the view of a child process.
type Proc struct {
	// Index is the child's number, from 0.
	Index int
	// Start is the instant all children begin their load.
	Start time.Time
	mu    sync.Mutex
	out   *bufio.Writer
}

// Child reports whether this process is a child started by Spawn.
func Child() (*Proc, bool) {
	idx, ok := os.LookupEnv(envIndex)
	if !ok {
		return nil, false
	}
	i, err1 := strconv.Atoi(idx)
	ns, err2 := strconv.ParseInt(os.Getenv(envStart), 10, 64)
	if err1 != nil || err2 != nil {
		panic(fmt.Sprintf("proctest: bad child environment %s=%q %s=%q", envIndex, idx, envStart, os.Getenv(envStart)))
	}
	return &Proc{Index: i, Start: time.Unix(0, ns), out: bufio.NewWriter(os.Stdout)}, true
}

// WaitStart sleeps until the shared start.
func (p *Proc) WaitStart() { time.Sleep(time.Until(p.Start)) }

// Admit records one admission now. It is safe for concurrent use.
func (p *Proc) Admit() { p.AdmitAt(time.Now()) }

// AdmitAt records one admission at t.
func (p *Proc) AdmitAt(t time.Time) {
	p.mu.Lock()
	fmt.Fprintf(p.out, "%s%d\n", prefix, t.Sub(p.Start).Nanoseconds())
	p.mu.Unlock()
}

// Printf writes a free-form line for the parent's log.
func (p *Proc) Printf(format string, args ...any) {
	p.mu.Lock()
	fmt.Fprintf(p.out, format+"\n", args...)
	p.mu.Unlock()
}

// Flush writes what was recorded; call it before the child test returns.
func (p *Proc) Flush() {
	p.mu.Lock()
	p.out.Flush()
	p.mu.Unlock()
}

// Spawn runs n children of the current test binary, each running only the
// calling test, with extra environment entries env, and returns each
// child's admission times, measured from the shared start. It fails t when
// a child fails or runs past timeout (the child is then killed).
func Spawn(t *testing.T, n int, env []string, timeout time.Duration) [][]time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now().Add(StartDelay)
	type result struct {
		times []time.Duration
		out   []byte
		err   error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			childEnv := append(slices.Clip(env), fmt.Sprintf("%s=%d", envIndex, i), fmt.Sprintf("%s=%d", envStart, start.UnixNano()))
			cmd := Command(ctx, t, childEnv)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			results[i] = result{out: append(out, stderr.Bytes()...), err: err}
			for line := range strings.Lines(string(out)) {
				if rest, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok {
					ns, perr := strconv.ParseInt(rest, 10, 64)
					if perr != nil {
						results[i].err = fmt.Errorf("bad line %q: %v", line, perr)
						return
					}
					results[i].times = append(results[i].times, time.Duration(ns))
				}
			}
		}()
	}
	wg.Wait()
	all := make([][]time.Duration, n)
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("child %d: %v\n%s", i, r.err, Tail(string(r.out)))
		}
		all[i] = r.times
	}
	return all
}
