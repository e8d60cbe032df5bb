package integration

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/redistest"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/limitertest"
)

// previousRelease is the commit where part 1 landed: the release a rolling
// deploy of this one upgrades from.
const previousRelease = "5a4cc38"

// TestRollingDeploy: workers built from the previous release and from this
// tree share one SQLite file, then one real Redis, under load for 3 s (2
// processes of each, 4 goroutines each: AllowN, Waits, Waits cancelled
// while they queue), and no window goes above the bound: both releases read
// each other's stored values (tokens, epochs, the tok column) as the limit
// they are.
func TestRollingDeploy(t *testing.T) {
	if testing.Short() {
		t.Skip("rolling-deploy test skipped in -short mode")
	}
	oldBin, newBin := buildWorkers(t)
	backends := []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string {
			return "sqlite://" + filepath.ToSlash(filepath.Join(t.TempDir(), "rate-limit.sqlite"))
		}},
		{"redis", func(t *testing.T) string {
			return redistest.Start(t, redistest.Config{}).URL() + "/0?prefix=roll:"
		}},
	}
	lim := limiter.Limit{Rate: 20, Period: time.Second, Burst: 1}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			url := b.url(t)
			// As in a deploy: the old release runs, and the first worker
			// of the new one migrates the store under it.
			until := time.Now().Add(3 * time.Second)
			times, counts := runWorkers(t, []string{oldBin, newBin, oldBin, newBin}, url, lim, until)
			t.Logf("%s: %d admissions in 3 s at %s; per worker (old, new, old, new) %v", b.name, len(times), lim, counts)
			for i, n := range counts {
				if n == 0 {
					t.Errorf("worker %d admitted nothing: the test proves nothing", i)
				}
			}
			// Stamped when Wait returns, in 4 processes on 2 cores.
			const tol = 50 * time.Millisecond
			limitertest.CheckWindows(t, times, lim, tol)
			if t.Failed() {
				sorted, i, n := limitertest.FullestWindow(times, lim.Period-tol)
				t.Logf("fullest window: %d admissions from %s to %s", n, sorted[i], sorted[i+n-1])
			}
		})
	}
}

// buildWorkers builds integration/rollworker from the previous release (a
// git archive of it in a temporary folder, with this tree's worker source,
// which uses only that release's API) and from this tree. It skips t, loudly,
// when the clone has no such commit.
func buildWorkers(t *testing.T) (oldBin, newBin string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("SKIPPED: no git on PATH: the previous release cannot be built")
	}
	root, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("SKIPPED: not a git clone (%v): the previous release cannot be built", err)
	}
	repo := strings.TrimSpace(string(root))
	if err := exec.Command("git", "-C", repo, "cat-file", "-e", previousRelease+"^{commit}").Run(); err != nil {
		t.Skipf("SKIPPED: the clone has no commit %s (a shallow clone?): the rolling deploy from it is not tested", previousRelease)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "old")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	archive := exec.Command("git", "-C", repo, "archive", "--format=tar", previousRelease)
	untar := exec.Command("tar", "-x", "-C", src)
	var errArchive, errUntar bytes.Buffer // written by two processes' copiers
	pipe, err := archive.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	untar.Stdin, archive.Stderr, untar.Stderr = pipe, &errArchive, &errUntar
	if err := untar.Start(); err != nil {
		t.Fatal(err)
	}
	if err := archive.Run(); err != nil {
		t.Fatalf("git archive %s: %v\n%s", previousRelease, err, errArchive.String())
	}
	if err := untar.Wait(); err != nil {
		t.Fatalf("untar %s: %v\n%s", previousRelease, err, errUntar.String())
	}
	worker, err := os.ReadFile(filepath.Join(repo, "integration", "rollworker", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(src, "integration", "rollworker"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "integration", "rollworker", "main.go"), worker, 0o644); err != nil {
		t.Fatal(err)
	}
	oldBin, newBin = filepath.Join(dir, "worker-old"), filepath.Join(dir, "worker-new")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, b := range []struct{ dir, out string }{{src, oldBin}, {repo, newBin}} {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			args := []string{"build", "-o", b.out}
			if raceBuild {
				args = append(args, "-race")
			}
			cmd := exec.CommandContext(ctx, "go", append(args, "./integration/rollworker")...)
			cmd.Dir = b.dir
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("go build in %s: %v\n%s", b.dir, err, out)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return oldBin, newBin
}

// runWorkers starts one process per binary, a quarter second apart, all on
// url until until, and returns every admission, from the first start, and
// each worker's count.
func runWorkers(t *testing.T, bins []string, url string, lim limiter.Limit, until time.Time) ([]time.Duration, []int) {
	t.Helper()
	ctx, cancel := context.WithDeadline(context.Background(), until.Add(30*time.Second))
	defer cancel()
	start := time.Now()
	type result struct {
		times []time.Duration
		err   error
		out   string
	}
	results := make([]result, len(bins))
	var wg sync.WaitGroup
	for i, bin := range bins {
		if i > 0 {
			time.Sleep(250 * time.Millisecond)
		}
		cmd := exec.CommandContext(ctx, bin, "-url", url, "-key", "rolling", "-rate", strconv.Itoa(lim.Rate),
			"-goroutines", "4", "-until", strconv.FormatInt(until.UnixNano(), 10))
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			r := &results[i]
			r.err = cmd.Wait()
			r.out = stderr.String()
			sc := bufio.NewScanner(&stdout)
			for sc.Scan() {
				rest, ok := strings.CutPrefix(sc.Text(), "ADMIT ")
				if !ok {
					continue
				}
				ns, err := strconv.ParseInt(rest, 10, 64)
				if err != nil {
					r.err = fmt.Errorf("bad line %q", sc.Text())
					return
				}
				r.times = append(r.times, time.Unix(0, ns).Sub(start))
			}
		})
	}
	wg.Wait()
	var times []time.Duration
	counts := make([]int, len(bins))
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("worker %d (%s): %v\n%s", i, filepath.Base(bins[i]), r.err, r.out)
		}
		counts[i] = len(r.times)
		times = append(times, r.times...)
	}
	return times, counts
}
