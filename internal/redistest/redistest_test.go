package redistest_test

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/redistest"
)

// do sends one command and returns the first line of the answer.
func do(t *testing.T, addr string, args ...string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	fmt.Fprintf(c, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(c, "$%d\r\n%s\r\n", len(a), a)
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(line, "$") && !strings.HasPrefix(line, "$-1") {
		line, _ = r.ReadString('\n')
	}
	return strings.TrimSpace(line)
}

func TestStartRestartStop(t *testing.T) {
	s := redistest.Start(t, redistest.Config{Conf: []string{"appendonly yes", "appendfsync always"}})
	if s.Port() == 6379 || !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
		t.Fatalf("server on %s: want a free loopback port, never 6379", s.Addr())
	}
	if got := do(t, s.Addr(), "SET", "k", "v"); got != "+OK" {
		t.Fatalf("SET: %q", got)
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if got := do(t, s.Addr(), "GET", "k"); got != "v" {
		t.Fatalf("after Restart with AOF, GET k = %q, want v", got)
	}
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	if s.Running() {
		t.Fatal("Running after Kill")
	}
	if err := redistest.Ping(s.Addr(), ""); err == nil {
		t.Fatal("PING answered after Kill")
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if got := do(t, s.Addr(), "GET", "k"); got != "v" {
		t.Fatalf("after Kill and Start, GET k = %q, want v (appendfsync always)", got)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

func TestPassword(t *testing.T) {
	s := redistest.Start(t, redistest.Config{Password: "pw-123"})
	if err := redistest.Ping(s.Addr(), "pw-123"); err != nil {
		t.Fatal(err)
	}
	if err := redistest.Ping(s.Addr(), ""); err == nil {
		t.Fatal("PING without the password answered PONG")
	}
	if err := redistest.Ping(s.Addr(), "wrong"); err == nil || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("PING with a wrong password: %v", err)
	}
	if !strings.Contains(s.URL(), ":pw-123@") {
		t.Errorf("URL %q lacks the password", s.URL())
	}
}

func TestTwoServers(t *testing.T) {
	a := redistest.Start(t, redistest.Config{})
	b := redistest.Start(t, redistest.Config{Args: []string{"--maxmemory", "10mb"}})
	if a.Addr() == b.Addr() {
		t.Fatal("two servers on one address")
	}
	do(t, a.Addr(), "SET", "only-a", "1")
	if got := do(t, b.Addr(), "GET", "only-a"); got != "$-1" {
		t.Fatalf("servers share data: %q", got)
	}
}

func TestCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	for _, n := range c.Nodes {
		if n.Port() == 6379 {
			t.Fatal("a node on 6379")
		}
		info, err := redistest.Do(n.Addr(), "", "CLUSTER", "INFO")
		if err != nil || !strings.Contains(info, "cluster_known_nodes:3") {
			t.Fatalf("CLUSTER INFO on %s: %v\n%s", n.Addr(), err, info)
		}
	}
	if !strings.HasPrefix(c.URL(), "redis+cluster://127.0.0.1:") || strings.Count(c.URL(), ",") != 2 {
		t.Errorf("URL %q", c.URL())
	}
}

func TestSentinel(t *testing.T) {
	m := redistest.Start(t, redistest.Config{})
	r := redistest.StartReplica(t, m)
	s := redistest.StartSentinel(t, "mymaster", m, r)
	out, err := redistest.Do(s.Addr(), "", "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")
	if err != nil || out != "127.0.0.1\n"+strconv.Itoa(m.Port()) {
		t.Fatalf("sentinel's master: %q, %v", out, err)
	}
}
