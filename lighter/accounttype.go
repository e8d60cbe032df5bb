package lighter

import "strconv"

// AccountType is Lighter's account type code, as its documentation numbers
// them (the OpenAPI description has no enum for it).
type AccountType int

// Account types.
const (
	// AccountMaster is an ordinary (master) trading account.
	AccountMaster AccountType = 0
	// AccountSubAccount is a sub-account of a master account.
	AccountSubAccount AccountType = 1
	// AccountPublicPool is a public pool run by an operator.
	AccountPublicPool AccountType = 2
	// AccountInsuranceFund is the insurance fund: the LLP, the
	// protocol's own liquidity pool, shows as this type.
	AccountInsuranceFund AccountType = 3
	// AccountStakingPool is the staking pool.
	AccountStakingPool AccountType = 4
	// AccountTreasurySubAccount is a treasury sub-account.
	AccountTreasurySubAccount AccountType = 5
)

// String names the type ("public pool"), or "account type N" for a code
// Lighter has not documented.
func (t AccountType) String() string {
	switch t {
	case AccountMaster:
		return "master"
	case AccountSubAccount:
		return "sub-account"
	case AccountPublicPool:
		return "public pool"
	case AccountInsuranceFund:
		return "insurance fund"
	case AccountStakingPool:
		return "staking pool"
	case AccountTreasurySubAccount:
		return "treasury sub-account"
	}
	return "account type " + strconv.Itoa(int(t))
}

// IsPool reports whether accounts of the type hold pool shares: public
// pools, the insurance fund (the LLP) and the staking pool.
func (t AccountType) IsPool() bool {
	return t == AccountPublicPool || t == AccountInsuranceFund || t == AccountStakingPool
}
