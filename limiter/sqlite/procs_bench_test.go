package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/proctest"
	"github.com/sharedlimit/sharedlimit/limiter/sqlite"
)

// The environment of a benchmark child process (see TestMain), beside
// proctest's own.
const (
	envBenchImpl = "SHAREDLIMIT_SQLITE_BENCH_IMPL" // "ours", "off" or "baseline"
	envBenchPath = "SHAREDLIMIT_SQLITE_BENCH_PATH"
)

// TestMain runs a benchmark child (benchChild) in a child of runProcs, and
// the tests otherwise.
func TestMain(m *testing.M) { proctest.BenchMain(m, benchChild) }

// benchChild makes decisions from c's goroutines on one key between the
// shared start and its end, and reports how many it made and in how many
// round trips (transactions).
func benchChild(c *proctest.Bench) error {
	ctx := context.Background()
	path := os.Getenv(envBenchPath)
	switch impl := os.Getenv(envBenchImpl); impl {
	case "ours", "off":
		l, err := sqlite.New(ctx, path, sqlite.WithCoalescing(impl == "ours"))
		if err != nil {
			return err
		}
		defer l.Close()
		n, err := c.Run(ctx, func(ctx context.Context) error { _, err := l.AllowN(ctx, "bench", benchLimit, 1); return err })
		if err != nil {
			return err
		}
		c.Report(n, l.Stats().RoundTrips)
	case "baseline":
		bl, err := openBaseline(path)
		if err != nil {
			return err
		}
		defer bl.db.Close()
		n, err := c.Run(ctx, func(ctx context.Context) error { _, err := bl.allow(ctx); return err })
		if err != nil {
			return err
		}
		c.Report(n, n) // the baseline's: one per decision
	default:
		return fmt.Errorf("unknown implementation %q", impl)
	}
	return nil
}

// runProcs runs procs child processes of goroutines each on a new file for
// dur: impl "ours", "off" (ours uncoalesced) or "baseline".
func runProcs(b *testing.B, impl string, procs, goroutines int, dur time.Duration) proctest.BenchResult {
	path := filepath.Join(b.TempDir(), impl+".sqlite")
	// Create the file first, so that the children measure decisions,
	// not the creation of the schema.
	switch impl {
	case "ours", "off":
		l, err := sqlite.New(context.Background(), path)
		if err != nil {
			b.Fatal(err)
		}
		l.Close()
	default:
		bl, err := openBaseline(path)
		if err != nil {
			b.Fatal(err)
		}
		bl.db.Close()
	}
	return proctest.RunBench(b, []string{envBenchImpl + "=" + impl, envBenchPath + "=" + path}, procs, goroutines, dur)
}
