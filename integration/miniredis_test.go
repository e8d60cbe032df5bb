package integration

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/sharedlimit/sharedlimit/internal/proctest"
)

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
	cmd := proctest.Command(context.Background(), t, []string{envMiniredis + "=" + skew.String()}, "-test.timeout=5m")
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
		t.Fatalf("miniredis process exited: %s", proctest.Tail(stderr.String()))
	case <-time.After(30 * time.Second):
		t.Fatal("miniredis process did not start within 30 s")
	}
	return ""
}

// startMiniredis runs a miniredis server in this process on 127.0.0.1
// until t ends.
func startMiniredis(t testing.TB) *miniredis.Miniredis {
	t.Helper()
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}
