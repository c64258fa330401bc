package probe

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/alerting"
	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// TestShippedRules: configs/rules.d/probe.yaml. A service answering 503
// for over a minute raises ServiceDown; a certificate 3 days from expiry
// raises TLSCertificateExpiring; a healthy service raises nothing.
func TestShippedRules(t *testing.T) {
	rulesFile := filepath.Join(testpeer.RepoRoot(t), "configs", "rules.d", "probe.yaml")
	cfgPath := filepath.Join(t.TempDir(), "vedetta.yaml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf("rule_files: [%q]\n", rulesFile)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	rules, errs := alerting.CompileRules(cfg)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	status := http.StatusOK
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(status) }))
	defer ts.Close()
	notAfter := ts.Certificate().NotAfter

	cases := []struct {
		name   string
		status int
		now    time.Time // the probe's clock, for the certificate's expiry
		want   string
	}{
		{"healthy", 200, time.Now(), "[]"},
		{"503", 503, time.Now(), "[ServiceDown]"},
		{"certificate expires in 3 days", 200, notAfter.Add(-72 * time.Hour), "[TLSCertificateExpiring]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status = tc.status
			c, err := New(collectors.Spec{Name: "web"}, decodeYAML(fmt.Sprintf("probe: {http: %q, insecure_skip_verify: true}", ts.URL)))
			if err != nil {
				t.Fatal(err)
			}
			c.(*Collector).now = func() time.Time { return tc.now }
			clock := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
			e := alerting.New(alerting.Options{Rules: rules, Now: func() time.Time { return clock },
				Intervals: map[string]time.Duration{"web": 30 * time.Second}})
			for range 4 {
				b := collectors.Batch{Target: "web"}
				_ = c.Collect(context.Background(), func(s collectors.Sample) {
					s.Labels = s.Labels.With("target", "web").With("class", "probe")
					s.Time = clock
					b.Samples = append(b.Samples, s)
				})
				e.Ingest(b)
				clock = clock.Add(30 * time.Second)
			}
			var got []string
			for _, a := range e.Alarms() {
				if a.State == alerting.StateFiring {
					got = append(got, a.Rule)
					t.Logf("%s: %s", a.Rule, a.Summary)
				}
			}
			sort.Strings(got)
			if fmt.Sprint(got) != tc.want {
				t.Errorf("firing %v, want %v", got, tc.want)
			}
		})
	}
}
