package lighter_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/testutil"
	"github.com/sharedlimit/sharedlimit/lighter"
)

// cursorServer answers /api/v1/trades with page(n, cursor asked for),
// n counting from 1, and counts the pages.
func cursorServer(t *testing.T, page func(n int64, cursor string) string) (*lighter.Session, *atomic.Int64, *testutil.BodyCounter) {
	t.Helper()
	var pages atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(page(pages.Add(1), r.URL.Query().Get("cursor"))))
	}))
	t.Cleanup(srv.Close)
	bodies := &testutil.BodyCounter{Next: http.DefaultTransport}
	s := newSession(t, lighter.Config{APIURL: srv.URL, RateLimitURL: "memory://", RequestsPerSecond: 1e5, Burst: 1000, Retries: lighter.NoRetries, Base: bodies})
	return s, &pages, bodies
}

func tradePage(next string, ids ...int64) string {
	b := fmt.Sprintf(`{"code":200,"next_cursor":%q,"trades":[`, next)
	for i, id := range ids {
		if i > 0 {
			b += ","
		}
		b += fmt.Sprintf(`{"trade_id":%d}`, id)
	}
	return b + "]}"
}

// drain ranges over AllTrades, stopping after stopAfter trades (0: never),
// and returns the trade ids and the error yielded.
func drain(ctx context.Context, s *lighter.Session, maxPages, stopAfter int) (ids []int64, err error) {
	for tr, e := range s.AllTrades(ctx, lighter.TradesQuery{SortBy: "trade_id", Limit: 2}, maxPages) {
		if e != nil {
			return ids, e
		}
		ids = append(ids, tr.TradeID)
		if len(ids) == stopAfter {
			break
		}
	}
	return ids, nil
}

// Cursors that cycle (A, B, A) stop the paging at the first one seen
// again: no page is read twice.
func TestAllTradesCursorCycle(t *testing.T) {
	s, pages, bodies := cursorServer(t, func(n int64, cursor string) string {
		next := map[string]string{"": "A", "A": "B", "B": "A"}[cursor]
		return tradePage(next, 10*n, 10*n-1)
	})
	ids, err := drain(context.Background(), s, 0, 0)
	if err != nil || len(ids) != 6 || pages.Load() != 3 {
		t.Fatalf("ids %v, %d pages, %v: want 3 pages (first, A, B) and to stop at A again", ids, pages.Load(), err)
	}
	if n := bodies.Open.Load(); n != 0 {
		t.Fatalf("%d bodies open", n)
	}
}

// A server handing out a new cursor forever is read for maxPages pages,
// DefaultMaxPages when 0, then ErrTooManyPages.
func TestAllTradesEndlessCursors(t *testing.T) {
	for _, tc := range []struct{ maxPages, want int }{{7, 7}, {0, lighter.DefaultMaxPages}, {-3, lighter.DefaultMaxPages}} {
		t.Run(fmt.Sprint(tc.maxPages), func(t *testing.T) {
			s, pages, bodies := cursorServer(t, func(n int64, cursor string) string {
				return tradePage(fmt.Sprintf("c%d", n), n)
			})
			ids, err := drain(context.Background(), s, tc.maxPages, 0)
			if !errors.Is(err, lighter.ErrTooManyPages) || len(ids) != tc.want || pages.Load() != int64(tc.want) {
				t.Fatalf("%d trades, %d pages, %v: want %d and ErrTooManyPages", len(ids), pages.Load(), err, tc.want)
			}
			if n := bodies.Open.Load(); n != 0 {
				t.Fatalf("%d bodies open", n)
			}
		})
	}
}

// Breaking out in the middle of a page asks for no other page and leaves
// no body open.
func TestAllTradesBreakMidPage(t *testing.T) {
	s, pages, bodies := cursorServer(t, func(n int64, cursor string) string {
		return tradePage(fmt.Sprintf("c%d", n), 3*n, 3*n-1, 3*n-2)
	})
	ids, err := drain(context.Background(), s, 0, 4)
	if err != nil || len(ids) != 4 || pages.Load() != 2 {
		t.Fatalf("ids %v, %d pages, %v: want 4 trades from 2 pages", ids, pages.Load(), err)
	}
	if n := bodies.Open.Load(); n != 0 {
		t.Fatalf("%d bodies open", n)
	}
}

// A context ending while a page is being fetched ends the iteration with
// the context's error, at once, the body closed.
func TestAllTradesContextMidRequest(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, pages, bodies := cursorServer(t, func(n int64, cursor string) string {
		if n == 2 {
			cancel()
			select { // hold the answer until the test ends
			case <-release:
			case <-time.After(10 * time.Second):
			}
		}
		return tradePage(fmt.Sprintf("c%d", n), n)
	})
	start := time.Now()
	ids, err := drain(ctx, s, 0, 0)
	if !errors.Is(err, context.Canceled) || len(ids) != 1 || pages.Load() != 2 {
		t.Fatalf("ids %v, %d pages, %v: want 1 trade, then context.Canceled on the second page", ids, pages.Load(), err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %s: the canceled request was waited for", d)
	}
	if n := bodies.Open.Load(); n != 0 {
		t.Fatalf("%d bodies open", n)
	}
}

// A failing page ends the iteration with its error, after the trades of
// the pages before it.
func TestAllTradesPageError(t *testing.T) {
	s, pages, _ := cursorServer(t, func(n int64, cursor string) string {
		if n == 2 {
			return `{"code":20001,"message":"invalid cursor"}`
		}
		return tradePage("c1", 1, 2)
	})
	ids, err := drain(context.Background(), s, 0, 0)
	var ae *lighter.APIError
	if !errors.As(err, &ae) || ae.Code != 20001 || len(ids) != 2 || pages.Load() != 2 {
		t.Fatalf("ids %v, %d pages, %v: want 2 trades then the APIError", ids, pages.Load(), err)
	}
}
