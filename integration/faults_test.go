package integration

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/redistest"
	"github.com/sharedlimit/sharedlimit/internal/tcpproxy"
	"github.com/sharedlimit/sharedlimit/limiter/limitertest"
)

// faultDuration is the length of a fault test's run: a second or two of
// steady state, the fault, and the recovery.
const faultDuration = 6 * time.Second

// The default failure policy, "wait": a call made while Redis cannot answer
// waits for the store (up to 30 s) and goes on, so no call fails with
// "limiter store unavailable" through these outages of under 2 s. The
// fault tests assert that, and that nothing is sent without the store's
// word (no 429, no window over the limit), the outage reached the
// workers, and the fleet uses the budget again after it.

// TestRedisRestart kills redis-server with SIGKILL 2 s into the run and
// starts it again on the same port and folder 300 ms later. A slot granted
// before the crash is used at its time.
//
// With AOF and appendfsync always, every granted slot survives the crash:
// no 429 and no window over the limit (checkBudget). Without persistence
// ("lost"), the restarted Redis has forgotten the slots already granted to
// the waiters that sleep towards them (up to one per waiting goroutine, 24
// here, spread over the next 1.2 s), so new reservations overlap them.
// What README promises ("What each fault does"), and is checked: no window holds more than
// Bound plus the slots queued at the crash (counted from the workers'
// records: granted before it, due after it) plus one Burst. Both check
// that the fault happened as named: a canary key written before the crash
// is there after the restart with AOF, and gone without it.
func TestRedisRestart(t *testing.T) {
	for _, tc := range []struct {
		name string
		conf []string
	}{
		{"aof-always", []string{"appendonly yes", "appendfsync always"}},
		{"lost", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if workerChild(t) {
				return
			}
			t.Parallel()
			rds := redistest.Start(t, redistest.Config{Conf: tc.conf})
			srv := newAPI(t)
			f := startFleet(t, srv, rds.URL()+"/0", 3, faultDuration, nil)
			const crash, down = 2 * time.Second, 300 * time.Millisecond
			f.sleepUntil(crash - 100*time.Millisecond)
			if out, err := redistest.Do(rds.Addr(), "", "SET", "canary", "1"); err != nil || out != "OK" {
				t.Fatalf("SET canary: %q, %v", out, err)
			}
			f.sleepUntil(crash)
			if err := rds.Kill(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(down)
			if err := rds.Start(); err != nil {
				t.Fatal(err)
			}
			restarted := time.Since(f.start)
			canary, err := redistest.Do(rds.Addr(), "", "EXISTS", "canary")
			if err != nil {
				t.Fatal(err)
			}
			if want := map[string]string{"aof-always": "1", "lost": "0"}[tc.name]; canary != want {
				t.Errorf("EXISTS canary after the restart: %s, want %s (the data was %s)", canary, want,
					map[string]string{"aof-always": "lost", "lost": "kept"}[tc.name])
			}
			rs := f.wait()
			allowed := []string{reasonRunEnded}
			if tc.name == "lost" {
				allowed = append(allowed, reasonStatus(http.StatusTooManyRequests))
			}
			s := f.checkAccounted(rs, allowed...)
			queued := 0
			for _, r := range rs {
				for _, a := range r.Admissions {
					if a.Reply < f.start.Add(crash).UnixNano() && a.Lo > f.start.Add(crash).UnixNano() {
						queued++
					}
				}
			}
			spans := f.spans(rs, nil)
			over := limitertest.MaxCertainInWindow(spans, time.Second) - limitertest.Bound(lim, time.Second)
			st := srv.Stats()
			t.Logf("%s: Redis down from %s to %s with %d slots queued; %s; server: %d requests, %d answered 429; fullest second over the bound by %d",
				tc.name, crash, restarted.Round(time.Millisecond), queued, s, st.Total, st.TooMany, over)
			f.checkStoreFault(s, down)
			if tc.name == "aof-always" {
				f.checkBudget(rs)
			} else {
				f.checkBudgetPlus(rs, queued+lim.Burst)
			}
			// Recovered: from 1 s after the restart, and after the holds
			// of the 429s the lost data caused (the fake API's
			// Retry-After is 1 s: the time until a request fits its
			// window, rounded up), the budget is used.
			from := restarted + time.Second
			for _, r := range srv.Requests() {
				if r.Status == http.StatusTooManyRequests {
					from = max(from, r.At.Sub(f.start)+time.Second+100*time.Millisecond)
				}
			}
			f.checkUsage(rs, from, faultDuration)
		})
	}
}

