package retrypolicy

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: a sleep
// that outlives its request, a connection nobody closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
