package redistest

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Cluster is a Redis Cluster of masters without replicas, started by
// StartCluster.
type Cluster struct {
	// Nodes are the masters, each a Server of its own (Stop, Start and
	// Kill work on one node).
	Nodes []*Server
}

// StartCluster starts masters redis-server processes with cluster-enabled
// on free ports, their cluster bus on free ports too, joins them with
// "redis-cli --cluster create" (the slots split evenly) and waits until
// every node reports cluster_state:ok. Every node is stopped when tb ends.
// It skips tb like Start when redis-server or redis-cli is missing.
func StartCluster(tb testing.TB, masters int) *Cluster {
	tb.Helper()
	cli := CLI(tb)
	c := &Cluster{}
	for range masters {
		bus, err := freePort()
		if err != nil {
			tb.Fatalf("redistest: %v", err)
		}
		c.Nodes = append(c.Nodes, Start(tb, Config{Conf: []string{
			"cluster-enabled yes",
			"cluster-config-file nodes.conf",
			"cluster-node-timeout 2000",
			"cluster-port " + strconv.Itoa(bus),
		}}))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		tb.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, n := range c.Nodes {
		WaitFor(tb, 20*time.Second, "cluster_state:ok on "+n.Addr(), func() bool {
			info, err := Do(n.Addr(), "", "CLUSTER", "INFO")
			return err == nil && strings.Contains(info, "cluster_state:ok")
		})
	}
	return c
}

// Addrs are the nodes' addresses.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr()
	}
	return addrs
}

// URL is "redis+cluster://host1:port1,host2:port2,...".
func (c *Cluster) URL() string { return "redis+cluster://" + strings.Join(c.Addrs(), ",") }

// CLI returns the path of redis-cli (next to redis-server, or in PATH),
// or skips tb (fails it when SHAREDLIMIT_REQUIRE_REDIS=1) when there is
// none.
func CLI(tb testing.TB) string {
	tb.Helper()
	server := Binary(tb)
	if p := filepath.Join(filepath.Dir(server), "redis-cli"); isExec(p) {
		return p
	}
	if p, err := exec.LookPath("redis-cli"); err == nil {
		return p
	}
	missing(tb, "redis-cli")
	return ""
}

func isExec(p string) bool {
	_, err := exec.LookPath(p)
	return err == nil
}
