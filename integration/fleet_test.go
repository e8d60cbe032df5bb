package integration

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/redistest"
)

// fleetDuration is the length of the main runs.
const fleetDuration = 10 * time.Second

// backend is a shared store for a fleet: it starts the store for t and
// returns the limiter URL.
type backend struct {
	name  string
	start func(t *testing.T) string
}

var backends = []backend{
	{"sqlite", func(t *testing.T) string {
		return "sqlite://" + filepath.ToSlash(filepath.Join(t.TempDir(), "rate-limit.sqlite"))
	}},
	{"redis", func(t *testing.T) string {
		return redistest.Start(t, redistest.Config{}).URL() + "/0?prefix=it:"
	}},
	{"miniredis", func(t *testing.T) string {
		return "redis://" + startMiniredisProc(t, 0) + "/0?prefix=it:"
	}},
}

// TestFleet is the main run, for each shared store: 3 worker
// processes x 8 goroutines, each process with its own lighter.Session at
// 20 requests per second with burst 1, against a fake Lighter API that
// answers 429 above 20 requests in any rolling second, for 10 s. No 429,
// no window over the limit (of one interval, ten, one second and the whole
// run: see checkBudget), at least 99 % of the budget used from the first
// admission to the last, and every call accounted for: answered, or failed
// with a reason (the only one allowed: its slot came after the end of the
// run), and the server saw exactly the attempts the workers made.
func TestFleet(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			if workerChild(t) {
				return
			}
			t.Parallel()
			srv := newAPI(t)
			f := startFleet(t, srv, b.start(t), 3, fleetDuration, nil)
			rs := f.wait()
			s := f.checkAccounted(rs, reasonRunEnded)
			f.checkBudget(rs)
			f.checkUsage(rs, 0, fleetDuration)
			st := srv.Stats()
			t.Logf("%s: %s; server: %d requests, %d answered 429", b.name, s, st.Total, st.TooMany)
		})
	}
}
