package bodyread

import (
	"io"
	"time"
)

// Excerpt returns up to max bytes of body read within timeout, then
// drains up to drain bytes more within a second timeout and closes body.
func Excerpt(body io.ReadCloser, max, drain int64, timeout time.Duration) []byte {
	if body == nil {
		return nil
	}
	stop := closeAfter(body, timeout)
	b, _ := io.ReadAll(io.LimitReader(body, max))
	stop()
	Drain(body, drain, timeout)
	return b
}

// Drain reads what is left of body, up to max bytes and timeout, and
// closes it: net/http returns a connection to its pool only when the body
// was read to its end before Close; past either bound the connection is
// closed with the body, which is cheaper than waiting.
func Drain(body io.ReadCloser, max int64, timeout time.Duration) {
	if body == nil {
		return
	}
	stop := closeAfter(body, timeout)
	_, _ = io.Copy(io.Discard, io.LimitReader(body, max))
	stop()
	_ = body.Close()
}

// closeAfter closes body after d, which ends a Read blocked on it (an
// http.Response body may be closed while another goroutine reads it);
// stop cancels that, or waits until the Close that started has returned.
func closeAfter(body io.Closer, d time.Duration) (stop func()) {
	done := make(chan struct{})
	t := time.AfterFunc(d, func() {
		defer close(done)
		_ = body.Close()
	})
	return func() {
		if !t.Stop() {
			<-done
		}
	}
}
