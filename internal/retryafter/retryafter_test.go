package retryafter

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{" 12 ", 12 * time.Second, true},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second, true},
		{now.Add(-30 * time.Second).Format(http.TimeFormat), 0, false},
		{"99999999999999", time.Duration(1<<63-1) / time.Second * time.Second, true},
		// Any number of digits above a Duration is the largest one, so
		// that the caller's cap applies (issue 13).
		{"9223372036854775808", time.Duration(1<<63-1) / time.Second * time.Second, true},
		{"1" + strings.Repeat("0", 30), time.Duration(1<<63-1) / time.Second * time.Second, true},
		{strings.Repeat("9", 5000), time.Duration(1<<63-1) / time.Second * time.Second, true},
		{"+5", 0, false},
		{"1e30", 0, false},
		{"5 s", 0, false},
	}
	for _, tt := range tests {
		got, ok := Parse(tt.in, now)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("Parse(%q) = %s, %v; want %s, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}
