package lighter

import (
	"context"
	"errors"
	"fmt"
	"iter"
)

// DefaultMaxPages bounds AllTrades when its maxPages is 0 or less.
const DefaultMaxPages = 1000

// ErrTooManyPages is matched by the error of AllTrades and
// PublicPoolsMetadata when their page bound is reached with pages still
// to come.
var ErrTooManyPages = errors.New("lighter: too many pages")

// AllTrades pages through /api/v1/trades from q (q.Cursor, if set, is the
// first page's cursor), yielding every trade in order. It stops at the
// last page (no NextCursor), on an empty page, or when Lighter hands back
// a cursor it gave before (paging on would repeat trades). It asks for
// at most maxPages pages (DefaultMaxPages when maxPages <= 0); reaching
// the bound with a cursor left yields an error matching ErrTooManyPages.
// An invalid query, a failed page or the end of ctx is yielded as the
// error of the last pair; breaking out of the loop stops the paging.
func (s *Session) AllTrades(ctx context.Context, q TradesQuery, maxPages int) iter.Seq2[Trade, error] {
	if maxPages <= 0 {
		maxPages = DefaultMaxPages
	}
	return func(yield func(Trade, error) bool) {
		if _, err := q.params(); err != nil {
			yield(Trade{}, err)
			return
		}
		seen := map[string]bool{}
		if q.Cursor != "" {
			seen[q.Cursor] = true
		}
		for page := 0; ; page++ {
			if page == maxPages {
				yield(Trade{}, fmt.Errorf("%w: %d pages of trades read and a next cursor %q left (raise maxPages)", ErrTooManyPages, maxPages, q.Cursor))
				return
			}
			if err := ctx.Err(); err != nil {
				yield(Trade{}, fmt.Errorf("lighter: trades: %w", err))
				return
			}
			got, err := s.Trades(ctx, q)
			if err != nil {
				yield(Trade{}, err)
				return
			}
			for _, t := range got.Trades {
				if !yield(t, nil) {
					return
				}
			}
			next := got.NextCursor
			if len(got.Trades) == 0 || next == "" || seen[next] {
				return
			}
			seen[next] = true
			q.Cursor = next
		}
	}
}