// TestRedisProxyDrop puts Redis behind a TCP proxy that cuts every
// connection and refuses new ones for 2 s in the middle of the run. Calls
// made meanwhile fail or wait, by the default policy (see above); Redis
// keeps its data, so no 429 and no window over the limit; no request is
// sent in the last 0.7 s of the cut (the slots granted before it, 1.2 s
// of queue at most, are used by then); the fleet uses the budget again
// once the proxy is back.
func TestRedisProxyDrop(t *testing.T) {
	if workerChild(t) {
		return
	}
	t.Parallel()
	rds := redistest.Start(t, redistest.Config{})
	proxy := tcpproxy.Start(t, rds.Addr())
	srv := newAPI(t)
	f := startFleet(t, srv, "redis://"+proxy.Addr()+"/0", 3, faultDuration, nil)
	const cut, back = 1500 * time.Millisecond, 3500 * time.Millisecond
	f.sleepUntil(cut)
	proxy.Cut()
	f.sleepUntil(back)
	proxy.Restore()
	rs := f.wait()
	s := f.checkAccounted(rs, reasonRunEnded)
	f.checkBudget(rs)
	f.checkStoreFault(s, time.Second)
	if n := len(inRange(f, cut+1300*time.Millisecond, back)); n != 0 {
		t.Errorf("%d requests sent between %s and %s, while the store was cut off and the slots granted before had passed", n, cut+1300*time.Millisecond, back)
	}
	f.checkUsage(rs, back+time.Second, faultDuration)
	t.Logf("connections cut from %s to %s: %s", cut, back, s)
}

// TestAPI503Burst makes the API answer the next 40 requests that pass its
// rate limit with 503, 2 s into the run. Each retry waits for its own
// slot, so the retries never push the API over its limit (no 429), every
// 503 is accounted for as an attempt, and a call fails only when all of
// its 6 attempts got a 503.
func TestAPI503Burst(t *testing.T) {
	if workerChild(t) {
		return
	}
	t.Parallel()
	srv := newAPI(t)
	dir := t.TempDir()
	f := startFleet(t, srv, "sqlite://"+filepath.ToSlash(filepath.Join(dir, "rate-limit.sqlite")), 3, faultDuration, nil)
	const fails = 40
	f.sleepUntil(2 * time.Second)
	srv.FailNext(fails, http.StatusServiceUnavailable)
	rs := f.wait()
	s := f.checkAccounted(rs, reasonRunEnded, reasonStatus(http.StatusServiceUnavailable))
	f.checkBudget(rs)
	n503, n200 := 0, 0
	for _, r := range srv.Requests() {
		switch r.Status {
		case http.StatusServiceUnavailable:
			n503++
		case http.StatusOK:
			n200++
		}
	}
	if n503 != fails {
		t.Errorf("the API answered %d 503s, want %d", n503, fails)
	}
	if int64(n200+n503) != s.attempts {
		t.Errorf("%d attempts, but the API answered %d 200s and %d 503s", s.attempts, n200, n503)
	}
	if s.answered != n200 {
		t.Errorf("%d calls answered, but the API answered %d 200s", s.answered, n200)
	}
	// Retries took slots too: the attempts, 503s and all, used the
	// budget of the whole run.
	f.checkUsage(rs, 0, faultDuration)
	t.Logf("%s; the API answered %d 200s and %d 503s", s, n200, n503)
}

// TestWorkerKilled kills one of three worker processes with SIGKILL at the
// moment one of its goroutines was granted a slot 100 ms or more ahead
// (while its Wait sleeps on it), 2 s into the run. The killed process never
// gives its slots back, so the fleet loses those slots once (up to one per
// goroutine of that process, within the next 1.2 s of queue); the other two
// go on, with no 429 and no window over the limit, and use the whole budget
// again once the dead process's slots have passed. The slots lost are
// counted: the budget from the kill to the survivors' last slot, less what
// the survivors were admitted in it, is between 1 (the slot it was killed
// on) and one per goroutine of the dead process (plus one for where the
// kill fell between two slots).
func TestWorkerKilled(t *testing.T) {
	if workerChild(t) {
		return
	}
	t.Parallel()
	rds := redistest.Start(t, redistest.Config{})
	srv := newAPI(t)
	f := startFleet(t, srv, rds.URL()+"/0", 3, faultDuration, func(s *workerSpec) { s.ReportReservations = true })
	victim := f.workers[0]
	f.sleepUntil(2 * time.Second)
	var delay time.Duration
	for drained := false; !drained; {
		select {
		case <-victim.reserved: // granted before now
		default:
			drained = true
		}
	}
	select {
	case delay = <-victim.reserved:
	case <-time.After(3 * time.Second):
		t.Fatal("worker 0 reported no reservation to be killed on")
	}
	victim.kill()
	killed := time.Since(f.start)
	var ws syscall.WaitStatus
	if ps := victim.cmd.ProcessState; ps != nil {
		ws, _ = ps.Sys().(syscall.WaitStatus)
	}
	if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("worker 0 ended with %v, want killed by SIGKILL", victim.err)
	}
	rs := f.wait(0)
	if len(rs) != 2 {
		t.Fatalf("%d workers reported, want the 2 survivors", len(rs))
	}
	s := f.checkAccounted(rs, reasonRunEnded)
	f.checkBudget(rs, victim.idx)
	// The dead process held at most one slot per goroutine, 8 of the
	// queue of 24 waiters, which reaches 24 slots (1.2 s) ahead. After
	// that queue, the survivors use the whole budget.
	horizon := time.Duration(3*goroutines) * lim.Interval()
	f.checkUsage(rs, killed+horizon+100*time.Millisecond, faultDuration)
	after := f.spans(rs, func(sp limitertest.Span) bool { return sp.Lo >= killed })
	last := killed
	for _, sp := range after {
		last = max(last, sp.Hi)
	}
	lost := limitertest.Bound(lim, last-killed+time.Microsecond) - len(after)
	t.Logf("worker 0 killed at %s while waiting %s for its slot; survivors: %s; %d slots lost after the kill (%d admitted until %s)",
		killed.Round(time.Millisecond), delay, s, lost, len(after), last.Round(time.Millisecond))
	if lost < 1 || lost > goroutines+1 {
		t.Errorf("%d slots lost after the kill: want 1 to %d (the slot it was killed on, at most one per goroutine of the dead process, +1 for where the kill fell)",
			lost, goroutines+1)
	}
}

