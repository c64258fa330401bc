// Package tlsconf builds the client TLS settings of everything that talks
// TLS to a service (probe, nut, SMTP relays): TLS 1.2 at least, an optional CA file
// instead of the system roots, an optional server name, and the opt-in to
// skip verification.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
)

// Client returns the TLS config for a client. caFile, when given, is read
// relative to baseDir unless absolute and replaces the system roots; its
// errors name the file but not the option (the caller prefixes that).
func Client(serverName, caFile, baseDir string, insecureSkipVerify bool) (*tls.Config, error) {
	tc := &tls.Config{ServerName: serverName, InsecureSkipVerify: insecureSkipVerify, MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return tc, nil
	}
	p := caFile
	if !filepath.IsAbs(p) {
		p = filepath.Join(baseDir, p)
	}
	pem, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no PEM certificate in %s", p)
	}
	tc.RootCAs = pool
	return tc, nil
}
