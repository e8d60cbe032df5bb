package testutil

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
)

// LogBuffer is a log kept in memory, safe for concurrent writers: an
// io.Writer, a go-redis logger (Printf) and, through Logger, a slog text
// log. The zero value is ready to use.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// Printf appends one formatted line (go-redis's logging interface).
func (b *LogBuffer) Printf(_ context.Context, format string, v ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	fmt.Fprintf(&b.buf, format+"\n", v...)
}

// String is everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Logger is a slog text log that writes to b.
func (b *LogBuffer) Logger() *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }
