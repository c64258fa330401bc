// Package redact removes credentials from URLs, and from errors that name
// URLs, before they are shown: in logs, in sample labels (and so in
// /metrics and in alarm labels), in error messages.
//
// What counts as a credential:
//
//   - the password of the user info (https://user:xxxxx@host/), and a user
//     name given alone, which is how tokens are usually passed
//     (https://xxxxx@host/);
//   - the value of a query (or fragment) parameter whose name, compared
//     without case and with '-' read as '_', is one of key, pass, pwd, auth,
//     authorization, sig, jwt, or contains token, secret, passw,
//     passphrase, apikey, api_key, signature, credential, session, or ends
//     in _key, _sig, _auth (?token=xxxxx, ?api-key=xxxxx,
//     ?X-Amz-Signature=xxxxx, ?access_token=xxxxx).
//
// A URL without credentials is returned unchanged (a sample label keeps its
// value); the others keep the order and encoding of their parameters. A
// secret in the path (https://host/hook/<token>) cannot be told from a path
// and is kept.
package redact

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
)

// Mask replaces every redacted value.
const Mask = "xxxxx"

// Unparsable stands for a URL that net/url cannot parse: its parts cannot be
// told apart, so none of it is shown.
const Unparsable = "(unparsable URL)"

// URL returns the URL raw with its credentials replaced by Mask; raw itself
// when it has none, Unparsable when net/url cannot parse it. raw must be a
// URL (absolute or relative), not a host:port.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return Unparsable
	}
	changed := false
	if u.User != nil && u.User.String() != "" {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), Mask)
		} else {
			u.User = url.User(Mask)
		}
		changed = true
	}
	if q, ok := pairs(u.RawQuery); ok {
		u.RawQuery, changed = q, true
	}
	if f, ok := pairs(u.EscapedFragment()); ok {
		// f is the escaped fragment with values replaced: still valid.
		uf, err := url.PathUnescape(f)
		if err != nil {
			uf, f = "", ""
		}
		u.Fragment, u.RawFragment, changed = uf, f, true
	}
	if !changed {
		return raw
	}
	return u.String()
}

// pairs masks the values of sensitive parameters in a raw a=1&b=2 list,
// keeping the order and the encoding of everything else. ok is false when
// nothing was masked.
func pairs(raw string) (string, bool) {
	if raw == "" || !strings.Contains(raw, "=") {
		return raw, false
	}
	parts := strings.Split(raw, "&")
	ok := false
	for i, p := range parts {
		k, v, has := strings.Cut(p, "=")
		if !has || v == "" || v == Mask {
			continue
		}
		name, err := url.QueryUnescape(k)
		if err != nil {
			name = k
		}
		if Sensitive(name) {
			parts[i] = k + "=" + Mask
			ok = true
		}
	}
	return strings.Join(parts, "&"), ok
}

var (
	exact    = map[string]bool{"key": true, "pass": true, "pwd": true, "auth": true, "authorization": true, "sig": true, "jwt": true}
	contains = []string{"token", "secret", "passw", "passphrase", "apikey", "api_key", "signature", "credential", "session"}
	suffixes = []string{"_key", "_sig", "_auth"}
)

// Sensitive reports whether a query parameter named name carries a
// credential (see the package documentation).
func Sensitive(name string) bool {
	n := strings.ReplaceAll(strings.ToLower(name), "-", "_")
	if exact[n] {
		return true
	}
	for _, s := range contains {
		if strings.Contains(n, s) {
			return true
		}
	}
	for _, s := range suffixes {
		if strings.HasSuffix(n, s) {
			return true
		}
	}
	return false
}

// Error returns err with the URLs it names redacted: the URL of every
// *url.Error in its chain (net/http's "Get \"https://...\": ..." and
// url.Parse's errors), and each of known, the URLs the caller used. The
// result still unwraps to err, so errors.Is and errors.As keep working; only
// its message changes. An error that names no credential is returned as is.
func Error(err error, known ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	out := msg
	walk(err, func(e error) {
		if ue, ok := e.(*url.Error); ok {
			out = replace(out, ue.URL)
		}
	})
	for _, k := range known {
		out = replace(out, k)
	}
	if out == msg {
		return err
	}
	return &redacted{msg: out, err: err}
}

type redacted struct {
	msg string
	err error
}

func (e *redacted) Error() string { return e.msg }
func (e *redacted) Unwrap() error { return e.err }

// replace puts the redacted form of raw in place of raw in s, quoted (as
// url.Error prints it) and bare.
func replace(s, raw string) string {
	if raw == "" {
		return s
	}
	red := URL(raw)
	if red == raw {
		return s
	}
	s = strings.ReplaceAll(s, strconv.Quote(raw), strconv.Quote(red))
	return strings.ReplaceAll(s, raw, red)
}

// walk calls fn on err and everything it wraps, depth first.
func walk(err error, fn func(error)) {
	for depth := 0; err != nil && depth < 100; depth++ {
		fn(err)
		switch w := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range w.Unwrap() {
				walk(e, fn)
			}
			return
		case interface{ Unwrap() error }:
			err = w.Unwrap()
		default:
			err = errors.Unwrap(err)
		}
	}
}
