package config

import (
	"strings"
	"testing"
	"time"
)

// notify.start_digest: 45s unless told, 0 turns it off, more than a
// minute is refused (it holds critical pages too) at its line.
func TestStartDigestOption(t *testing.T) {
	const relay = "      - {host: smtp1.example, port: 587, tls: starttls}\n"
	for _, tc := range []struct {
		name, line string
		want       time.Duration
		err        string
	}{
		{name: "default", want: DefaultStartDigest},
		{name: "off", line: "  start_digest: 0\n", want: 0},
		{name: "shorter", line: "  start_digest: 20s\n", want: 20 * time.Second},
		{name: "the longest", line: "  start_digest: 1m\n", want: time.Minute},
		{name: "too long", line: "  start_digest: 2m\n", err: ":14: notify.start_digest: want 0 (off) to 1m (default 45s), got 2m0s"},
		{name: "negative", line: "  start_digest: -5s\n", err: ":14: notify.start_digest: invalid duration"},
		{name: "not a duration", line: "  start_digest: soon\n", err: ":14: notify.start_digest: invalid duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := write(t, t.TempDir(), "v.yaml", strings.Replace(base, relay, relay+tc.line, 1))
			cfg, err := Load(p)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), p+tc.err) {
					t.Fatalf("error %v, want %s%s", err, p, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Notify.StartDigestWindow(); got != tc.want {
				t.Errorf("start digest %v, want %v", got, tc.want)
			}
		})
	}
}
