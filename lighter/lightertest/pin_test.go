package lightertest

import (
	"slices"
	"testing"

	"github.com/sharedlimit/sharedlimit/lighter"
)

// TestFakeAgreesWithClient pins the fake's paths and chart resolutions to
// the client's: the fake keeps its own copy (it stands for the server), so
// a change to one side must be made to the other.
func TestFakeAgreesWithClient(t *testing.T) {
	paths := []struct{ fake, client string }{
		{PathSystemConfig, lighter.PathSystemConfig},
		{PathPublicPoolsMetadata, lighter.PathPublicPoolsMetadata},
		{PathAccount, lighter.PathAccount},
		{PathPnL, lighter.PathPnL},
		{PathOrderBooks, lighter.PathOrderBooks},
		{PathCandles, lighter.PathCandles},
		{PathFundings, lighter.PathFundings},
		{PathFundingRates, lighter.PathFundingRates},
		{PathRecentTrades, lighter.PathRecentTrades},
		{PathTrades, lighter.PathTrades},
		{PathOrderBookDetails, lighter.PathOrderBookDetails},
		{PathExchangeStats, lighter.PathExchangeStats},
		{PathAccountsByL1Address, lighter.PathAccountsByL1Address},
	}
	for _, p := range paths {
		if p.fake != p.client {
			t.Errorf("fake serves %q where the client calls %q", p.fake, p.client)
		}
	}
	res := []struct {
		name         string
		fake, client []string
	}{
		{"pnl", pnlResolutions, lighter.PnLResolutions()},
		{"candles", candleResolutions, lighter.CandleResolutions()},
		{"fundings", fundingResolutions, lighter.FundingResolutions()},
	}
	for _, r := range res {
		if !slices.Equal(r.fake, r.client) {
			t.Errorf("%s resolutions: fake %v, client %v", r.name, r.fake, r.client)
		}
	}
}
