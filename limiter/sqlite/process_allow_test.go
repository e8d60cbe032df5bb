package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/proctest"
	"github.com/sharedlimit/sharedlimit/limiter"
)

// TestProcessesAllowCoalesced: proctest.Coalesced (4 OS processes x 16
// goroutines in tight Allow loops on one hot key for 1.5 s, a quarter of
// the calls composites) on one file, coalescing on (the default). Without
// tolerance: N admissions of the hot key leave its row's tat at least N*T
// past the store's clock read (through a probe key's first write, tat =
// now + T) before the first decision; every window holds to the bound
// within the stamps' jitter (AllowCoalesced.Check).
func TestProcessesAllowCoalesced(t *testing.T) {
	a := proctest.Coalesced
	if c, ok := proctest.Child(); ok {
		defer c.Flush()
		if err := a.Load(c, open(t, os.Getenv(envProcPath))); err != nil {
			t.Errorf("child %d: %v", c.Index, err)
		}
		return
	}
	if testing.Short() {
		t.Skip("multi-process test skipped in -short mode")
	}
	path := filepath.Join(t.TempDir(), "rate-limit.sqlite")
	probe := limiter.Limit{Rate: 1, Period: time.Hour, Burst: 1} // a row no sweep takes
	l := open(t, path)
	spawned := time.Now()
	early := make(chan error, 1)
	go func() {
		time.Sleep(time.Until(spawned.Add(proctest.StartDelay - 10*time.Millisecond)))
		_, err := l.AllowN(context.Background(), "probe", probe, 1)
		early <- err
	}()
	all := spawnOn(t, path, a.Procs)
	if err := <-early; err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tatOf := func(key string) int64 {
		var tat int64
		if err := db.QueryRow("SELECT tat FROM sharedlimit_gcra_v1 WHERE key = ?", key).Scan(&tat); err != nil {
			t.Fatalf("row %s: %v", key, err)
		}
		return tat
	}
	before := tatOf("probe") - probe.Interval().Microseconds()
	a.Check(t, all, tatOf("hot")-before)
}
