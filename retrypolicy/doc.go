// Package retrypolicy retries HTTP requests with urllib3's semantics on top of failsafe-go.
package retrypolicy
