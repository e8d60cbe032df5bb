package lightertest

import (
	"slices"
	"testing"

	"github.com/sharedlimit/sharedlimit/lighter"
)

// TestFakeAgreesWithClient pins the fake's chart resolutions to the
// client's: the fake keeps its own copy (it stands for the server), so a
// change to one side must be made to the other. (The fake's paths are the
// client's constants.)
func TestFakeAgreesWithClient(t *testing.T) {
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
