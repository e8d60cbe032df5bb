package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/sharedlimit/sharedlimit/lighter"
)

// cli is one run of the command.
type cli struct {
	*global
	stdout, stderr io.Writer
	lookup         env
}

// flags returns a FlagSet for a subcommand whose -help prints usage.
func (c *cli) flags(name, args, about string) *flag.FlagSet {
	fs := flag.NewFlagSet("lighter "+name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "Usage: lighter [global flags] %s %s\n\n%s\n", name, args, about)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses a subcommand's flags; code is -1 to go on.
func parse(fs *flag.FlagSet, args []string) int {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	return -1
}

func (c *cli) usageError(fs *flag.FlagSet, format string, args ...any) int {
	fmt.Fprintf(c.stderr, "lighter: "+format+"\n", args...)
	fs.Usage()
	return exitUsage
}

// call runs fn with a Session and prints its result as indented JSON. It
// waits for the limiter store no longer than storeWait.
func (c *cli) call(ctx context.Context, fn func(*lighter.Session) (any, error)) int {
	cfg := c.cfg
	given := cfg.RateLimitURL
	if given == "" {
		given = lighter.DefaultRateLimitURL
	}
	cfg.RateLimitURL = boundStoreWait(cfg.RateLimitURL)
	// The bound is the command's own: errors show the URL as it was given.
	s, code := c.openSession(ctx, cfg, strings.TrimPrefix(cfg.RateLimitURL, given))
	if code >= 0 {
		return code
	}
	defer s.Close()
	out, err := fn(s)
	if err != nil {
		c.printErr(err)
		return exitCode(err)
	}
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		c.printErr(err)
		return exitFailed
	}
	return exitOK
}

func (c *cli) pools(ctx context.Context, args []string) int {
	fs := c.flags("pools", "", "Prints the metadata of every public pool, walking all pages, as JSON.")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	if fs.NArg() != 0 {
		return c.usageError(fs, "pools takes no arguments, got %q", fs.Args())
	}
	return c.call(ctx, func(s *lighter.Session) (any, error) { return s.PublicPoolsMetadata(ctx) })
}

func (c *cli) account(ctx context.Context, args []string) int {
	fs := c.flags("account", "INDEX", "Prints one account, by its index, as JSON.")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	if fs.NArg() != 1 {
		return c.usageError(fs, "account takes one INDEX, got %d arguments", fs.NArg())
	}
	index, err := atoi("account index", fs.Arg(0))
	if err != nil {
		return c.usageError(fs, "%v", err)
	}
	return c.call(ctx, func(s *lighter.Session) (any, error) { return s.Account(ctx, index) })
}

func (c *cli) get(ctx context.Context, args []string) int {
	fs := c.flags("get", "PATH [key=value ...]", "Prints the raw JSON answer of a GET, such as: lighter get /api/v1/orderBooks")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	if fs.NArg() < 1 {
		return c.usageError(fs, "get needs a PATH")
	}
	path := fs.Arg(0)
	params := url.Values{}
	for _, kv := range fs.Args()[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return c.usageError(fs, "query parameter %q is not key=value", kv)
		}
		params.Add(k, v)
	}
	return c.call(ctx, func(s *lighter.Session) (any, error) {
		var raw json.RawMessage
		err := s.GetJSON(ctx, path, params, &raw)
		return raw, err
	})
}

// status is what `limiter status` prints.
type status struct {
	Key         string  `json:"key"`
	Limit       string  `json:"limit"`
	Remaining   int     `json:"remaining"`
	NextTokenIn float64 `json:"next_token_in_seconds"`
	FullIn      float64 `json:"full_in_seconds"`
}

func (c *cli) limiter(ctx context.Context, args []string) int {
	fs := c.flags("limiter status", "[KEY]", "Prints what the limiter store says of KEY (default: the Session's key): tokens left, when the next token comes, when the bucket is full.")
	if len(args) == 0 || args[0] != "status" {
		if len(args) > 0 && (args[0] == "-help" || args[0] == "-h" || args[0] == "--help") {
			fs.Usage()
			return exitOK
		}
		return c.usageError(fs, "limiter takes the subcommand status")
	}
	if code := parse(fs, args[1:]); code >= 0 {
		return code
	}
	if fs.NArg() > 1 {
		return c.usageError(fs, "limiter status takes at most one KEY, got %q", fs.Args())
	}
	return c.call(ctx, func(s *lighter.Session) (any, error) {
		key := s.Key()
		if fs.NArg() == 1 {
			key = fs.Arg(0)
		}
		st, err := s.Limiter().Status(ctx, key, s.Limit())
		if err != nil {
			return nil, err
		}
		return status{Key: key, Limit: s.Limit().String(), Remaining: st.Remaining,
			NextTokenIn: st.NextAfter.Seconds(), FullIn: st.FullAfter.Seconds()}, nil
	})
}
