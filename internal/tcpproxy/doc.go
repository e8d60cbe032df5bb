// Package tcpproxy is a TCP proxy for fault tests: it forwards 127.0.0.1
// connections to a target and can cut every connection and refuse new ones
// for a while, as a network partition would.
package tcpproxy
