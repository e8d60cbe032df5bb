package lighter

import (
	"net"
	"net/url"
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
// is mainnet. An unknown name is an error listing the known ones (it
// matches ErrInvalidConfig).
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
	return Deployment{}, configErrorf("unknown deployment %q: want one of %s", name, strings.Join(names, ", "))
}

// deploymentOfURL returns the deployment whose API URL u is: the same
// scheme and host (any case, the default port or none), no path beyond
// "/", no query.
func deploymentOfURL(u *url.URL) (Deployment, bool) {
	if strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.User != nil {
		return Deployment{}, false
	}
	for _, d := range Deployments() {
		du, err := url.Parse(d.APIURL)
		if err == nil && u.Scheme == du.Scheme && strings.EqualFold(hostPort(u), hostPort(du)) {
			return d, true
		}
	}
	return Deployment{}, false
}

// defaultPorts are the ports of an API URL that names none.
var defaultPorts = map[string]string{"http": "80", "https": "443"}

// hostPort is u's host with its port, the scheme's default when it has
// none ("api.rh.lighter.xyz:443").
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = defaultPorts[u.Scheme]
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// Deployment returns the Lighter deployment the Session is configured
// for (its APIURL may have been overridden: see URL).
func (s *Session) Deployment() Deployment { return s.cfg.deployment }
