// Package retryafter parses the HTTP Retry-After header in both of its
// forms, whole seconds and HTTP date.
package retryafter
