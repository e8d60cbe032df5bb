package limiter_test

import (
	"context"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/memory"
)

// TestTransportHugeRetryAfterUncappedHolds: with MaxHold set to "no cap"
// (the largest Duration), a hostile Retry-After of 10^30 seconds, or an
// HTTP date far in the future, still holds the key, for the longest hold
// a Limiter takes, and is not refused as an invalid Hold that leaves the
// key free (found by the issue 13 review: the Hold failed with
// ErrInvalidArgument and the next request went straight out).
func TestTransportHugeRetryAfterUncappedHolds(t *testing.T) {
	for _, ra := range []string{"1000000000000000000000000000000", "Fri, 31 Dec 9999 23:59:59 GMT"} {
		t.Run(ra, func(t *testing.T) {
			lim := memory.New()
			defer lim.Close()
			srv, _ := server(t, 429, http.Header{"Retry-After": {ra}})
			rec := &recorder{}
			tr := &limiter.Transport{Limiter: lim, Limit: limiter.PerSecond(10), MaxHold: math.MaxInt64, Observer: rec}
			resp := want429(t, context.Background(), tr, srv.URL)
			tr.Close()
			if failed := rec.errs(limiter.EventStoreError); len(failed) > 0 {
				t.Fatalf("the hold failed: %v", failed)
			}
			st, err := lim.Status(context.Background(), limiter.HostKey(resp.Request), limiter.PerSecond(10))
			if err != nil {
				t.Fatal(err)
			}
			if st.NextAfter < 365*24*time.Hour {
				t.Fatalf("key free again after %s, want it held for years", st.NextAfter)
			}
		})
	}
}
