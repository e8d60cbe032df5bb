// Command lighter calls the Lighter exchange API through a shared rate
// limit, shows the limiter's state, load-tests any URL through a Session,
// and runs an offline demo of several processes sharing one limit.
//
// Usage:
//
//	lighter [flags] pools
//	lighter [flags] account INDEX
//	lighter [flags] get PATH [key=value ...]
//	lighter [flags] fundings|funding-rates|recent-trades|trades|order-book-details|exchange-stats|accounts-by-l1-address [flags]
//	lighter [flags] limiter status [KEY]
//	lighter [flags] loadtest --url URL --workers N --duration D [--cost C] [--json]
//	lighter fake-server [--addr :8080] [--limit 20]
//	lighter demo [--duration D] [--processes N] [--goroutines N] [--requests-per-second R]
//
// Every setting has a flag and an environment variable (see lighter -help);
// flags win. Exit codes: 0 success, 1 the call failed (API error, 429s in
// the demo), 2 bad usage (unknown command or flag, bad argument), 3 bad
// configuration (API URL, limiter URL, settings), 4 API or limiter store
// unreachable.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	goredis "github.com/redis/go-redis/v9"
)

// Exit codes.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitConfig      = 3
	exitUnreachable = 4
)

func main() {
	// go-redis logs dial failures to stderr by itself; the command
	// reports them once, as its own error.
	goredis.SetLogger(quietRedis{})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv)
	stop()
	os.Exit(code)
}

// quietRedis sends go-redis's own log lines to slog at Debug level.
type quietRedis struct{}

func (quietRedis) Printf(ctx context.Context, format string, v ...any) {
	slog.DebugContext(ctx, "go-redis: "+fmt.Sprintf(format, v...))
}

// env is how the command reads its environment (os.LookupEnv, or a map in
// tests).
type env func(string) (string, bool)

// commands are the commands beside help; the market-data calls are each
// named after its endpoint, with flags named after the endpoint's
// parameters (market.go).
var commands = map[string]func(c *cli, ctx context.Context, args []string) int{
	"pools":       (*cli).pools,
	"account":     (*cli).account,
	"get":         (*cli).get,
	"limiter":     (*cli).limiter,
	"loadtest":    (*cli).loadtest,
	"demo":        (*cli).demo,
	"fake-server": (*cli).fakeServer,
	demoWorkerCmd: (*cli).demoWorker,

	"fundings":               (*cli).fundings,
	"funding-rates":          (*cli).fundingRates,
	"recent-trades":          (*cli).recentTrades,
	"trades":                 (*cli).trades,
	"order-book-details":     (*cli).orderBookDetails,
	"exchange-stats":         (*cli).exchangeStats,
	"accounts-by-l1-address": (*cli).accountsByL1Address,
}

// run is the whole command, for main and for tests.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, lookup env) int {
	g, rest, code := parseGlobal(args, stderr, lookup)
	if code >= 0 {
		return code
	}
	if len(rest) == 0 {
		fmt.Fprintln(stderr, "lighter: missing command")
		usage(stderr)
		return exitUsage
	}
	cmd, cmdArgs := rest[0], rest[1:]
	c := &cli{global: g, stdout: stdout, stderr: stderr, lookup: lookup}
	if cmd == "help" {
		usage(stdout)
		return exitOK
	}
	if fn, ok := commands[cmd]; ok {
		return fn(c, ctx, cmdArgs)
	}
	fmt.Fprintf(stderr, "lighter: unknown command %q\n", cmd)
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage: lighter [flags] COMMAND [args]

Commands:
  pools                       public pools metadata (all pages), as JSON
  account INDEX               one account, as JSON
  get PATH [key=value ...]    raw JSON of any GET endpoint
`+marketUsage+`  limiter status [KEY]        what the limiter store says of a key
  loadtest --url URL ...      N workers GET a URL through a Session for D
  demo                        offline: 3 processes share one SQLite limit
  fake-server --addr :8080    a fake Lighter API with a rolling-window limit

Run 'lighter COMMAND -help' for a command's flags, 'lighter -help' for the
global flags and their environment variables.

Exit codes: 0 success, 1 the call failed, 2 bad usage, 3 bad configuration,
4 API or limiter store unreachable.
`)
}
