package testutil

import (
	"io"
	"net/http"
	"sync/atomic"
)

// BodyCounter is an http.RoundTripper over Next that counts the requests
// it sends (Attempts), the response bodies it hands out (Opened), those not
// closed yet (Open) and the bytes read from them (Read), so that a test can
// check that every body is closed. It is safe for concurrent use.
type BodyCounter struct {
	Next                   http.RoundTripper
	Attempts, Opened, Open atomic.Int64
	Read                   atomic.Int64
}

// RoundTrip sends req through Next and counts the response's body.
func (c *BodyCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	c.Attempts.Add(1)
	resp, err := c.Next.RoundTrip(req)
	if resp != nil {
		c.Opened.Add(1)
		c.Open.Add(1)
		resp.Body = &countedBody{ReadCloser: resp.Body, c: c}
	}
	return resp, err
}

type countedBody struct {
	io.ReadCloser
	c      *BodyCounter
	closed atomic.Bool
}

func (b *countedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.c.Read.Add(int64(n))
	return n, err
}

func (b *countedBody) Close() error {
	if b.closed.CompareAndSwap(false, true) {
		b.c.Open.Add(-1)
	}
	return b.ReadCloser.Close()
}
