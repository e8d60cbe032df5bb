package lighter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/lighter"
	"github.com/sharedlimit/sharedlimit/limiter/memory"
)

// FuzzDecimal gives Decimal.UnmarshalJSON any bytes: it never panics; what
// it accepts is empty or a decimal number as Decimal's doc defines it
// (String is that text), which Float64 reads as strconv.ParseFloat does or
// refuses as out of range; accepted text round-trips through
// json.Marshal and UnmarshalJSON unchanged; and an error quotes at most a
// bounded excerpt of the input.
func FuzzDecimal(f *testing.F) {
	for _, s := range []string{`"19995.123456"`, `12.5`, `null`, `""`, `"-0.0e+0"`, `-1E400`, `"1e400"`, `1e-400`,
		`"NaN"`, `"Inf"`, `"0x1p3"`, `" 1"`, `"1."`, `".5"`, `"+1"`, `"1e"`, `true`, `{}`, `[1]`, `"\u0031"`, `01`, `"\ud800"`,
		` 7 `, `"` + strings.Repeat("9", 400) + `"`, strings.Repeat("1", 400), `"TopSecretPw-not-a-number"`, ``, `"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var d lighter.Decimal
		err := d.UnmarshalJSON(b)
		if err != nil {
			if len(err.Error()) > 200 {
				t.Fatalf("UnmarshalJSON(%q): an error of %d bytes: %v", b, len(err.Error()), err)
			}
			return
		}
		s := d.String()
		if s != string(d) || (s == "") != d.IsZero() {
			t.Fatalf("UnmarshalJSON(%q) = %q: String %q, IsZero %v", b, d, s, d.IsZero())
		}
		if s != "" && !isDecimalText(s) {
			t.Fatalf("UnmarshalJSON(%q) accepted %q, not a decimal number", b, s)
		}
		f64, ferr := d.Float64()
		want, perr := strconv.ParseFloat(s, 64)
		switch {
		case s == "":
			if f64 != 0 || ferr != nil {
				t.Fatalf("empty Decimal: Float64 = %v, %v", f64, ferr)
			}
		case ferr != nil:
			if !errors.Is(perr, strconv.ErrRange) || math.Abs(want) <= 1 || !strings.Contains(ferr.Error(), "range") {
				t.Fatalf("%q.Float64() = %v; ParseFloat gives %v, %v", s, ferr, want, perr)
			}
		case math.IsInf(f64, 0) || math.IsNaN(f64) || f64 != want:
			t.Fatalf("%q.Float64() = %v; ParseFloat gives %v, %v", s, f64, want, perr)
		}
		out, err := json.Marshal(d)
		if err != nil {
			t.Fatalf("Marshal(%q): %v", d, err)
		}
		var back lighter.Decimal
		if err := back.UnmarshalJSON(out); err != nil || back != d {
			t.Fatalf("%q marshals as %s, which decodes as %q, %v", d, out, back, err)
		}
	})
}

// isDecimalText is Decimal's grammar, written again: an optional "-",
// digits, optionally "." and digits, optionally "e" or "E", a sign and
// digits.
func isDecimalText(s string) bool {
	digits := func(s string) (rest string, ok bool) {
		i := 0
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		return s[i:], i > 0
	}
	s = strings.TrimPrefix(s, "-")
	s, ok := digits(s)
	if !ok {
		return false
	}
	if rest, found := strings.CutPrefix(s, "."); found {
		if s, ok = digits(rest); !ok {
			return false
		}
	}
	if len(s) > 0 && (s[0] == 'e' || s[0] == 'E') {
		s = strings.TrimLeft(s[1:2], "+-") + s[2:]
		if s, ok = digits(s); !ok {
			return false
		}
	}
	return s == ""
}

// answerSecret is the password of the API URL FuzzAnswers calls: an
// answer may echo it, no error may show it.
const answerSecret = "TopSecretPw"

// answerCalls are the calls whose answers FuzzAnswers decodes, each with
// valid arguments: every answer type the package decodes.
var answerCalls = []struct {
	name string
	call func(ctx context.Context, s *lighter.Session) error
}{
	{"SystemConfig", func(ctx context.Context, s *lighter.Session) error { _, err := s.SystemConfig(ctx); return err }},
	{"PublicPoolsMetadataPage", func(ctx context.Context, s *lighter.Session) error {
		_, err := s.PublicPoolsMetadataPage(ctx, 0, 10)
		return err
	}},
	{"PublicPoolsMetadata", func(ctx context.Context, s *lighter.Session) error { _, err := s.PublicPoolsMetadata(ctx); return err }},
	{"Account", func(ctx context.Context, s *lighter.Session) error { _, err := s.Account(ctx, 7); return err }},
	{"PnL", func(ctx context.Context, s *lighter.Session) error {
		_, err := s.PnL(ctx, lighter.PnLQuery{AccountIndex: 7, Resolution: "1h", StartTimestamp: 1, EndTimestamp: 3600})
		return err
	}},
	{"OrderBooks", func(ctx context.Context, s *lighter.Session) error { _, err := s.OrderBooks(ctx); return err }},
	{"Candles", func(ctx context.Context, s *lighter.Session) error {
		_, err := s.Candles(ctx, lighter.CandlesQuery{MarketID: 1, Resolution: "1h", StartTimestamp: 1, EndTimestamp: 3600000})
		return err
	}},
	{"Fundings", func(ctx context.Context, s *lighter.Session) error {
		_, err := s.Fundings(ctx, lighter.FundingsQuery{MarketID: 1, Resolution: "1h", StartTimestamp: 1, EndTimestamp: 3600})
		return err
	}},
	{"FundingRates", func(ctx context.Context, s *lighter.Session) error { _, err := s.FundingRates(ctx); return err }},
	{"RecentTrades", func(ctx context.Context, s *lighter.Session) error { _, err := s.RecentTrades(ctx, 1, 10); return err }},
	{"Trades", func(ctx context.Context, s *lighter.Session) error {
		_, err := s.Trades(ctx, lighter.TradesQuery{SortBy: "timestamp", Limit: 10})
		return err
	}},
	{"AllTrades", func(ctx context.Context, s *lighter.Session) error {
		for _, err := range s.AllTrades(ctx, lighter.TradesQuery{SortBy: "timestamp", Limit: 10}, 3) {
			if err != nil {
				return err
			}
		}
		return nil
	}},
	{"OrderBookDetails", func(ctx context.Context, s *lighter.Session) error {
		_, err := s.OrderBookDetails(ctx, lighter.OrderBookDetailsQuery{})
		return err
	}},
	{"ExchangeStats", func(ctx context.Context, s *lighter.Session) error { _, err := s.ExchangeStats(ctx); return err }},
	{"AccountsByL1Address", func(ctx context.Context, s *lighter.Session) error {
		_, err := s.AccountsByL1Address(ctx, "0x8D7f03FdE1A626223364E592740a233b72395235")
		return err
	}},
}

// answerStatuses are the HTTP statuses FuzzAnswers answers with.
var answerStatuses = []int{200, 200, 200, 400, 404, 429, 500, 503}

// bodyTransport answers every request with one status and body, and
// counts the requests: no request leaves the process.
type bodyTransport struct {
	status int
	body   []byte
	sent   int
}

func (b *bodyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	b.sent++
	return &http.Response{StatusCode: b.status, Status: http.StatusText(b.status), Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(b.body)), Request: req, ContentLength: int64(len(b.body))}, nil
}

// FuzzAnswers answers one of the Session's calls (answerCalls) with any
// body and status: the call never panics nor hangs (it ends within 5 s, with
// no retries and a fresh limiter), sends its request, and its error shows
// neither the API URL's password, which the body may echo, nor more than a
// bounded part of the body.
func FuzzAnswers(f *testing.F) {
	bodies := []string{`{}`, `{"code":200}`, `{"code":429}`, `{"code":500,"message":"` + answerSecret + `"}`, `not json ` + answerSecret,
		`{"code":200,"accounts":[{"index":"x"}]}`, `{"code":200,"trades":[{"price":"NaN"}],"next_cursor":"c"}`, `null`, `[]`, ``,
		`{"code":200,"public_pool_metadata":[{"account_index":1}]}`, `{"code":200,"order_books":[{"symbol":"` + answerSecret + `"}]}`,
		`{"code":200,"candlesticks":[{"open":1e999}]}`, `{"code":"200"}`, `{"code":2e400}`, `{"code":200,"next_cursor":"` + answerSecret + `"}`}
	for i := range answerCalls {
		for _, b := range bodies {
			f.Add([]byte(b), uint8(i), uint8(0))
		}
		for st := range answerStatuses {
			f.Add([]byte(bodies[3]), uint8(i), uint8(st))
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, which, status uint8) {
		c := answerCalls[int(which)%len(answerCalls)]
		base := &bodyTransport{status: answerStatuses[int(status)%len(answerStatuses)], body: body}
		lim := memory.New()
		defer lim.Close()
		s, err := lighter.NewSession(context.Background(), lighter.Config{APIURL: "https://fuzzuser:" + answerSecret + "@api.example",
			Limiter: lim, Retries: lighter.NoRetries, RequestsPerSecond: 1e6, Burst: 1000, Base: base})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = c.call(ctx, s)
		if ctx.Err() != nil {
			t.Fatalf("%s on status %d and body %q: still running after 5 s (%v)", c.name, base.status, body, err)
		}
		if base.sent == 0 {
			t.Fatalf("%s sent no request (%v)", c.name, err)
		}
		if err == nil {
			return
		}
		msg := err.Error()
		for _, form := range []string{answerSecret, url.QueryEscape(answerSecret)} {
			if strings.Contains(msg, form) {
				t.Fatalf("%s on status %d and body %q: the password shows in %q", c.name, base.status, body, msg)
			}
		}
		if len(msg) > 4096 {
			t.Fatalf("%s on a body of %d bytes: an error of %d bytes", c.name, len(body), len(msg))
		}
	})
}
