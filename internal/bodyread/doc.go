// Package bodyread reads the bodies of responses that are only drained or
// quoted in an error, bounded in bytes and in time, so that a server
// trickling an endless body cannot hold a caller.
package bodyread
