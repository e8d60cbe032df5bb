package redact

import (
	"errors"
	"net/url"
	"slices"
	"strings"
)

// minSecret is the length under which a secret is not scrubbed from
// messages: masking every "ab" would garble them, and String has masked
// the URL itself already.
const minSecret = 4

// Secrets returns every credential raw carries (userinfo, its user name
// and password, credential query values, under each reading String
// considers), each in every form a parser or an error message may quote
// it in: raw, decoded, re-encoded as a query value, a path, a userinfo or
// with every byte as %XX. Longest first.
func Secrets(raw string) []string {
	var found []string
	for _, s := range append(userinfoSpans(raw), valueSpans(raw)...) {
		v := raw[s.start:s.end]
		found = append(found, v)
		if s.userinfo {
			user, pass, _ := strings.Cut(v, ":")
			found = append(found, user, pass)
		}
	}
	if u, err := url.Parse(raw); err == nil {
		found = append(found, userSecrets(u.User)...)
		found = append(found, secretParams(u.RawQuery)...)
	}
	return allForms(found)
}

// URLSecrets returns the credentials of a parsed URL (its user name and
// password, the values of credential parameters in its query and
// fragment), each in every form of [Forms], longest first: what to mask in
// text that may quote the URL, such as an error page that echoes the
// request. Unlike [Secrets] it reads u as parsed, so that a path holding
// '@' adds nothing.
func URLSecrets(u *url.URL) []string {
	if u == nil {
		return nil
	}
	found := userSecrets(u.User)
	for _, part := range []string{"?" + u.RawQuery, "#" + u.EscapedFragment()} {
		for _, s := range valueSpans(part) {
			found = append(found, part[s.start:s.end])
		}
		found = append(found, secretParams(part[1:])...)
	}
	return allForms(found)
}

// userSecrets returns the user name and, when set, the password of user
// (nothing for a nil user).
func userSecrets(user *url.Userinfo) []string {
	if user == nil {
		return nil
	}
	found := []string{user.Username()}
	if p, ok := user.Password(); ok {
		found = append(found, p)
	}
	return found
}

// secretParams returns the values of the credential parameters of a raw
// query (nothing when it does not parse).
func secretParams(rawQuery string) []string {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil
	}
	var found []string
	for k, vs := range q {
		if IsSecretParam(k) {
			found = append(found, vs...)
		}
	}
	return found
}

// allForms returns every form of [Forms] of each of found, once each,
// longest first.
func allForms(found []string) []string {
	var out []string
	for _, f := range found {
		for _, form := range Forms(f) {
			if !slices.Contains(out, form) {
				out = append(out, form)
			}
		}
	}
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// Forms returns secret as it is, decoded (when it is percent-encoded) and
// re-encoded as a query value, a path, a userinfo or with every byte as
// %XX: the forms a parser or an error message may quote it in. Forms
// shorter than 4 bytes are left out.
func Forms(secret string) []string {
	decoded := []string{secret}
	if d, err := url.PathUnescape(secret); err == nil && d != secret {
		decoded = append(decoded, d)
	}
	if d, err := url.QueryUnescape(secret); err == nil && d != secret {
		decoded = append(decoded, d)
	}
	var out []string
	for _, d := range decoded {
		for _, f := range []string{d, url.QueryEscape(d), url.PathEscape(d), url.User(d).String(),
			PercentEncode(d, false), PercentEncode(d, true)} {
			if len(f) >= minSecret && !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	return out
}

// PercentEncode returns s with every byte as %XX (upper-case hex digits,
// or lower-case when lower is set).
func PercentEncode(s string, lower bool) string {
	digits := "0123456789ABCDEF"
	if lower {
		digits = "0123456789abcdef"
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteByte('%')
		b.WriteByte(digits[s[i]>>4])
		b.WriteByte(digits[s[i]&15])
	}
	return b.String()
}

// Text returns s with every one of secrets replaced by [Mask].
func Text(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= minSecret {
			s = strings.ReplaceAll(s, sec, Mask)
		}
	}
	return s
}

// Error returns err, or, when its message holds one of secrets, an error
// whose message has them masked. The copy still matches what err matches
// with errors.Is, but does not unwrap: the original, secret and all, must
// not be reachable with errors.As or Unwrap.
func Error(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	masked := Text(msg, secrets)
	if masked == msg {
		return err
	}
	return &maskedError{msg: masked, orig: err}
}

type maskedError struct {
	msg  string
	orig error
}

func (e *maskedError) Error() string { return e.msg }

func (e *maskedError) Is(target error) bool { return errors.Is(e.orig, target) }
