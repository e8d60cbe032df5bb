package retrypolicy

import (
	"net/http"
	"testing"
	"time"
)

func TestRetryAfterParse(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		value  string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"3", 3 * time.Second, true},
		{" 7 ", 7 * time.Second, true},
		{"0", 0, false},
		{"-3", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{"99999999999999999999", time.Duration(maxSeconds) * time.Second, true}, // beyond a Duration: the largest
		{"9223372036854775807", time.Duration(maxSeconds) * time.Second, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(90 * time.Second).Format(time.RFC850), 90 * time.Second, true},
		{now.Add(90 * time.Second).Format(time.ANSIC), 90 * time.Second, true},
		{now.Format(http.TimeFormat), 0, false},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, false},
		{"Fri, 32 Dec 2030 00:00:00 GMT", 0, false},
	} {
		h := http.Header{}
		if tc.value != "" {
			h.Set("Retry-After", tc.value)
		}
		got, ok := retryAfter(h, now)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("Retry-After %q: %v, %v; want %v, %v", tc.value, got, ok, tc.want, tc.wantOK)
		}
	}
}

// maxSeconds is the largest whole number of seconds a time.Duration holds.
const maxSeconds = time.Duration(1<<63-1) / time.Second
