package retrypolicy

import (
	"io"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/bodyread"
)

const (
	// maxDrain bounds how much of a retried response's body is read so that
	// its connection can be reused; a longer body closes the connection
	// instead, which is cheaper than reading megabytes of an error page.
	maxDrain = 64 << 10
	// drainTimeout bounds the time spent reading a body that is only
	// drained or excerpted: a server that trickles an endless body must
	// not hold the retry (64 KiB at a byte a second is 18 hours).
	drainTimeout = time.Second
)

// MaxBodyExcerpt bounds Error.Body, the excerpt of the last response.
const MaxBodyExcerpt = 512

// drainClose reads what is left of body, up to maxDrain and drainTimeout,
// and closes it.
func drainClose(body io.ReadCloser) { bodyread.Drain(body, maxDrain, drainTimeout) }

// excerpt returns up to MaxBodyExcerpt bytes of body, then drains and
// closes it, each within drainTimeout.
func excerpt(body io.ReadCloser) []byte {
	return bodyread.Excerpt(body, MaxBodyExcerpt, maxDrain, drainTimeout)
}
