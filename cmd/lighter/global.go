package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/sharedlimit/sharedlimit/lighter"
	"github.com/sharedlimit/sharedlimit/limiter"
)

// global is the Session configuration from the environment and the global
// flags.
type global struct {
	cfg lighter.Config
}

// setting is one Config field with its flag and variable.
type setting struct {
	flag, env, help string
	set             func(c *lighter.Config, v string) error
}

var settings = []setting{
	{"deployment", lighter.EnvDeployment, "mainnet, testnet or robinhood (default mainnet)", func(c *lighter.Config, v string) error { c.Deployment = v; return nil }},
	{"api-url", lighter.EnvAPIURL, "API URL, or a deployment's name; overrides the deployment's URL (default the deployment's)", func(c *lighter.Config, v string) error { c.APIURL = v; return nil }},
	{"rate-limit-url", lighter.EnvRateLimitURL, "limiter URL: sqlite://, sqlite:///path, redis://..., memory:// (default sqlite://)", func(c *lighter.Config, v string) error { c.RateLimitURL = v; return nil }},
	{"requests-per-second", lighter.EnvRequestsPerSecond, "steady rate, a float (default 2)", nil},
	{"burst", lighter.EnvBurst, "requests at once after a quiet spell (default 1)", nil},
	{"rate-limit-key", lighter.EnvRateLimitKey, "key shared by everything under one limit (default one per API host)", func(c *lighter.Config, v string) error { c.RateLimitKey = v; return nil }},
	{"account-tier", lighter.EnvAccountTier, "standard or premium preset (default: requests-per-second)", func(c *lighter.Config, v string) error { c.AccountTier = v; return nil }},
	{"retries", lighter.EnvRetries, "retries after the first attempt, 0 for none (default 5)", nil},
	{"backoff-factor", lighter.EnvBackoffFactor, "backoff factor in seconds: sleeps 0, 2f, 4f... (default 0.5)", nil},
	{"pool-maxsize", lighter.EnvPoolMaxSize, "idle connections per host (default 32)", nil},
	{"timeout", lighter.EnvTimeout, "per-attempt connect and response-header timeout (default 30s)", nil},
}

// parseGlobal reads the environment, then the global flags over it. code
// is -1 to go on, or the exit code.
func parseGlobal(args []string, stderr io.Writer, lookup env) (*global, []string, int) {
	fs := flag.NewFlagSet("lighter", flag.ContinueOnError)
	fs.SetOutput(stderr)
	values := map[string]*string{}
	for _, s := range settings {
		values[s.flag] = fs.String(s.flag, "", s.help+"; env "+s.env)
	}
	fs.Usage = func() {
		usage(stderr)
		fmt.Fprintln(stderr, "\nGlobal flags (each overrides its environment variable):")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil, exitOK
		}
		return nil, nil, exitUsage
	}
	// Flags are laid over the environment as if they were variables;
	// errors name the flag a value came from.
	flagged, flagName := map[string]string{}, map[string]string{}
	fs.Visit(func(f *flag.Flag) {
		for _, s := range settings {
			if s.flag == f.Name {
				flagged[s.env], flagName[s.env] = *values[f.Name], "--"+f.Name
			}
		}
	})
	merged := func(name string) (string, bool) {
		if v, ok := flagged[name]; ok {
			return v, true
		}
		return lookup(name)
	}
	cfg, err := lighter.Config{}.WithSettings(merged, func(env string) string { return flagName[env] })
	if err != nil {
		fmt.Fprintln(stderr, prefixed(err))
		return nil, nil, exitConfig
	}
	return &global{cfg: cfg}, fs.Args(), -1
}

// session opens the Session, or prints why not and returns the exit code.
func (c *cli) session(ctx context.Context, cfg lighter.Config) (*lighter.Session, int) {
	return c.openSession(ctx, cfg, "")
}

// openSession is session for a cfg whose RateLimitURL has added appended
// by the command (see boundStoreWait): an error shows the URL without it.
func (c *cli) openSession(ctx context.Context, cfg lighter.Config, added string) (*lighter.Session, int) {
	s, err := lighter.NewSession(ctx, cfg)
	if err != nil {
		if added == "" {
			c.printErr(err)
		} else {
			fmt.Fprintln(c.stderr, strings.ReplaceAll(prefixed(err), added, ""))
		}
		return nil, exitCode(err)
	}
	return s, -1
}

// exitCode maps an error to the documented exit codes.
func exitCode(err error) int {
	var ne net.Error
	var oe *net.OpError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, lighter.ErrInvalidParam):
		return exitUsage
	case errors.Is(err, limiter.ErrUnavailable), errors.As(err, &oe), errors.As(err, &ne):
		return exitUnreachable
	case errors.Is(err, limiter.ErrInvalidArgument), errors.Is(err, limiter.ErrInvalidLimit),
		errors.Is(err, limiter.ErrUnknownScheme), errors.Is(err, lighter.ErrInvalidConfig):
		return exitConfig
	}
	return exitFailed
}

// atoi parses a positive whole number argument.
func atoi(name, v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid %s %q: want a whole number >= 0", name, v)
	}
	return n, nil
}
