package bodyread

import (
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// endless yields prefix, then blocks in Read until it is closed.
type endless struct {
	r      io.Reader
	once   sync.Once
	closed chan struct{}
}

func newEndless(prefix string) *endless {
	return &endless{r: strings.NewReader(prefix), closed: make(chan struct{})}
}

func (e *endless) Read(p []byte) (int, error) {
	if n, _ := e.r.Read(p); n > 0 {
		return n, nil
	}
	<-e.closed
	return 0, io.ErrClosedPipe
}

func (e *endless) Close() error { e.once.Do(func() { close(e.closed) }); return nil }

func TestExcerptOfEndlessBody(t *testing.T) {
	b := newEndless("hello")
	got := Excerpt(b, 512, 1<<20, 20*time.Millisecond)
	if string(got) != "hello" {
		t.Fatalf("Excerpt = %q, want what came before the body stalled", got)
	}
	select {
	case <-b.closed:
	default:
		t.Fatal("the body is not closed")
	}
}

func TestExcerptBounds(t *testing.T) {
	got := Excerpt(io.NopCloser(strings.NewReader(strings.Repeat("y", 2000))), 512, 1<<20, time.Second)
	if len(got) != 512 {
		t.Fatalf("Excerpt took %d bytes, want 512", len(got))
	}
	Drain(nil, 1, time.Second)
	if Excerpt(nil, 1, 1, time.Second) != nil {
		t.Fatal("Excerpt(nil) not nil")
	}
}
