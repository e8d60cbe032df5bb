package lightertest

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Defaults of Options.
const (
	// DefaultWindow is the rolling window when Options.Limit is set.
	DefaultWindow = time.Second
	// DefaultJitter is the arrival jitter the limit forgives.
	DefaultJitter = 50 * time.Millisecond
	// DefaultPools is the number of public pools generated.
	DefaultPools = 12
	// DefaultLLPIndex is the LLP's account index, mainnet's.
	DefaultLLPIndex int64 = 281474976710654
	// FirstPoolIndex is the account index of the first generated pool;
	// the next ones are PoolIndexStep apart, so that paging cannot assume
	// contiguous indexes.
	FirstPoolIndex int64 = 1000
	// DefaultTrades is the number of trades generated per market.
	DefaultTrades = 250
	// PoolIndexStep is the gap between generated pool indexes.
	PoolIndexStep int64 = 3
	// MaxAccountIndex is the largest account index that exists; the
	// account endpoint answers 400 with code 21100 above it.
	MaxAccountIndex int64 = 1<<48 - 1
)

// Options configures a fake server. The zero value serves the default data
// with no rate limit.
type Options struct {
	// Limit is the weight admitted in any rolling Window: the number of
	// requests when Weight is nil. A request over it is answered 429 and
	// not counted. The default value is 0: no limit.
	Limit int

	// Window is the rolling window of Limit. The default value is
	// DefaultWindow (1 s).
	Window time.Duration

	// Jitter is the arrival jitter the limit forgives: requests are counted
	// over the half-open interval (t - (Window - Jitter), t] before an
	// arrival at t, so a client that spaces its requests correctly for
	// Limit per Window never gets a 429 when network or scheduling delays
	// bunch two arrivals by up to Jitter, while Limit+1 requests within
	// Window - Jitter always get one. It must be less than Window. The
	// default value is DefaultJitter (50 ms); a negative value forgives
	// nothing.
	Jitter time.Duration

	// Weight is what a request to a path costs against Limit; pass
	// lighter.EndpointWeight with a Limit of 24000 and a Window of a
	// minute for Lighter's premium tier. The default value is nil: every
	// request costs 1.
	Weight func(path string) int

	// RetryAfter is the Retry-After a 429 carries, rounded up to whole
	// seconds. The default value is 0: the time until the request would
	// fit, rounded up to whole seconds (at least 1). A negative value
	// sends no Retry-After.
	RetryAfter time.Duration

	// Pools is the number of public pools generated at FirstPoolIndex,
	// FirstPoolIndex+PoolIndexStep, ... when PoolIndexes is nil. The
	// default value is DefaultPools (12).
	Pools int

	// PoolIndexes are the public pools' account indexes, used instead of
	// Pools when not nil (an empty, non-nil slice for no pools).
	PoolIndexes []int64

	// LLPIndex is the LLP's account index, served by systemConfig. The
	// default value is DefaultLLPIndex.
	LLPIndex int64

	// NoLLP serves a liquidity_pool_index of 0, as if there were no LLP.
	NoLLP bool

	// HideLLP leaves the LLP out of publicPoolsMetadata, where Lighter
	// lists it (as AccountType 3, the insurance fund), so that a client's
	// fallback of adding it from its account can be tested. The default
	// value is false: listed.
	HideLLP bool

	// Trades is the number of trades generated per market, served by
	// trades and recentTrades, newest first. The default value is
	// DefaultTrades.
	Trades int

	// Now is the clock for arrivals and for the data's "now". The default
	// value is time.Now.
	Now func() time.Time
}

// Request is one request as the server saw it.
type Request struct {
	// At is the arrival time, by Options.Now.
	At time.Time
	// Method and Path are the request's method and URL path.
	Method string
	Path   string
	// Query is the request's query parameters.
	Query url.Values
	// Weight is what the request cost, or would have cost, against the
	// limit.
	Weight int
	// Status is the HTTP status answered.
	Status int
}

// Stats are the server's counters.
type Stats struct {
	// Total is the number of requests received.
	Total int
	// TooMany is the number answered 429 by the rate limit.
	TooMany int
	// ByPath is the number received per URL path, 429s included.
	ByPath map[string]int
}

