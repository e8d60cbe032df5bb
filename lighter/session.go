package lighter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/bodyread"
	"github.com/sharedlimit/sharedlimit/internal/redact"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/retrypolicy"
)

// excerptTimeout bounds the time spent reading the excerpt of an error
// response's body.
const excerptTimeout = time.Second

// maxJSONBody bounds the body GetJSON decodes.
const maxJSONBody = 64 << 20

// Session carries the Lighter API URL and sends every request through the
// retry policy (outside) and the shared limiter (inside), so that each
// attempt pays its tokens:
//
//	http.Client -> retry transport -> limiter.Transport -> body-code check -> http.Transport
//
// The body-code check turns an answer whose JSON "code" is 429 into a 429,
// whatever its HTTP status, so that the limiter holds the key and the
// retry policy retries it.
//
// It is safe for concurrent use. Close it when done.
type Session struct {
	cfg         *resolved
	client      *http.Client
	lim         limiter.Limiter
	ownsLimiter bool
	pool        *http.Transport // nil when Config.Base was given
	limited     *limiter.Transport
}

// NewSession builds a Session from cfg (the zero Config is the original's
// setup). It opens the limiter URL unless cfg.Limiter is set. Every invalid
// setting is an error naming it.
func NewSession(ctx context.Context, cfg Config) (*Session, error) {
	r, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	s := &Session{cfg: r, lim: cfg.Limiter}
	if s.lim == nil {
		if s.lim, err = limiter.Open(ctx, r.RateLimitURL); err != nil {
			return nil, fmt.Errorf("lighter: rate limit URL %q%s: %w", limiter.Redact(r.RateLimitURL), cfg.source(EnvRateLimitURL), err)
		}
		s.ownsLimiter = true
	}
	base := cfg.Base
	if base == nil {
		s.pool = newPool(r)
		base = s.pool
	}
	limited := &limiter.Transport{
		Base:     &bodyCodeTransport{base: base},
		Limiter:  s.lim,
		Observer: cfg.Observer,
	}
	if r.tier.Weight == (limiter.Limit{}) {
		// One need: the key under the limit, as it always was.
		limited.Limit = r.limit
		limited.Key = func(*http.Request) string { return r.key }
		limited.Cost = func(req *http.Request) (int, error) { return s.Needs(req.URL.Path)[0].N, nil }
	} else {
		// Several needs, taken at one slot; a 429 holds every key.
		limited.Needs = func(req *http.Request) (limiter.Charge, error) {
			return limiter.Charge{Needs: s.Needs(req.URL.Path)}, nil
		}
	}
	s.limited = limited
	retrying, err := retrypolicy.NewTransport(limited, retrypolicy.Config{
		Retries:       r.Retries,
		BackoffFactor: r.BackoffFactor,
		Permanent:     limiter.IsPermanent,
		Logger:        r.Logger,
	})
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("lighter: %w", err)
	}
	s.client = &http.Client{Transport: retrying}
	return s, nil
}

// newPool is the connection pool: the original's timeout per attempt (dial,
// TLS handshake, response headers), never across retries or body reads.
func newPool(r *resolved) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: r.Timeout, KeepAlive: r.Timeout}).DialContext
	t.TLSHandshakeTimeout = r.Timeout
	t.ResponseHeaderTimeout = r.Timeout
	t.MaxIdleConnsPerHost = r.PoolMaxSize
	t.MaxIdleConns = max(t.MaxIdleConns, r.PoolMaxSize)
	return t
}

// Needs returns what a request for path takes from the limiter, every
// attempt: first N tokens of Key under Limit (1, the endpoint's weight
// on a weighted tier, or Config.Cost's); then, on a tier with a shared
// weight budget (standard), the endpoint's weight of Tier.Weight on
// WeightKey(Key) (see [Tier.Needs]). A request takes all of them at one
// slot or none, and a 429 holds every one's key.
func (s *Session) Needs(path string) []limiter.Need {
	needs := s.cfg.tier.Needs(s.cfg.key, path)
	if needs == nil {
		needs = []limiter.Need{{Key: s.cfg.key, Limit: s.cfg.limit, N: 1}}
	}
	if s.cfg.Cost != nil {
		needs[0].N = s.cfg.Cost(path)
	}
	return needs
}

// URL returns the API base URL (a copy).
func (s *Session) URL() *url.URL {
	u := *s.cfg.base
	return &u
}

// Limiter returns the limiter the Session uses.
func (s *Session) Limiter() limiter.Limiter { return s.lim }

