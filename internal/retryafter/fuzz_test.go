package retryafter

import (
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"
)

// FuzzParse gives Parse any header value: it never panics nor returns a
// negative delay; whole seconds of any length are that many seconds or,
// above what a Duration holds, the largest whole-second Duration; a value
// that is neither digits nor an HTTP date is refused.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "0", "120", " 7 ", "-1", "1e3", "1.5", "+5", "1000000000000000000000000000000",
		"9223372036", "9223372037", "Fri, 31 Dec 9999 23:59:59 GMT", "Thu, 01 Jan 1970 00:00:00 GMT",
		"Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994", "5, 6", "\x00", "٣"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := Parse(v, now)
		if d < 0 || (!ok && d != 0) {
			t.Fatalf("Parse(%q) = %v, %v", v, d, ok)
		}
		trimmed := strings.TrimSpace(v)
		if trimmed != "" && isDigits(trimmed) {
			n, _ := new(big.Int).SetString(trimmed, 10)
			want := time.Duration(maxSeconds) * time.Second
			if n.IsInt64() && n.Int64() <= maxSeconds {
				want = time.Duration(n.Int64()) * time.Second
			}
			if !ok || d != want {
				t.Fatalf("Parse(%q) = %v, %v; want %v, true", v, d, ok, want)
			}
			return
		}
		if _, err := http.ParseTime(trimmed); err != nil && ok {
			t.Fatalf("Parse(%q) = %v, true for a value that is neither digits nor a date", v, d)
		}
	})
}
