// Package integration holds tests across real processes, real stores and
// faults: worker processes each running a lighter.Session against a fake
// Lighter API that answers 429 above its limit, sharing one limit through
// SQLite, a real redis-server or miniredis, while stores die, connections
// drop, the API fails, workers are killed and clocks disagree. It also
// checks the docker-compose.yml fleet and measures every backend side by
// side. It has no exported API; see the test files.
package integration