// Handler is the fake Lighter API as an http.Handler. It is safe for
// concurrent use.
type Handler struct {
	opts  Options
	pools []int64 // listed pool indexes, highest first
	llp   int64   // 0 when NoLLP

	mu         sync.Mutex
	win        window
	requests   []Request
	stats      Stats
	failNext   int
	failStatus int
	pathStatus map[string]int
	pathCode   map[string]apiAnswer
	pathBody   map[string]string
}

type apiAnswer struct {
	code    int
	message string
}

// NewHandler returns the fake API for opts. It panics on invalid options
// (negative Limit or Window, Jitter not below Window), as httptest does on
// misuse.
func NewHandler(opts Options) *Handler {
	if opts.Limit < 0 {
		panic(fmt.Sprintf("lightertest: negative Limit %d", opts.Limit))
	}
	if opts.Window < 0 {
		panic(fmt.Sprintf("lightertest: negative Window %s", opts.Window))
	}
	opts.Window = cmp.Or(opts.Window, DefaultWindow)
	switch {
	case opts.Jitter == 0:
		opts.Jitter = DefaultJitter
	case opts.Jitter < 0:
		opts.Jitter = 0
	}
	if opts.Jitter >= opts.Window {
		panic(fmt.Sprintf("lightertest: Jitter %s must be less than Window %s", opts.Jitter, opts.Window))
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.LLPIndex = cmp.Or(opts.LLPIndex, DefaultLLPIndex)
	opts.Pools = cmp.Or(opts.Pools, DefaultPools)
	opts.Trades = cmp.Or(opts.Trades, DefaultTrades)
	h := &Handler{
		opts:       opts,
		win:        window{limit: opts.Limit, span: opts.Window - opts.Jitter},
		stats:      Stats{ByPath: map[string]int{}},
		pathStatus: map[string]int{},
		pathCode:   map[string]apiAnswer{},
		pathBody:   map[string]string{},
	}
	if !opts.NoLLP {
		h.llp = opts.LLPIndex
	}
	pools := opts.PoolIndexes
	if pools == nil {
		pools = make([]int64, opts.Pools)
		for i := range pools {
			pools[i] = FirstPoolIndex + int64(i)*PoolIndexStep
		}
	}
	pools = slices.Clone(pools)
	if !opts.HideLLP && h.llp != 0 && !slices.Contains(pools, h.llp) {
		pools = append(pools, h.llp)
	}
	slices.Sort(pools)
	slices.Reverse(pools)
	h.pools = slices.Compact(pools)
	return h
}

// LLPIndex returns the LLP's account index served by systemConfig (0 with
// NoLLP).
func (h *Handler) LLPIndex() int64 { return h.llp }

// PoolIndexes returns the account indexes publicPoolsMetadata lists,
// highest first.
func (h *Handler) PoolIndexes() []int64 { return slices.Clone(h.pools) }

// ServeHTTP answers one request: the rate limit first (a 429 is not
// counted against it), then any injected failure, then the endpoint.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer r.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))

	weight := 1
	if h.opts.Weight != nil {
		weight = h.opts.Weight(r.URL.Path)
	}
	status, retryAfter, injected := h.decide(r, weight)
	switch {
	case status == http.StatusTooManyRequests:
		if secs := h.retryAfterSeconds(retryAfter); secs > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(secs))
		}
		writeJSON(w, status, map[string]any{"code": status, "message": "Too Many Requests"})
	case injected != nil:
		injected(w)
	default:
		h.serveEndpoint(w, r)
	}
}

