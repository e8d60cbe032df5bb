package lighter

import (
	"strings"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/redis"
)

// Tier is a preset from Lighter's published limits for an account tier,
// chosen so that no rolling window exceeds the server's allowance
// (Rate*Window/Period + Burst - 1 <= Allowance):
//
//   - standard: 60 requests per rolling minute (Rate 60 per minute, Burst
//     1), and each request also takes its endpoint's weight from a
//     24,000-weight budget shared by every endpoint, on its own key (see
//     [WeightKey]): both at one slot or neither, and a 429 holds both. So
//     changeAccountTier (weight 3,000) goes at most 8 times a minute,
//     trades (600) 40, the light endpoints 60.
//   - premium: 24,000 weight per rolling minute, each request costing its
//     endpoint's weight (see EndpointWeight): Rate 21,001 per minute,
//     Burst 3,000.
//
// A request for tokens/create (weight 23,000) fails at once, on either
// tier, with limiter.ErrExceedsBurst naming the endpoint and the weight.
type Tier struct {
	// Name is "standard" or "premium".
	Name string
	// Limit is the GCRA limit of the session's key (its first need).
	Limit limiter.Limit
	// Weighted reports whether requests cost their endpoint's weight
	// (true) or 1 against Limit.
	Weighted bool
	// Allowance and Window are the server's rule behind Limit: Allowance
	// per rolling Window.
	Allowance int
	Window    time.Duration
	// Weight, on a tier whose Limit counts requests (standard), is the
	// shared weight budget: every request also takes its endpoint's
	// weight under it from the key WeightKey(key). It is the zero Limit
	// on a weighted tier, whose Limit is that budget already.
	Weight limiter.Limit
	// WeightAllowance is the server's weight allowance per rolling Window
	// behind Weight (0 when Weight is zero).
	WeightAllowance int
}

// The weight budget of Lighter's tiers: 24,000 weight per rolling minute.
var weightBudget = limiter.Limit{Rate: 21_001, Period: time.Minute, Burst: 3_000}

// Tiers returns the account-tier presets (a new slice each call).
func Tiers() []Tier {
	return []Tier{
		{Name: "standard", Limit: limiter.Limit{Rate: 60, Period: time.Minute, Burst: 1}, Allowance: 60, Window: time.Minute,
			Weight: weightBudget, WeightAllowance: 24_000},
		{Name: "premium", Limit: weightBudget, Weighted: true, Allowance: 24_000, Window: time.Minute},
	}
}

// TierByName returns the preset for name ("standard" or "premium",
// any case); "" and "default" return the zero Tier, meaning the
// RequestsPerSecond and Burst settings apply.
func TierByName(name string) (Tier, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" || name == "default" {
		return Tier{}, nil
	}
	tiers := Tiers()
	names := make([]string, 0, len(tiers))
	for _, t := range tiers {
		if t.Name == name {
			return t, nil
		}
		names = append(names, t.Name)
	}
	return Tier{}, configErrorf("unknown account tier %q (accepted: %s, or empty for RequestsPerSecond)", name, strings.Join(names, ", "))
}

// Needs returns what a request for path takes under the tier, key being
// the session's key: N of Limit on key (1, or the endpoint's weight on a
// weighted tier), then, when Weight is set, the endpoint's weight of
// Weight on WeightKey(key). The zero Tier has no limits of its own: it
// returns nil.
func (t Tier) Needs(key, path string) []limiter.Need {
	if t.Limit == (limiter.Limit{}) {
		return nil
	}
	n := 1
	if t.Weighted {
		n = EndpointWeight(path)
	}
	needs := []limiter.Need{{Key: key, Limit: t.Limit, N: n}}
	if t.Weight != (limiter.Limit{}) {
		needs = append(needs, limiter.Need{Key: WeightKey(key), Limit: t.Weight, N: EndpointWeight(path)})
	}
	return needs
}

// WeightKey is the key of the shared weight budget beside the session's
// key (see [Tier]): key + ":weight" for a key holding its own Redis hash
// tag (such as "{account:42}"), else "{" + key + "}:weight". Either way,
// under the Redis limiter's default empty prefix, both keys of a request
// are in one hash slot, so that a Redis Cluster takes them in one script,
// and key itself is stored where it always was. With a prefix, tag
// RateLimitKey yourself ("{account:42}") to keep them in one slot on a
// cluster.
func WeightKey(key string) string { return redis.RateKey("", key) + ":weight" }

// WorstWindow is the most a tier's limit can admit in one rolling Window:
// Rate*Window/Period + Burst - 1. It never exceeds Allowance.
func (t Tier) WorstWindow() int { return worstWindow(t.Limit, t.Window) }

// WeightWorstWindow is WorstWindow of Weight: the most weight the shared
// budget admits in one rolling Window (0 without one). It never exceeds
// WeightAllowance.
func (t Tier) WeightWorstWindow() int {
	if t.Weight == (limiter.Limit{}) {
		return 0
	}
	return worstWindow(t.Weight, t.Window)
}

// worstWindow is Rate*w/Period + Burst - 1 of l.
func worstWindow(l limiter.Limit, w time.Duration) int {
	return int(int64(l.Rate)*int64(w)/int64(l.Period)) + l.Burst - 1
}
