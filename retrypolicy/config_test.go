package retrypolicy

import (
	"math"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestZeroConfigMeansDefaults(t *testing.T) {
	s, err := Config{}.resolve()
	if err != nil {
		t.Fatal(err)
	}
	if s.retries != 5 || s.factor != 0.5 || s.maxBackoff != 120*time.Second ||
		s.jitter != 0 || s.maxRetryAfter != 120*time.Second {
		t.Errorf("defaults: retries %d, factor %v, maxBackoff %v, jitter %v, maxRetryAfter %v",
			s.retries, s.factor, s.maxBackoff, s.jitter, s.maxRetryAfter)
	}
	for _, code := range []int{429, 500, 502, 503, 504} {
		if !s.statuses[code] {
			t.Errorf("status %d not retried by default", code)
		}
	}
	for _, code := range []int{400, 404, 501} {
		if s.statuses[code] {
			t.Errorf("status %d retried by default", code)
		}
	}
	if len(s.raStatuses) != 2 || !s.raStatuses[429] || !s.raStatuses[503] {
		t.Errorf("Retry-After statuses: %v, want 429 and 503", s.raStatuses)
	}
	for _, m := range []string{"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"} {
		if !s.methods[m] {
			t.Errorf("method %s not retried by default", m)
		}
	}
	if s.methods["POST"] || s.methods["PATCH"] {
		t.Errorf("non-idempotent method retried by default: %v", s.methods)
	}
	if s.sleep == nil || s.now == nil {
		t.Error("no default sleeper or clock")
	}
}

func TestConfigExplicitValues(t *testing.T) {
	s, err := Config{
		Retries:            NoRetries,
		Statuses:           []int{},
		RetryAfterStatuses: []int{},
		Methods:            []string{"PATCH"},
		RetryPOST:          true,
	}.resolve()
	if err != nil {
		t.Fatal(err)
	}
	if s.retries != 0 {
		t.Errorf("NoRetries gives %d retries", s.retries)
	}
	if len(s.statuses) != 0 || len(s.raStatuses) != 0 {
		t.Errorf("empty status lists became %v and %v", s.statuses, s.raStatuses)
	}
	if len(s.methods) != 2 || !s.methods["PATCH"] || !s.methods[http.MethodPost] {
		t.Errorf("methods %v, want PATCH and POST", s.methods)
	}
}

func TestConfigInvalid(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string // in the message: the field and its value
	}{
		{Config{Retries: -2}, "Config.Retries -2"},
		{Config{BackoffFactor: -0.5}, "Config.BackoffFactor -0.5"},
		{Config{BackoffFactor: math.NaN()}, "Config.BackoffFactor NaN"},
		{Config{BackoffFactor: math.Inf(1)}, "Config.BackoffFactor +Inf"},
		{Config{MaxBackoff: -time.Second}, "Config.MaxBackoff -1s"},
		{Config{Jitter: -0.1}, "Config.Jitter -0.1"},
		{Config{Jitter: 1.5}, "Config.Jitter 1.5"},
		{Config{Jitter: math.NaN()}, "Config.Jitter NaN"},
		{Config{Statuses: []int{503, 99}}, "Config.Statuses[1] 99"},
		{Config{RetryAfterStatuses: []int{600}}, "Config.RetryAfterStatuses[0] 600"},
		{Config{MaxRetryAfter: -time.Minute}, "Config.MaxRetryAfter -1m0s"},
		{Config{Methods: []string{"GET", ""}}, `Config.Methods[1] ""`},
		{Config{Methods: []string{"GET POST"}}, `Config.Methods[0] "GET POST"`},
	} {
		_, err := New(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "retrypolicy: ") {
			t.Errorf("New: error %v, want one naming %s", err, tc.want)
		}
		rt, err := NewTransport(nil, tc.cfg)
		if err == nil || rt != nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewTransport: %v, %v, want an error naming %s", rt, err, tc.want)
		}
	}
}