// TestSQLiteFileRemoved removes the SQLite file (and its -wal and -shm)
// 1.5 s into a run of three workers, then starts a fourth worker on the
// same URL. What happens, and is documented: the running processes keep
// their open handle on the removed file and keep sharing it, so for them
// the limit holds (no 429, no window over the limit, the budget used);
// the late process creates a new file, so from then on there are two
// budgets, up to twice the rate, and the API answers 429s. Removing the
// file is safe only with every worker stopped.
func TestSQLiteFileRemoved(t *testing.T) {
	if workerChild(t) {
		return
	}
	t.Parallel()
	srv := newAPI(t)
	path := filepath.Join(t.TempDir(), "rate-limit.sqlite")
	const (
		removed = 1500 * time.Millisecond
		late    = 3500 * time.Millisecond // the fourth worker's start
		dur     = 6 * time.Second
	)
	f := startFleet(t, srv, "sqlite://"+filepath.ToSlash(path), 3, dur, nil)
	f.sleepUntil(removed)
	var oldIno uint64
	if fi, err := os.Stat(path); err != nil {
		t.Fatal(err)
	} else {
		oldIno = fi.Sys().(*syscall.Stat_t).Ino
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	f.addWorker(func(s *workerSpec) { s.Start = f.start.Add(late).UnixNano() })
	rs := f.wait()
	s := f.checkAccounted(rs, reasonRunEnded, reasonStatus(http.StatusTooManyRequests))

	// Before the late worker: the three share the removed file.
	var before, after []time.Duration
	tooManyAfter := 0
	for _, r := range srv.Requests() {
		at := r.At.Sub(f.start)
		if at < late {
			before = append(before, at)
			if r.Status == http.StatusTooManyRequests {
				t.Errorf("429 at %s, before the late worker started", at)
			}
			continue
		}
		after = append(after, at)
		if r.Status == http.StatusTooManyRequests {
			tooManyAfter++
		}
	}
	limitertest.CheckSpans(t, f.spans(rs, func(sp limitertest.Span) bool { return sp.Hi < late }), lim)
	if len(before) > limitertest.Bound(lim, late) {
		t.Errorf("the API saw %d requests before the late worker started at %s: the limit allows %d", len(before), late, limitertest.Bound(lim, late))
	}
	f.checkUsage(rs, removed, late)

	// The late worker made a new file: two budgets.
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("the late worker did not create a new file: %v", err)
	}
	if ino := fi.Sys().(*syscall.Stat_t).Ino; ino == oldIno {
		t.Errorf("the file at %s is the removed one (inode %d)", path, ino)
	}
	most := limitertest.MaxInWindow(after, time.Second-jitter)
	if tooManyAfter == 0 || most <= limitertest.Bound(lim, time.Second) {
		t.Errorf("after the late worker started: %d 429s and at most %d arrivals in a window: want the split limit to show (429s, over %d)",
			tooManyAfter, most, limitertest.Bound(lim, time.Second))
	}
	t.Logf("file removed at %s, new worker from %s: %s; %d 429s after, up to %d arrivals in %s",
		removed, late, s, tooManyAfter, most, time.Second-jitter)
}

// inRange returns the server's arrivals in [from, to) of the run.
func inRange(f *fleet, from, to time.Duration) []time.Duration {
	ts, _ := f.arrivals()
	var in []time.Duration
	for _, at := range ts {
		if at >= from && at < to {
			in = append(in, at)
		}
	}
	return in
}
