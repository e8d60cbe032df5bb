package driver

// Stats counts a store's traffic: the requests it was given, and the
// round trips (a Redis script call or pipeline, a SQLite transaction) it
// made for them. With coalescing, one round trip decides many requests.
type Stats struct {
	// Requests is how many requests the store was given.
	Requests int64
	// RoundTrips is how many round trips it made for them.
	RoundTrips int64
}

// StatsReporter is an optional capability of a Store that counts its
// traffic; [limiter.Handle.Stats] reports it.
//
// [limiter.Handle.Stats]: https://pkg.go.dev/github.com/sharedlimit/sharedlimit/limiter#Handle.Stats
type StatsReporter interface {
	Stats() Stats
}
