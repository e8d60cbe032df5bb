package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// fake-server answers 429 above its limit, serves its counters at /stats,
// and stops when its context ends.
func TestFakeServer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"fake-server", "--addr", "127.0.0.1:0", "--limit", "2", "--report", "0"}, pw, io.Discard,
			func(string) (string, bool) { return "", false })
		pw.Close()
	}()
	out := bufio.NewReader(pr)
	line, err := out.ReadString('\n')
	if err != nil {
		t.Fatalf("no first line: %v", err)
	}
	// "fake Lighter API on 127.0.0.1:PORT: 429 above ..."
	_, rest, ok := strings.Cut(line, " on ")
	if !ok {
		t.Fatalf("first line names no address: %q", line)
	}
	base := "http://" + strings.TrimSuffix(strings.Fields(rest)[0], ":")
	var codes []int
	for range 3 {
		resp, err := http.Get(base + "/api/v1/orderBooks")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
	}
	if codes[0] != 200 || codes[1] != 200 || codes[2] != 429 {
		t.Fatalf("statuses %v, want 200 200 429 at a limit of 2", codes)
	}
	resp, err := http.Get(base + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	var st struct{ Total, TooMany int }
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil || st.Total != 3 || st.TooMany != 1 {
		t.Fatalf("/stats: %+v, %v; want 3 requests, one 429", st, err)
	}
	cancel()
	rest2, _ := io.ReadAll(out)
	if code := <-done; code != exitOK || !strings.Contains(string(rest2), "answered 429: 1") {
		t.Fatalf("fake-server after cancel: exit %d, output %q", code, rest2)
	}
}

func TestFakeServerBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"fake-server", "--limit", "-1"},
		{"fake-server", "--jitter", "2s", "--window", "1s"},
		{"fake-server", "extra"},
	} {
		if code, _, errs := runCmd(t, nil, args...); code != exitUsage || !strings.Contains(errs, "fake-server") {
			t.Errorf("%v: exit %d, %q", args, code, errs)
		}
	}
}
