package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// Do sends one command to addr over a new connection (after AUTH when
// password is set) and returns its reply as text: a status or a bulk
// string as it is, an integer in decimal, an array as its elements joined
// by newlines (nested arrays flattened), nil as "". A Redis error reply is
// returned as an error.
func Do(addr, password string, args ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(conn)
	if password != "" {
		if _, err := conn.Write(command("AUTH", password)); err != nil {
			return "", err
		}
		if _, err := readReply(r); err != nil {
			return "", errors.New("AUTH refused") // never echo a password-related reply
		}
	}
	if _, err := conn.Write(command(args...)); err != nil {
		return "", err
	}
	return readReply(r)
}

func command(args ...string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return []byte(b.String())
}

func readReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", errors.New(line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", err
		}
		parts := make([]string, 0, n)
		for range n {
			s, err := readReply(r)
			if err != nil {
				return "", err
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, "\n"), nil
	}
	return "", fmt.Errorf("unexpected reply %q", line)
}

// WaitFor polls cond every 50 ms until it returns true, and fails tb after
// timeout, naming what.
func WaitFor(tb testingTB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("redistest: %s: not after %s", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// testingTB is the part of testing.TB that WaitFor uses.
type testingTB interface {
	Helper()
	Fatalf(format string, args ...any)
}
