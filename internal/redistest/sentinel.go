package redistest

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// StartSentinel starts a Redis Sentinel ("redis-server sentinel.conf
// --sentinel": Debian's package has no redis-sentinel binary) on a free
// port that monitors master under name with a quorum of 1, a
// down-after of 1 s and a failover timeout of 10 s. When replicas are
// given it waits until the sentinel has seen them all, so that a
// SENTINEL FAILOVER can pick one. It is stopped when tb ends.
func StartSentinel(tb testing.TB, name string, master *Server, replicas ...*Server) *Server {
	tb.Helper()
	s := Start(tb, Config{
		Conf: []string{
			"sentinel monitor " + name + " 127.0.0.1 " + strconv.Itoa(master.Port()) + " 1",
			"sentinel down-after-milliseconds " + name + " 1000",
			"sentinel failover-timeout " + name + " 10000",
		},
		Args: []string{"--sentinel"},
	})
	for _, r := range replicas {
		WaitFor(tb, 20*time.Second, "the sentinel sees replica "+r.Addr(), func() bool {
			out, err := Do(s.Addr(), "", "SENTINEL", "REPLICAS", name)
			return err == nil && strings.Contains(out, "\n"+strconv.Itoa(r.Port())+"\n")
		})
	}
	return s
}

// StartReplica starts a server replicating master (with master's password,
// if any, as masterauth) and waits until its link to the master is up.
func StartReplica(tb testing.TB, master *Server, conf ...string) *Server {
	tb.Helper()
	// A diskless sync waits 5 s by default for more replicas to come.
	if _, err := Do(master.Addr(), master.cfg.Password, "CONFIG", "SET", "repl-diskless-sync-delay", "0"); err != nil {
		tb.Fatalf("redistest: CONFIG SET on the master: %v", err)
	}
	lines := []string{"replicaof 127.0.0.1 " + strconv.Itoa(master.Port())}
	if master.cfg.Password != "" {
		lines = append(lines, "masterauth "+master.cfg.Password)
	}
	r := Start(tb, Config{Conf: append(lines, conf...)})
	WaitFor(tb, 20*time.Second, "replica "+r.Addr()+" linked to its master", func() bool {
		info, err := Do(r.Addr(), "", "INFO", "replication")
		return err == nil && strings.Contains(info, "master_link_status:up")
	})
	return r
}
