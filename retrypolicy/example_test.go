package retrypolicy_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"

	"github.com/failsafe-go/failsafe-go/failsafehttp"

	"github.com/sharedlimit/sharedlimit/retrypolicy"
)

// The retry transport on an http.Client: the server is busy once, then
// answers. The first retry follows at once (urllib3's backoff sleeps 0, 1,
// 2, 4, 8 s), so the example does not wait.
func ExampleNewTransport() {
	srv, _ := busyOnce(http.StatusServiceUnavailable)
	defer srv.Close()

	rt, err := retrypolicy.NewTransport(nil, retrypolicy.Config{
		Logger: slog.New(slog.DiscardHandler),
		OnRetry: func(ev retrypolicy.RetryEvent) {
			fmt.Printf("attempt %d got %d, retrying in %v\n", ev.Attempt, ev.StatusCode, ev.Delay)
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	client := &http.Client{Transport: rt}

	status, body, err := get(client, srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(status, body)
	// Output:
	// attempt 1 got 503, retrying in 0s
	// 200 hello
}

// When the retries run out, the call fails with an *Error that tells the
// last status and the start of the last body.
func ExampleError() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprint(w, "upstream down")
	}))
	defer srv.Close()

	rt, err := retrypolicy.NewTransport(nil, retrypolicy.Config{
		Retries: 1, // two attempts, and no sleep before the first retry
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	client := &http.Client{Transport: rt}

	_, err = client.Get(srv.URL)
	var e *retrypolicy.Error
	if errors.As(err, &e) {
		fmt.Printf("%s after %d attempts: %d %q\n", e.Method, e.Attempts, e.StatusCode, e.Body)
	}
	// Output:
	// GET after 2 attempts: 502 "upstream down"
}

// The policy alone, composed by failsafehttp (perhaps with other failsafe
// policies). NewTransport adds the method rule and the final *Error.
func ExampleNew() {
	srv, calls := busyOnce(http.StatusTooManyRequests)
	defer srv.Close()

	policy, err := retrypolicy.New(retrypolicy.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println(err)
		return
	}
	client := &http.Client{Transport: failsafehttp.NewRoundTripper(nil, policy)}

	status, body, err := get(client, srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(status, body, calls.Load())
	// Output:
	// 200 hello 2
}

// busyOnce is a server that answers its first request with status and
// every later one with "hello"; calls counts the requests.
func busyOnce(status int) (srv *httptest.Server, calls *atomic.Int32) {
	calls = new(atomic.Int32)
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			http.Error(w, http.StatusText(status), status)
			return
		}
		fmt.Fprint(w, "hello")
	}))
	return srv, calls
}

// get returns the status and body of a GET of url through client.
func get(client *http.Client, url string) (int, string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}
