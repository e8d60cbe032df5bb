// Package redistest starts real redis-server processes for tests and
// benchmarks: each on a free 127.0.0.1 port, in a directory of the test's
// own, stopped when the test ends. It never touches port 6379 or any Redis
// it did not start.
//
// When the redis-server binary is missing, [Start] skips the test with a
// loud message; with SHAREDLIMIT_REQUIRE_REDIS=1 in the environment it fails
// the test instead, so that CI cannot pass by skipping.
//
//	srv := redistest.Start(t, redistest.Config{Conf: []string{"appendonly yes"}})
//	client := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
package redistest