// decide counts the request and returns the status it gets when the limit
// or an injected failure answers it (0 to serve it), with the time until
// it would fit for a 429, or a writer for an injected answer.
func (h *Handler) decide(r *http.Request, weight int) (status int, retryAfter time.Duration, injected func(http.ResponseWriter)) {
	path := r.URL.Path
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.opts.Now()
	h.stats.Total++
	h.stats.ByPath[path]++
	req := Request{At: now, Method: r.Method, Path: path, Query: r.URL.Query(), Weight: weight, Status: http.StatusOK}
	defer func() { h.requests = append(h.requests, req) }()

	ok, after := h.win.admit(now, weight)
	if !ok {
		h.stats.TooMany++
		req.Status = http.StatusTooManyRequests
		if after <= 0 {
			after = h.opts.Window
		}
		return req.Status, after, nil
	}
	if h.failNext > 0 {
		h.failNext--
		s := h.failStatus
		req.Status = s
		return s, 0, func(w http.ResponseWriter) { writeStatus(w, s) }
	}
	if s, ok := h.pathStatus[path]; ok {
		req.Status = s
		return s, 0, func(w http.ResponseWriter) { writeStatus(w, s) }
	}
	if a, ok := h.pathCode[path]; ok {
		return 0, 0, func(w http.ResponseWriter) {
			writeJSON(w, http.StatusOK, map[string]any{"code": a.code, "message": a.message})
		}
	}
	if body, ok := h.pathBody[path]; ok {
		return 0, 0, func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, body)
		}
	}
	return 0, 0, nil
}

func (h *Handler) retryAfterSeconds(fit time.Duration) int {
	d := h.opts.RetryAfter
	switch {
	case d < 0:
		return 0
	case d == 0:
		d = fit
	}
	return max(1, int((d+time.Second-1)/time.Second))
}

// FailNext makes the next n requests that pass the rate limit answer
// status (such as 503) with a JSON body; n <= 0 cancels it.
func (h *Handler) FailNext(n, status int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failNext, h.failStatus = max(n, 0), status
}

// SetPathStatus makes every request to path (such as
// "/api/v1/orderBooks") answer status; 0 restores the endpoint.
func (h *Handler) SetPathStatus(path string, status int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if status == 0 {
		delete(h.pathStatus, path)
		return
	}
	h.pathStatus[path] = status
}

// SetPathCode makes every request to path answer HTTP 200 with the body
// {"code": code, "message": message}, as Lighter reports an API error; a
// code of 0 restores the endpoint.
func (h *Handler) SetPathCode(path string, code int, message string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if code == 0 {
		delete(h.pathCode, path)
		return
	}
	h.pathCode[path] = apiAnswer{code: code, message: message}
}

// SetPathBody makes every request to path answer HTTP 200 with body as
// it is (malformed or unusual answers); an empty body restores the
// endpoint.
func (h *Handler) SetPathBody(path, body string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if body == "" {
		delete(h.pathBody, path)
		return
	}
	h.pathBody[path] = body
}

// Stats returns a copy of the counters.
func (h *Handler) Stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.stats
	s.ByPath = maps.Clone(h.stats.ByPath)
	return s
}

// Count returns the number of requests received for path.
func (h *Handler) Count(path string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stats.ByPath[path]
}

// Requests returns every request received, in arrival order. The server
// keeps them all until Reset.
func (h *Handler) Requests() []Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.requests)
}

// Arrivals returns the arrival time of every request received, in order.
func (h *Handler) Arrivals() []time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	at := make([]time.Time, len(h.requests))
	for i, r := range h.requests {
		at[i] = r.At
	}
	return at
}

// Reset clears the counters, the request log, the rate limit's window and
// every injected failure.
func (h *Handler) Reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.win.reset()
	h.requests = nil
	h.stats = Stats{ByPath: map[string]int{}}
	h.failNext, h.failStatus = 0, 0
	clear(h.pathStatus)
	clear(h.pathCode)
	clear(h.pathBody)
}

// Server is a Handler listening on a local port.
type Server struct {
	*Handler
	// URL is the base URL, such as "http://127.0.0.1:43210": a
	// lighter.Config's APIURL.
	URL string

	ts *httptest.Server
}

// NewServer starts a fake Lighter API for opts on a local port. Close it
// when done.
func NewServer(opts Options) *Server {
	h := NewHandler(opts)
	ts := httptest.NewServer(h)
	return &Server{Handler: h, URL: ts.URL, ts: ts}
}

// Client returns an http.Client for the server, for requests sent without
// a lighter.Session.
func (s *Server) Client() *http.Client { return s.ts.Client() }

// Close shuts the server down, waiting for requests in flight.
func (s *Server) Close() { s.ts.Close() }
