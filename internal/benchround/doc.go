// Package benchround compares implementations side by side in one
// benchmark: rounds of each in turn, the order rotating every round, so
// that a shared machine's drift hits them alike, and the medians reported
// with b.ReportMetric. The README's speed figures come from it.
package benchround
