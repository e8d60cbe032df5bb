package limiter

import (
	"context"
	"log/slog"
	"time"
)

// EventKind says what an [Event] reports.
type EventKind int

// The kinds of Event.
const (
	// EventAdmitted: n tokens were taken. From Wait and Transport,
	// Duration is how long the caller waited for its slot; from ReserveN
	// called directly, the slot's delay.
	EventAdmitted EventKind = iota + 1
	// EventRefused: nothing was taken. Duration is the wait the request
	// would have needed (zero when unknown); Err is set when Wait gave up
	// because the slot came after its deadline.
	EventRefused
	// EventWaited: a Wait slept Duration for its slot (reported before
	// EventAdmitted, only when it slept at all).
	EventWaited
	// EventHeld: the key was held for Duration (a 429's Retry-After).
	EventHeld
	// EventStoreError: one call to the store failed with Err (each
	// attempt of a retried call is one event).
	EventStoreError
	// EventPolicySwitch: the failure policy moved From one state To
	// another: "store" (the store decides), "waiting" (callers wait for
	// the store), "open" (admitting without the store) or "fallback"
	// (an in-process limiter decides).
	EventPolicySwitch
)

var kindNames = [...]string{"", "admitted", "refused", "waited", "held", "store-error", "policy-switch"}

// String is the kind's name, such as "admitted".
func (k EventKind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Event is one thing a Limiter or Transport did that an operator may want
// to count.
type Event struct {
	// Kind says what happened.
	Kind EventKind
	// Op is the call, such as "AllowN", "ReserveN", "Wait" or "Hold".
	Op string
	// Key is the limit key of the call.
	Key string
	// N is the number of tokens the call asked for.
	N int
	// Limit is the limit the call carried.
	Limit Limit
	// Needs are, for a request of several needs, all of them; Key, N
	// and Limit are then those of the binding need. It is nil for a
	// request of one need. An Observer must not modify or keep it.
	Needs []Need
	// Duration is what the kind says it is (see the EventKind values).
	Duration time.Duration
	// Err is the store's error (EventStoreError, EventPolicySwitch) or
	// the reason of a refusal. It never holds a password.
	Err error
	// From and To are the states of an EventPolicySwitch.
	From, To string
}

// Observer receives the events of a Limiter or a Transport. Observe is
// called synchronously on the caller's goroutine, so it must be quick and
// safe for concurrent use: count, don't block.
type Observer interface {
	Observe(ctx context.Context, e Event)
}

// ObserverFunc adapts a function to an Observer.
type ObserverFunc func(ctx context.Context, e Event)

// Observe calls f.
func (f ObserverFunc) Observe(ctx context.Context, e Event) { f(ctx, e) }

// Observed is implemented by Limiters that report to an Observer (see
// [Handle]). [Wait] reports its waits and admissions to it.
type Observed interface {
	Observer() Observer
}

// observerOf is lim's Observer, or nil.
func observerOf(lim Limiter) Observer {
	if o, ok := lim.(Observed); ok {
		return o.Observer()
	}
	return nil
}

// SlogObserver logs every event to logger: admissions, refusals and waits
// at Debug, holds at Info, store errors and policy switches at Warn. A nil
// logger is slog.Default(). (A [Handle] logs its policy switches itself;
// this is for a log of every decision.)
func SlogObserver(logger *slog.Logger) Observer {
	if logger == nil {
		logger = slog.Default()
	}
	return ObserverFunc(func(ctx context.Context, e Event) {
		level := slog.LevelDebug
		switch e.Kind {
		case EventHeld:
			level = slog.LevelInfo
		case EventStoreError, EventPolicySwitch:
			level = slog.LevelWarn
		}
		if !logger.Enabled(ctx, level) {
			return
		}
		attrs := make([]slog.Attr, 0, 8)
		attrs = append(attrs, slog.String("event", e.Kind.String()))
		if e.Op != "" {
			attrs = append(attrs, slog.String("op", e.Op))
		}
		if e.Key != "" {
			attrs = append(attrs, slog.String("key", e.Key), slog.Int("n", e.N), slog.String("limit", e.Limit.String()))
		}
		if e.Duration != 0 {
			attrs = append(attrs, slog.Duration("duration", e.Duration))
		}
		if e.From != "" || e.To != "" {
			attrs = append(attrs, slog.String("from", e.From), slog.String("to", e.To))
		}
		if e.Err != nil {
			attrs = append(attrs, slog.String("error", e.Err.Error()))
		}
		logger.LogAttrs(ctx, level, "limiter: "+e.Kind.String(), attrs...)
	})
}
