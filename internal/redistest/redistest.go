package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Environment variables read by this package.
const (
	// EnvRequire set to "1" turns a missing redis-server into a test
	// failure instead of a skip.
	EnvRequire = "SHAREDLIMIT_REQUIRE_REDIS"
	// EnvBinary names the redis-server binary to run. The default value
	// is "redis-server", looked up in PATH.
	EnvBinary = "SHAREDLIMIT_REDIS_SERVER"
)

// StartTimeout bounds how long Start waits for a new server to answer PING.
const StartTimeout = 10 * time.Second

// Config is what a Server runs with. The zero value is a plain server
// without persistence.
type Config struct {
	// Conf holds extra redis.conf lines, such as "appendonly yes" or
	// "cluster-enabled yes". They come after the defaults (port, bind,
	// dir, no RDB snapshots), so they can override them.
	Conf []string
	// Args are extra command-line arguments after the config file, such
	// as "--sentinel".
	Args []string
	// Password, when set, is written as "requirepass" and used by the
	// readiness PING.
	Password string
}

// Server is one redis-server process started by Start.
type Server struct {
	tb   testing.TB
	bin  string
	cfg  Config
	dir  string
	port int

	mu   sync.Mutex
	cmd  *exec.Cmd
	exit chan struct{} // closed when cmd has exited
}

// Binary returns the path of the redis-server binary, or skips tb (fails it
// when SHAREDLIMIT_REQUIRE_REDIS=1) when there is none.
func Binary(tb testing.TB) string {
	tb.Helper()
	name := os.Getenv(EnvBinary)
	if name == "" {
		name = "redis-server"
	}
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	missing(tb, fmt.Sprintf("%s (%v)", name, err))
	return ""
}

// missing skips tb, or fails it when SHAREDLIMIT_REQUIRE_REDIS=1, for a
// missing binary.
func missing(tb testing.TB, what string) {
	tb.Helper()
	msg := fmt.Sprintf("redistest: %s not found: tests against a real Redis are NOT RUN; "+
		"install redis-server (apt-get install redis-server) or set %s, and set %s=1 to make this a failure",
		what, EnvBinary, EnvRequire)
	if os.Getenv(EnvRequire) == "1" {
		tb.Fatal(msg)
	}
	warnOnce.Do(func() { fmt.Fprintln(os.Stderr, "*** "+msg+" ***") })
	tb.Skip(msg)
}

var warnOnce sync.Once

// shm is the memory-backed file system dataDir prefers.
const shm = "/dev/shm"

// dataDir is a new directory for a server's config, data and log, removed
// when tb ends: under /dev/shm where there is one, so that a server's
// fsyncs (appendfsync always: one before every reply) go to memory, not to
// a shared disk whose latency spikes stretch a round trip between a
// script's run and its reply by hundreds of milliseconds; tb.TempDir()
// elsewhere. Files there outlive the server's process, as on a disk, so a
// server killed and started again finds its data.
func dataDir(tb testing.TB) string {
	if fi, err := os.Stat(shm); err == nil && fi.IsDir() {
		if d, err := os.MkdirTemp(shm, "sharedlimit-redis-"); err == nil {
			tb.Cleanup(func() { _ = os.RemoveAll(d) })
			return d
		}
	}
	return tb.TempDir()
}

// Start runs a redis-server with cfg on a free 127.0.0.1 port in a
// directory of its own (see dataDir), waits until it answers PING, and
// stops it when tb ends. It skips or fails tb when there is no binary (see
// Binary) and fails tb when the server does not come up.
func Start(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	s := &Server{tb: tb, bin: Binary(tb), cfg: cfg, dir: dataDir(tb)}
	var err error
	// A free port can be taken by someone else between our probe and the
	// server's bind: try a few.
	for range 5 {
		if s.port, err = freePort(); err != nil {
			continue
		}
		if err = s.start(); err == nil {
			break
		}
	}
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Errorf("redistest: %v", err)
		}
	})
	return s
}

// Addr is the server's "127.0.0.1:port".
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Port is the server's port. It stays the same across Restart.
func (s *Server) Port() int { return s.port }

// Dir is the server's working directory (config, data and log).
func (s *Server) Dir() string { return s.dir }

