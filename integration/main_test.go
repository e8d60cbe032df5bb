package integration

import (
	"flag"
	"os"
	"testing"
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
