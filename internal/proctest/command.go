package proctest

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// Command returns the current test binary run again as a child that runs
// only t's test (see RunPattern), with env added to this process's
// environment and flags after the harness's own (such as -test.timeout).
func Command(ctx context.Context, t testing.TB, env []string, flags ...string) *exec.Cmd {
	args := append([]string{"-test.run=" + RunPattern(t.Name()), "-test.count=1", "-test.v=false"}, flags...)
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// RunPattern is a -test.run pattern matching the test named name and no
// other: every level anchored, so that "redis" does not run "miniredis".
func RunPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// Tail keeps the end of a child's output, its last 4,000 bytes, for a
// failure message.
func Tail(s string) string {
	const keep = 4000
	if len(s) > keep {
		return "..." + s[len(s)-keep:]
	}
	return s
}
