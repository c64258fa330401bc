package probe

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/collectors/collectortest"
	"github.com/vedetta-dc/vedetta/rules/rulestest"
)

// TestShippedRules: configs/rules.d/probe.yaml. A service answering 503
// for over a minute raises ServiceDown; a certificate 3 days from expiry
// raises TLSCertificateExpiring; a healthy service raises nothing.
func TestShippedRules(t *testing.T) {
	rules := rulestest.Shipped(t, "probe.yaml")
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
			c, err := New(collectors.Spec{Name: "web"}, collectortest.DecodeYAML(fmt.Sprintf("probe: {http: %q, insecure_skip_verify: true}", ts.URL)))
			if err != nil {
				t.Fatal(err)
			}
			c.(*Collector).now = func() time.Time { return tc.now }
			f := rulestest.NewFeed(rules, "web", "probe", 30*time.Second)
			for range 4 {
				samples, _ := collectortest.Collect(c, 0)
				f.Round(samples)
			}
			for _, a := range rulestest.Summaries(f.Engine) {
				t.Log(a)
			}
			got := rulestest.Firing(f.Engine, "")
			if fmt.Sprint(got) != tc.want {
				t.Errorf("firing %v, want %v", got, tc.want)
			}
		})
	}
}