// URL is "redis://127.0.0.1:port", with the password when there is one.
func (s *Server) URL() string {
	if s.cfg.Password != "" {
		return "redis://:" + s.cfg.Password + "@" + s.Addr()
	}
	return "redis://" + s.Addr()
}

// Log returns the server's log file so far, for failure messages.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	return string(b)
}

// Running reports whether the process is alive.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.exit:
		return false
	default:
		return true
	}
}

// Stop shuts the server down (SIGTERM, then SIGKILL after 5 s) and waits
// for it to exit. Stopping a stopped server does nothing.
func (s *Server) Stop() error { return s.stop(syscall.SIGTERM) }

// Kill ends the server at once with SIGKILL, as a crash would: what was
// not yet persisted is lost.
func (s *Server) Kill() error { return s.stop(syscall.SIGKILL) }

// Start starts a stopped server again on the same port and directory, so
// that persisted data (AOF, RDB) is loaded, and waits until it answers
// PING.
func (s *Server) Start() error {
	if s.Running() {
		return errors.New("redistest: Start: the server is running")
	}
	return s.start()
}

// Restart is Stop then Start.
func (s *Server) Restart() error {
	if err := s.Stop(); err != nil {
		return err
	}
	return s.start()
}

func (s *Server) stop(sig syscall.Signal) error {
	s.mu.Lock()
	cmd, exit := s.cmd, s.exit
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exit:
		return nil
	case <-time.After(5 * time.Second):
	}
	_ = cmd.Process.Kill()
	select {
	case <-exit:
		return fmt.Errorf("redis-server on %s ignored %v for 5 s and was killed", s.Addr(), sig)
	case <-time.After(5 * time.Second):
		return fmt.Errorf("redis-server on %s (pid %d) would not die", s.Addr(), cmd.Process.Pid)
	}
}

func (s *Server) confPath() string { return filepath.Join(s.dir, "redis.conf") }

func (s *Server) writeConf() error {
	if s.port == 6379 {
		return errors.New("refusing port 6379")
	}
	lines := []string{
		"port " + strconv.Itoa(s.port),
		"bind 127.0.0.1",
		"protected-mode no",
		"daemonize no",
		"dir " + strconv.Quote(s.dir),
		"logfile redis.log",
		`save ""`,
		"appendonly no",
	}
	if s.cfg.Password != "" {
		lines = append(lines, "requirepass "+s.cfg.Password)
	}
	lines = append(lines, s.cfg.Conf...)
	return os.WriteFile(s.confPath(), []byte(strings.Join(lines, "\n")+"\n"), 0o600)
}

func (s *Server) start() error {
	if err := s.writeConf(); err != nil {
		return err
	}
	args := append([]string{s.confPath()}, s.cfg.Args...)
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.dir
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %v", s.bin, err)
	}
	exit := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exit) }()
	s.mu.Lock()
	s.cmd, s.exit = cmd, exit
	s.mu.Unlock()
	deadline := time.Now().Add(StartTimeout)
	for {
		select {
		case <-exit:
			s.mu.Lock()
			s.cmd = nil
			s.mu.Unlock()
			return fmt.Errorf("redis-server on port %d exited at start:\n%s", s.port, tail(s.Log()))
		default:
		}
		if err := Ping(s.Addr(), s.cfg.Password); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			_ = s.Kill()
			return fmt.Errorf("redis-server on port %d does not answer PING after %s: %v\n%s", s.port, StartTimeout, err, tail(s.Log()))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Ping sends PING (after AUTH when password is set) to addr over a new
// connection and reports an error unless the answer is PONG.
func Ping(addr, password string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	r := bufio.NewReader(conn)
	if password != "" {
		if _, err := fmt.Fprintf(conn, "*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n", len(password), password); err != nil {
			return err
		}
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if !strings.HasPrefix(line, "+OK") {
			return errors.New("AUTH refused") // never echo a password-related reply
		}
	}
	if _, err := conn.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return err
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if line = strings.TrimSpace(line); line != "+PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// freePort asks the kernel for a free 127.0.0.1 port.
func freePort() (int, error) {
	for range 10 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if port != 6379 {
			return port, nil
		}
	}
	return 0, errors.New("no free port")
}

func tail(s string) string {
	const keep = 3000
	if len(s) > keep {
		return s[len(s)-keep:]
	}
	return s
}
