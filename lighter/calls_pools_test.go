package lighter_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sharedlimit/sharedlimit/lighter"
	"github.com/sharedlimit/sharedlimit/lighter/lightertest"
)

// callsSession starts a fake Lighter for opts and a Session on it with a
// generous in-memory limit and no retries; both are closed when the test
// ends.
func callsSession(t *testing.T, opts lightertest.Options, edit ...func(*lighter.Config)) (*lighter.Session, *lightertest.Server) {
	t.Helper()
	srv := lightertest.NewServer(opts)
	t.Cleanup(srv.Close)
	cfg := lighter.Config{
		APIURL:            srv.URL,
		RateLimitURL:      "memory://",
		RequestsPerSecond: 1000,
		Burst:             100,
		Retries:           lighter.NoRetries,
	}
	for _, e := range edit {
		e(&cfg)
	}
	s, err := lighter.NewSession(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, srv
}

// pageQueries returns the index asked for by each publicPoolsMetadata
// request, checking the other parameters are the original's.
func pageQueries(t *testing.T, srv *lightertest.Server) []int64 {
	t.Helper()
	var idx []int64
	for _, r := range srv.Requests() {
		if r.Path != lighter.PathPublicPoolsMetadata {
			continue
		}
		if r.Query.Get("filter") != "all" || r.Query.Get("limit") != "100" {
			t.Fatalf("page query %v, want filter=all and limit=100", r.Query)
		}
		n, err := strconv.ParseInt(r.Query.Get("index"), 10, 64)
		if err != nil {
			t.Fatalf("page query %v: %v", r.Query, err)
		}
		idx = append(idx, n)
	}
	return idx
}

func callsSeq(from, to int64) []int64 {
	var s []int64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

func TestPublicPoolsMetadataPaging(t *testing.T) {
	const llp = lightertest.DefaultLLPIndex
	gen := func(i int64) int64 { return lightertest.FirstPoolIndex + i*lightertest.PoolIndexStep }
	for _, tc := range []struct {
		name         string
		opts         lightertest.Options
		edit         func(*lighter.Config)
		wantPages    []int64 // the index asked for by each page (exclusive)
		wantAccounts int     // account requests (the LLP's)
		pinned       bool    // the LLP's index is the deployment's: no systemConfig
	}{
		{
			// The first page, index LLP+1, starts with the LLP, as
			// Lighter's documentation fetches it.
			name:      "three pages, LLP listed first, short last",
			opts:      lightertest.Options{Pools: 250},
			wantPages: []int64{llp + 1, gen(151), gen(51)},
		},
		{
			name:      "full pages then an empty one",
			opts:      lightertest.Options{Pools: 199},
			wantPages: []int64{llp + 1, gen(100), gen(0)},
		},
		{
			// Consecutive indexes across four page boundaries: with
			// index exclusive, paging on from lowest-1 would skip the
			// pool at lowest-1 on every page.
			name:      "consecutive indexes across pages",
			opts:      lightertest.Options{PoolIndexes: callsSeq(1000, 1349), LLPIndex: 1350},
			wantPages: []int64{1351, 1251, 1151, 1051},
		},
		{
			name:      "one short page",
			opts:      lightertest.Options{Pools: 5},
			wantPages: []int64{llp + 1},
		},
		{
			name:      "no pools but the LLP",
			opts:      lightertest.Options{PoolIndexes: []int64{}},
			wantPages: []int64{llp + 1},
		},
		{
			name:         "LLP not listed, added from its account",
			opts:         lightertest.Options{Pools: 150, HideLLP: true},
			wantPages:    []int64{llp + 1, gen(50)},
			wantAccounts: 1,
		},
		{
			// A full page ending at index 0: nothing is below it.
			name:      "stop at 0",
			opts:      lightertest.Options{PoolIndexes: callsSeq(0, 98), LLPIndex: 99},
			wantPages: []int64{100},
		},
		{
			name:         "two full pages down to 0, LLP added",
			opts:         lightertest.Options{PoolIndexes: callsSeq(0, 199), LLPIndex: 1 << 40, HideLLP: true},
			wantPages:    []int64{1<<40 + 1, 100},
			wantAccounts: 1,
		},
		{
			// No LLP: page from above every account index, add nothing.
			name:      "no LLP",
			opts:      lightertest.Options{PoolIndexes: []int64{0, 5}, NoLLP: true},
			wantPages: []int64{1 << 48},
		},
		{
			// robinhood pins the LLP: no systemConfig request.
			name:      "robinhood deployment",
			opts:      lightertest.Options{Pools: 120, LLPIndex: lighter.RobinhoodLLPIndex},
			edit:      func(c *lighter.Config) { c.Deployment = "robinhood" },
			wantPages: []int64{lighter.RobinhoodLLPIndex + 1, gen(21)},
			pinned:    true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var edits []func(*lighter.Config)
			if tc.edit != nil {
				edits = append(edits, tc.edit)
			}
			s, srv := callsSession(t, tc.opts, edits...)
			pools, err := s.PublicPoolsMetadata(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got := pageQueries(t, srv); !slices.Equal(got, tc.wantPages) {
				t.Fatalf("pages at %v, want %v", got, tc.wantPages)
			}
			if got := srv.Count(lighter.PathAccount); got != tc.wantAccounts {
				t.Fatalf("%d account requests, want %d", got, tc.wantAccounts)
			}
			if got, want := srv.Count(lighter.PathSystemConfig), map[bool]int{false: 1, true: 0}[tc.pinned]; got != want {
				t.Fatalf("%d systemConfig requests, want %d", got, want)
			}

			// Every pool exactly once, highest first, then the LLP when
			// it was added from its account.
			want := srv.PoolIndexes()
			if srv.LLPIndex() != 0 && !slices.Contains(want, srv.LLPIndex()) {
				want = append(want, srv.LLPIndex())
			}
			var got []int64
			nLLP := 0
			for _, p := range pools {
				got = append(got, p.AccountIndex)
				if p.IsLLP {
					nLLP++
					if p.AccountIndex != srv.LLPIndex() || p.AccountType != lighter.AccountInsuranceFund {
						t.Fatalf("pool %d (type %d) marked as the LLP", p.AccountIndex, p.AccountType)
					}
				} else if p.AccountType != lighter.AccountPublicPool {
					t.Fatalf("pool %d has type %d, want a public pool", p.AccountIndex, p.AccountType)
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("pools %v\nwant %v", callsHead(got), callsHead(want))
			}
			if wantN := min(srv.LLPIndex(), 1); int64(nLLP) != wantN {
				t.Fatalf("%d pools marked as the LLP, want %d", nLLP, wantN)
			}
		})
	}
}

func callsHead(s []int64) string {
	if len(s) > 8 {
		return fmt.Sprintf("%v ... (%d)", s[:8], len(s))
	}
	return fmt.Sprint(s)
}

func TestPublicPoolsMetadataFields(t *testing.T) {
	for _, hide := range []bool{false, true} {
		t.Run(fmt.Sprintf("HideLLP=%v", hide), func(t *testing.T) {
			s, srv := callsSession(t, lightertest.Options{Pools: 3, HideLLP: hide})
			pools, err := s.PublicPoolsMetadata(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(pools) != 4 {
				t.Fatalf("%d pools, want 3 and the LLP", len(pools))
			}
			llp, p := pools[0], pools[1]
			if hide {
				llp, p = pools[3], pools[0]
			}
			tvl, err := p.TotalAssetValue.Float64()
			if err != nil || tvl <= 0 || p.Name == "" || !strings.HasPrefix(p.L1Address, "0x") || p.OperatorFee == "" ||
				p.AccountType != lighter.AccountPublicPool || p.TotalShares <= 0 || p.CreatedAt <= 0 ||
				p.AnnualPercentageYield == 0 || p.SharpeRatio == nil || !p.Active() || p.IsLLP || p.TotalPerpsValue == "" || p.Assets == nil {
				t.Fatalf("pool %+v", p)
			}
			acct, err := s.Account(context.Background(), srv.LLPIndex())
			if err != nil {
				t.Fatal(err)
			}
			// The LLP, listed or added from its account: the insurance
			// fund's type, never 2.
			if !llp.IsLLP || llp.Name != "LLP" || llp.AccountType != lighter.AccountInsuranceFund || !llp.Active() ||
				llp.TotalAssetValue != acct.TotalAssetValue || llp.TotalShares != acct.PoolInfo.TotalShares ||
				llp.AnnualPercentageYield != acct.PoolInfo.AnnualPercentageYield || llp.OperatorFee != acct.PoolInfo.OperatorFee {
				t.Fatalf("LLP %+v from account %+v", llp, acct)
			}
		})
	}
}

// A pool whose status Lighter leaves out is not active.
func TestPoolStatusAbsentIsNotActive(t *testing.T) {
	s, srv := callsSession(t, lightertest.Options{NoLLP: true})
	srv.SetPathBody(lighter.PathPublicPoolsMetadata, `{"code":200,"public_pools":[{"account_index":9,"status":0},{"account_index":8},{"account_index":7,"status":1}]}`)
	pools, err := s.PublicPoolsMetadata(context.Background())
	if err != nil || len(pools) != 3 {
		t.Fatalf("%v, %d pools", err, len(pools))
	}
	if !pools[0].Active() || pools[1].Active() || pools[1].Status != nil || pools[2].Active() {
		t.Fatalf("active: %v %v %v, want true false false", pools[0].Active(), pools[1].Active(), pools[2].Active())
	}
}

func TestPublicPoolsMetadataErrors(t *testing.T) {
	t.Run("page API error", func(t *testing.T) {
		s, srv := callsSession(t, lightertest.Options{})
		srv.SetPathCode(lighter.PathPublicPoolsMetadata, 20001, "invalid param")
		_, err := s.PublicPoolsMetadata(context.Background())
		var apiErr *lighter.APIError
		if !errors.As(err, &apiErr) || apiErr.Code != 20001 {
			t.Fatalf("error %v, want an APIError with code 20001", err)
		}
	})
	t.Run("systemConfig fails", func(t *testing.T) {
		s, srv := callsSession(t, lightertest.Options{})
		srv.SetPathStatus(lighter.PathSystemConfig, 500)
		_, err := s.PublicPoolsMetadata(context.Background())
		var se *lighter.StatusError
		if !errors.As(err, &se) || se.StatusCode != 500 {
			t.Fatalf("error %v, want a StatusError 500", err)
		}
		if srv.Count(lighter.PathPublicPoolsMetadata) != 0 {
			t.Fatal("paged without a system config")
		}
	})
	t.Run("LLP account fails", func(t *testing.T) {
		s, srv := callsSession(t, lightertest.Options{Pools: 3, HideLLP: true})
		srv.SetPathStatus(lighter.PathAccount, 500)
		_, err := s.PublicPoolsMetadata(context.Background())
		var se *lighter.StatusError
		if !errors.As(err, &se) || se.StatusCode != 500 || !strings.Contains(err.Error(), strconv.FormatInt(srv.LLPIndex(), 10)) {
			t.Fatalf("error %v, want a StatusError 500 naming the LLP", err)
		}
	})
	t.Run("page not moving down", func(t *testing.T) {
		s, srv := callsSession(t, lightertest.Options{LLPIndex: 500})
		var b strings.Builder
		b.WriteString(`{"code":200,"public_pools":[`)
		for i := range 100 {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"account_index":%d}`, 1000+i)
		}
		b.WriteString(`]}`)
		srv.SetPathBody(lighter.PathPublicPoolsMetadata, b.String())
		_, err := s.PublicPoolsMetadata(context.Background())
		if err == nil || !strings.Contains(err.Error(), "want indexes below it") {
			t.Fatalf("error %v, want paging refused", err)
		}
		if n := srv.Count(lighter.PathPublicPoolsMetadata); n != 1 {
			t.Fatalf("%d pages fetched, want 1", n)
		}
	})
}

// A page listing a negative account index is refused: no account has one.
func TestPublicPoolsMetadataNegativeIndex(t *testing.T) {
	s, srv := callsSession(t, lightertest.Options{NoLLP: true})
	srv.SetPathBody(lighter.PathPublicPoolsMetadata, `{"code":200,"public_pools":[{"account_index":5},{"account_index":-1},{"account_index":-2}]}`)
	pools, err := s.PublicPoolsMetadata(context.Background())
	if err == nil || !strings.Contains(err.Error(), "-1") || pools != nil {
		t.Fatalf("%d pools, error %v: want an error naming pool -1", len(pools), err)
	}
}

func TestPublicPoolsMetadataPage(t *testing.T) {
	s, srv := callsSession(t, lightertest.Options{Pools: 5})
	page, err := s.PublicPoolsMetadataPage(context.Background(), 1006, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 2 || page[0].AccountIndex != 1003 || page[1].AccountIndex != 1000 {
		t.Fatalf("page %+v, want pools 1003 and 1000: index is exclusive", page)
	}
	for _, tc := range []struct {
		index   int64
		limit   int
		wantErr string
	}{
		{-1, 10, "index -1"},
		{5, 0, "limit 0"},
		{5, 101, "limit 101"},
	} {
		_, err := s.PublicPoolsMetadataPage(context.Background(), tc.index, tc.limit)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("index %d limit %d: error %v, want one naming %q", tc.index, tc.limit, err, tc.wantErr)
		}
	}
	if n := srv.Stats().Total; n != 1 {
		t.Fatalf("%d requests, want 1: invalid pages must not be sent", n)
	}
}

// A hostile server that makes up a full page of pools just below every
// index asked for (each page moving down, so never refused) is read for
// at most MaxPoolPages pages: an error matching ErrTooManyPages, not
// 2^48/100 pages and every made-up pool kept in memory.
func TestPublicPoolsMetadataPageBound(t *testing.T) {
	const stopAt = 3 * lighter.MaxPoolPages // the server's own bound: 500 after it
	var pages atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case lighter.PathSystemConfig:
			io.WriteString(w, `{"code":200,"liquidity_pool_index":281474976710654}`)
		case lighter.PathPublicPoolsMetadata:
			if pages.Add(1) > stopAt {
				w.WriteHeader(500)
				return
			}
			index, _ := strconv.ParseInt(r.URL.Query().Get("index"), 10, 64)
			var b strings.Builder
			b.WriteString(`{"code":200,"public_pools":[`)
			for i := range int64(lighter.PoolsPageSize) {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, `{"account_index":%d,"status":0}`, index-1-i)
			}
			b.WriteString(`]}`)
			io.WriteString(w, b.String())
		default:
			w.WriteHeader(404)
		}
	}))
	defer srv.Close()
	s := newSession(t, lighter.Config{APIURL: srv.URL, RateLimitURL: "memory://", RequestsPerSecond: 1e6, Burst: 1000, Retries: lighter.NoRetries})
	pools, err := s.PublicPoolsMetadata(context.Background())
	if !errors.Is(err, lighter.ErrTooManyPages) || pools != nil {
		t.Fatalf("%d pools, error %v: want ErrTooManyPages", len(pools), err)
	}
	if n := pages.Load(); n != lighter.MaxPoolPages {
		t.Fatalf("%d pages read, want %d", n, lighter.MaxPoolPages)
	}
	if !strings.Contains(err.Error(), strconv.Itoa(lighter.MaxPoolPages)) {
		t.Fatalf("error %q does not say how many pages were read", err)
	}
}

// A systemConfig whose LLP index no account can have (negative, past
// 2^48-1, MaxInt64 whose +1 wraps) is an error naming it, not a listing
// that pages from a wrapped index and silently finds no pool.
func TestPublicPoolsMetadataBadLLPIndex(t *testing.T) {
	for _, llp := range []int64{-5, lightertest.MaxAccountIndex + 1, math.MaxInt64} {
		t.Run(strconv.FormatInt(llp, 10), func(t *testing.T) {
			s, srv := callsSession(t, lightertest.Options{Pools: 3})
			srv.SetPathBody(lighter.PathSystemConfig, fmt.Sprintf(`{"code":200,"liquidity_pool_index":%d}`, llp))
			pools, err := s.PublicPoolsMetadata(context.Background())
			if err == nil || !strings.Contains(err.Error(), strconv.FormatInt(llp, 10)) || errors.Is(err, lighter.ErrInvalidParam) || pools != nil {
				t.Fatalf("%d pools, error %v: want an error naming %d (not a refused parameter)", len(pools), err, llp)
			}
			if n := srv.Count(lighter.PathPublicPoolsMetadata) + srv.Count(lighter.PathAccount); n != 0 {
				t.Fatalf("%d pages or accounts asked for", n)
			}
		})
	}
}