// Limit returns the limit of Key, which every attempt passes. On the
// standard tier every attempt also passes the shared weight budget on
// another key (see [Session.Needs]).
func (s *Session) Limit() limiter.Limit { return s.cfg.limit }

// Key returns the limit key every request of the Session counts against
// under Limit (on the standard tier, its weight counts against
// WeightKey(Key) too).
func (s *Session) Key() string { return s.cfg.key }

// Client returns the http.Client of the Session, for requests built by
// hand. Its responses are raw: the caller checks the status and closes the
// body.
func (s *Session) Client() *http.Client { return s.client }

// Resolve returns the URL for path (such as "/api/v1/account") and query
// params on the API base URL.
func (s *Session) Resolve(path string, params url.Values) (*url.URL, error) {
	ref, err := url.Parse(path)
	if err != nil {
		return nil, fmt.Errorf("lighter: invalid path %q: %w", path, err)
	}
	if ref.IsAbs() || ref.Host != "" {
		return nil, fmt.Errorf("lighter: path %q must be relative to the API URL", path)
	}
	u := s.cfg.base.JoinPath(ref.Path)
	q := ref.Query()
	for k, vs := range params {
		for _, v := range vs {
			q.Add(k, v)
		}
	}
	u.RawQuery = q.Encode()
	return u, nil
}

// Do sends req through the retry policy and the limiter and returns the raw
// response, whatever its status, like http.Client.Do. The caller closes
// the body.
func (s *Session) Do(req *http.Request) (*http.Response, error) {
	return s.client.Do(req)
}

// Get sends a GET for path and params. A non-2xx answer is a *StatusError
// (its body read in part and closed); otherwise the caller closes the
// body.
func (s *Session) Get(ctx context.Context, path string, params url.Values) (*http.Response, error) {
	u, err := s.Resolve(path, params)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("lighter: %w", err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, s.callError(req, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// Bounded in time too: a server trickling an endless error
		// body must not hold the caller.
		body := bodyread.Excerpt(resp.Body, MaxBodyExcerpt, 64<<10, excerptTimeout)
		// A page may echo the request: its credentials are masked.
		body = []byte(redact.Text(string(body), redact.URLSecrets(u)))
		return nil, &StatusError{Method: req.Method, URL: redact.URL(u), StatusCode: resp.StatusCode, Body: body}
	}
	return resp, nil
}

// callError unwraps the *url.Error of http.Client and turns an exhausted
// retry on a status into a *StatusError.
func (s *Session) callError(req *http.Request, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var re *retrypolicy.Error
	if errors.As(err, &re) && re.StatusCode != 0 {
		return &StatusError{Method: re.Method, URL: re.URL, StatusCode: re.StatusCode, Body: re.Body, Err: re}
	}
	return fmt.Errorf("lighter: %s %s: %w", req.Method, redact.URL(req.URL), err)
}

// GetJSON sends a GET for path and params and decodes the JSON answer into
// out. A non-2xx answer is a *StatusError; a body whose "code" is not 200
// is an *APIError.
func (s *Session) GetJSON(ctx context.Context, path string, params url.Values, out any) error {
	resp, err := s.Get(ctx, path, params)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJSONBody))
	if err != nil {
		return fmt.Errorf("lighter: reading %s: %w", path, err)
	}
	var status struct {
		Code    *int   `json:"code"`
		Message string `json:"message"`
	}
	// What the answer echoes of the request, its credentials masked.
	masked := func(text string) string {
		if u, err := s.Resolve(path, params); err == nil {
			text = redact.Text(text, redact.URLSecrets(u))
		}
		return text
	}
	if err := json.Unmarshal(body, &status); err == nil && status.Code != nil && *status.Code != 200 {
		return &APIError{Path: path, Code: *status.Code, Message: masked(status.Message)}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("lighter: decoding %s: %w (body starts %q)", path, err, masked(excerpt(body)))
	}
	return nil
}

func excerpt(b []byte) string {
	s := string(b[:min(len(b), 120)])
	return strings.ToValidUTF8(s, "?")
}

// Close waits for the holds of 429s in flight (see limiter.Transport),
// then releases the connection pool and the limiter the Session opened; a
// limiter passed in Config.Limiter stays open.
func (s *Session) Close() error {
	if s.limited != nil {
		s.limited.Close()
	}
	if s.pool != nil {
		s.pool.CloseIdleConnections()
	}
	if s.ownsLimiter && s.lim != nil {
		return s.lim.Close()
	}
	return nil
}
