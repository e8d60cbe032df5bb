package retrypolicy

import (
	"io"
)

const (
	// maxDrain bounds how much of a retried response's body is read so that
	// its connection can be reused; a longer body closes the connection
	// instead, which is cheaper than reading megabytes of an error page.
	maxDrain = 64 << 10
)

// MaxBodyExcerpt bounds Error.Body, the excerpt of the last response.
const MaxBodyExcerpt = 512

// drainClose reads what is left of body, up to maxDrain, and closes it:
// net/http returns a connection to its pool only when the body was read to
// its end before Close.
func drainClose(body io.ReadCloser) {
	if body == nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(body, maxDrain))
	_ = body.Close()
}

// excerpt returns up to MaxBodyExcerpt bytes of body, then drains and
// closes it.
func excerpt(body io.ReadCloser) []byte {
	if body == nil {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(body, MaxBodyExcerpt))
	drainClose(body)
	return b
}
