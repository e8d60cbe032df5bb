package retryafter

import (
	"math"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzParse gives Parse any header value at any instant: it never panics
// nor returns a negative delay (nor one that wrapped around); whole
// seconds of any length are that many seconds or, above what a Duration
// holds, the largest whole-second Duration; an HTTP date (any of the three
// forms http.ParseTime knows) is its distance from now when in the future,
// saturated at the largest Duration, and refused when not; a value that is
// neither digits nor an HTTP date is refused. Round trip: the delta-seconds
// and IMF-fixdate forms of what Parse returned give it back (to the
// second, which is all a header holds).
func FuzzParse(f *testing.F) {
	const defaultNow = 1795608000 // 2026-11-25T12:00:00Z
	for _, s := range []string{"", "0", "120", " 7 ", "-1", "1e3", "1.5", "+5", "1000000000000000000000000000000",
		"9223372036", "9223372037", "Fri, 31 Dec 9999 23:59:59 GMT", "Thu, 01 Jan 1970 00:00:00 GMT",
		"Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994", "5, 6", "\x00", "٣",
		"Wed, 25 Nov 2026 12:00:01 GMT", "Wed, 25 Nov 2026 12:00:00 GMT", "Wed, 25 Nov 2026 11:59:59 GMT",
		"Wed, 25 Nov 2026 12:00:01 UTC", "Wed, 25 Nov 2026 12:00:01 +0000", "Wed, 25 Nov 2026 12:00:01"} {
		f.Add(s, int64(defaultNow))
	}
	// Far instants: a date centuries ahead of now is more than a
	// Duration holds; one far behind it is refused.
	f.Add("Fri, 31 Dec 9999 23:59:59 GMT", int64(-62135596800)) // year 1
	f.Add("Mon, 01 Jan 0001 00:00:00 GMT", int64(253402300799)) // year 9999
	f.Add("Fri, 31 Dec 9999 23:59:59 GMT", int64(math.MinInt64))
	f.Add("120", int64(math.MaxInt64))
	f.Fuzz(func(t *testing.T, v string, nowUnix int64) {
		now := time.Unix(nowUnix, 0).UTC()
		d, ok := Parse(v, now)
		if d < 0 || (!ok && d != 0) {
			t.Fatalf("Parse(%q, %v) = %v, %v", v, now, d, ok)
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
			back, ok := Parse(strconv.FormatInt(int64(d/time.Second), 10), now)
			if !ok || back != d {
				t.Fatalf("Parse(%q) = %v, but its delta-seconds form gives %v, %v", v, d, back, ok)
			}
			return
		}
		date, err := http.ParseTime(trimmed)
		if err != nil {
			if ok {
				t.Fatalf("Parse(%q) = %v, true for a value that is neither digits nor a date", v, d)
			}
			return
		}
		want, wantOK := date.Sub(now), date.After(now) // Sub saturates
		if !wantOK {
			want = 0
		}
		if d != want || ok != wantOK {
			t.Fatalf("Parse(%q, %v) = %v, %v; want %v, %v (the date is %v)", v, now, d, ok, want, wantOK, date)
		}
		if !ok || d == math.MaxInt64 {
			return // a saturated distance has no date form
		}
		form := now.Add(d).Format(http.TimeFormat)
		if back, ok := Parse(form, now); !ok || back != d {
			t.Fatalf("Parse(%q, %v) = %v, but its date form %q gives %v, %v", v, now, d, form, back, ok)
		}
	})
}
