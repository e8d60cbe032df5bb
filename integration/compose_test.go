package integration

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/sharedlimit/sharedlimit/lighter"
	"github.com/sharedlimit/sharedlimit/limiter"
)

// composeFile is the part of docker-compose.yml the test reads.
type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Build       any               `yaml:"build"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Deploy      struct {
			Replicas int `yaml:"replicas"`
		} `yaml:"deploy"`
		DependsOn map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
	} `yaml:"services"`
}

// TestCompose checks the multi-host demo without a container engine:
// docker-compose.yml parses, has redis (7, AOF always), the fake Lighter
// API and 3 worker replicas built from the repository's Dockerfile, which
// builds ./cmd/lighter; the workers' environment is a valid lighter
// configuration sharing redis://redis:6379/0, and their command is a
// loadtest of the fake API at the address it listens on; and the
// commands the services run exist in cmd/lighter.
func TestCompose(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	for _, name := range []string{"redis", "fake-lighter", "worker"} {
		if _, ok := c.Services[name]; !ok {
			t.Fatalf("docker-compose.yml has no service %q (has %v)", name, slices.Sorted(maps.Keys(c.Services)))
		}
	}

	redis := c.Services["redis"]
	if !strings.HasPrefix(redis.Image, "redis:7") {
		t.Errorf("redis image %q, want redis:7", redis.Image)
	}
	if cmd := strings.Join(redis.Command, " "); !strings.Contains(cmd, "--appendonly yes") || !strings.Contains(cmd, "--appendfsync always") {
		t.Errorf("redis command %q: want --appendonly yes --appendfsync always", cmd)
	}

	fake := c.Services["fake-lighter"]
	if len(fake.Command) == 0 || fake.Command[0] != "fake-server" {
		t.Errorf("fake-lighter command %q: want lighter fake-server", fake.Command)
	}
	if got := flagValue(fake.Command, "--limit"); got != "20" {
		t.Errorf("fake-lighter --limit %q, want 20", got)
	}
	addr := flagValue(fake.Command, "--addr")
	_, port, _ := strings.Cut(addr, ":")

	w := c.Services["worker"]
	if w.Deploy.Replicas != 3 {
		t.Errorf("worker replicas %d, want 3", w.Deploy.Replicas)
	}
	if got := w.Environment[lighter.EnvRateLimitURL]; got != "redis://redis:6379/0" {
		t.Errorf("worker %s=%q, want redis://redis:6379/0", lighter.EnvRateLimitURL, got)
	}
	cfg, err := lighter.Config{}.WithEnv(func(k string) (string, bool) { v, ok := w.Environment[k]; return v, ok })
	if err != nil {
		t.Errorf("worker environment: %v", err)
	}
	if cfg.RequestsPerSecond != rate || cfg.Burst != 1 {
		t.Errorf("worker limit %v per second, burst %d: want %d, burst 1 (the fake API's limit)", cfg.RequestsPerSecond, cfg.Burst, rate)
	}
	// The URL opens (Redis is not contacted until the first call).
	if l, err := limiter.Open(context.Background(), cfg.RateLimitURL); err != nil {
		t.Errorf("worker %s: %v", lighter.EnvRateLimitURL, err)
	} else {
		l.Close()
	}
	if len(w.Command) == 0 || w.Command[0] != "loadtest" {
		t.Errorf("worker command %q: want lighter loadtest", w.Command)
	}
	if want := "http://fake-lighter:" + port + "/api/v1/orderBooks"; flagValue(w.Command, "--url") != want {
		t.Errorf("worker --url %q, want %q (the fake API's --addr %q)", flagValue(w.Command, "--url"), want, addr)
	}
	if n, _ := strconv.Atoi(flagValue(w.Command, "--workers")); n != goroutines {
		t.Errorf("worker --workers %q, want %d", flagValue(w.Command, "--workers"), goroutines)
	}
	if flagValue(w.Command, "--duration") == "" {
		t.Errorf("worker command %q has no --duration", w.Command)
	}
	for dep, cond := range map[string]string{"redis": "service_healthy", "fake-lighter": "service_started"} {
		if got := w.DependsOn[dep].Condition; got != cond {
			t.Errorf("worker depends_on %s: condition %q, want %q", dep, got, cond)
		}
	}

	// Both lighter services are built from the repository's Dockerfile.
	for _, name := range []string{"fake-lighter", "worker"} {
		if ctx, ok := c.Services[name].Build.(string); !ok || ctx != "." {
			t.Errorf("service %s: build %v, want the repository root (\".\")", name, c.Services[name].Build)
		}
	}
	df, err := os.ReadFile(filepath.Join("..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^FROM golang:1\.26\b`).Match(df) {
		t.Errorf("Dockerfile does not build FROM golang:1.26")
	}
	if !regexp.MustCompile(`(?m)^RUN .*go build .*\./cmd/lighter\s*$`).Match(df) {
		t.Errorf("Dockerfile does not go build ./cmd/lighter")
	}
	if !regexp.MustCompile(`(?m)^ENTRYPOINT \[".*lighter"\]`).Match(df) {
		t.Errorf("Dockerfile's ENTRYPOINT is not the lighter binary")
	}

	// The commands exist in cmd/lighter: a key of its commands map each.
	cmds := cliCommands(t)
	for _, name := range []string{fake.Command[0], w.Command[0]} {
		if !cmds[name] {
			t.Errorf("cmd/lighter has no command %q (it has %v)", name, slices.Sorted(maps.Keys(cmds)))
		}
	}
}

// flagValue returns the argument after flag in args.
func flagValue(args []string, flag string) string {
	if i := slices.Index(args, flag); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

// cliCommands returns the command names of cmd/lighter: the string keys
// of its commands map (main.go).
func cliCommands(t *testing.T) map[string]bool {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filepath.Join("..", "cmd", "lighter", "main.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	cmds := map[string]bool{}
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.VAR {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if name.Name != "commands" || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.CompositeLit)
				if !ok {
					continue
				}
				for _, e := range lit.Elts {
					kv, ok := e.(*ast.KeyValueExpr)
					if !ok {
						continue
					}
					if key, ok := kv.Key.(*ast.BasicLit); ok && key.Kind == token.STRING {
						if s, err := strconv.Unquote(key.Value); err == nil {
							cmds[s] = true
						}
					}
				}
			}
		}
	}
	if len(cmds) == 0 {
		t.Fatal("found no commands in cmd/lighter/main.go's commands map")
	}
	return cmds
}
