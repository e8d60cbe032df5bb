// Package redact keeps secrets out of errors and logs: passwords in URLs,
// also in URLs that do not parse, and the values of query parameters that
// carry credentials.
package redact
