package lighter

import (
	"fmt"
	"strings"
)

// Robinhood is the API of Lighter's Robinhood deployment.
const Robinhood = "https://api.rh.lighter.xyz"

// RobinhoodLLPIndex is the LLP's account index on the robinhood
// deployment, pinned as the original pins it rather than read from
// systemConfig.
const RobinhoodLLPIndex int64 = 281474976710654

// Deployment is one Lighter deployment: its name, its API URL and, when
// pinned, its LLP's account index.
type Deployment struct {
	// Name is "mainnet", "testnet" or "robinhood".
	Name string
	// APIURL is the deployment's API base URL.
	APIURL string
	// LLPIndex is the LLP's account index when the deployment pins it;
	// 0 to read it from systemConfig.
	LLPIndex int64
}

// Deployments returns the known deployments, mainnet (the default) first.
func Deployments() []Deployment {
	return []Deployment{
		{Name: "mainnet", APIURL: Mainnet},
		{Name: "testnet", APIURL: Testnet},
		{Name: "robinhood", APIURL: Robinhood, LLPIndex: RobinhoodLLPIndex},
	}
}

// DeploymentByName returns the deployment called name (any case); ""
// is mainnet. An unknown name is an error listing the known ones.
func DeploymentByName(name string) (Deployment, error) {
	if name == "" {
		name = "mainnet"
	}
	var names []string
	for _, d := range Deployments() {
		if strings.EqualFold(d.Name, name) {
			return d, nil
		}
		names = append(names, d.Name)
	}
	return Deployment{}, fmt.Errorf("lighter: unknown deployment %q: want one of %s", name, strings.Join(names, ", "))
}

// Deployment returns the Lighter deployment the Session is configured
// for (its APIURL may have been overridden: see URL).
func (s *Session) Deployment() Deployment { return s.cfg.deployment }
