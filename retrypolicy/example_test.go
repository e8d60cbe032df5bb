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
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "hello")
	}))
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

	resp, err := client.Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
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
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return
		}
		fmt.Fprint(w, "hello")
	}))
	defer srv.Close()

	policy, err := retrypolicy.New(retrypolicy.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println(err)
		return
	}
	client := &http.Client{Transport: failsafehttp.NewRoundTripper(nil, policy)}

	resp, err := client.Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body), calls.Load())
	// Output:
	// 200 hello 2
}
