package lighter

import (
	"strings"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
)

// Tier is a preset from Lighter's published limits for an account tier.
//
// Lighter counts requests in a rolling window W. A GCRA limit of Rate per
// Period with Burst admits at most Rate*W/Period + Burst - 1 in any window
// W, so a preset chooses Rate and Burst with Rate*W/Period + Burst - 1 <= L,
// the server's allowance:
//
//   - standard: L = 60 requests per rolling minute, unweighted. Rate 60 per
//     minute, Burst 1: 60 + 1 - 1 = 60.
//   - premium: L = 24,000 weight per rolling minute, each endpoint costing
//     its weight (see EndpointWeight). Burst 3,000 weight, so that every
//     endpoint but tokens/create (23,000) fits in one burst, and Rate
//     21,001 weight per minute: 21,001 + 3,000 - 1 = 24,000. A request
//     for tokens/create fails at once with limiter.ErrExceedsBurst naming
//     the endpoint: it cannot be sent within this budget without risking
//     a 429.
type Tier struct {
	// Name is "standard" or "premium".
	Name string
	// Limit is the GCRA limit the preset uses.
	Limit limiter.Limit
	// Weighted reports whether requests cost their endpoint's weight
	// (true) or 1.
	Weighted bool
	// Allowance and Window are the server's rule: Allowance per rolling
	// Window.
	Allowance int
	Window    time.Duration
}

// Tiers are the account-tier presets.
var Tiers = []Tier{
	{Name: "standard", Limit: limiter.Limit{Rate: 60, Period: time.Minute, Burst: 1}, Allowance: 60, Window: time.Minute},
	{Name: "premium", Limit: limiter.Limit{Rate: 21_001, Period: time.Minute, Burst: 3_000}, Weighted: true, Allowance: 24_000, Window: time.Minute},
}

// TierByName returns the preset for name ("standard" or "premium",
// any case); "" and "default" return the zero Tier, meaning the
// RequestsPerSecond and Burst settings apply.
func TierByName(name string) (Tier, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" || name == "default" {
		return Tier{}, nil
	}
	names := make([]string, 0, len(Tiers))
	for _, t := range Tiers {
		if t.Name == name {
			return t, nil
		}
		names = append(names, t.Name)
	}
	return Tier{}, configErrorf("unknown account tier %q (accepted: %s, or empty for RequestsPerSecond)", name, strings.Join(names, ", "))
}

// WorstWindow is the most a tier's limit can admit in one rolling Window:
// Rate*Window/Period + Burst - 1. It never exceeds Allowance.
func (t Tier) WorstWindow() int {
	return int(int64(t.Limit.Rate)*int64(t.Window)/int64(t.Limit.Period)) + t.Limit.Burst - 1
}
