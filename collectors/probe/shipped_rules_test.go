package probe

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/collectors/collectortest"
	"github.com/vedetta-dc/vedetta/rules/rulestest"
)

// probeCases are configs/rules.d/probe.yaml's rules on a real probe of a
// TLS server, its samples changed the way the failure would change them.
var probeCases = []rulestest.Case{
	{Rule: "ServiceDown", Fire: rulestest.Set("probe_success", 0),
		Want: "web (http https://127.0.0.1:", WantResolved: ") is up again"},
	{Rule: "ServiceSlow", Fire: rulestest.Set("probe_duration_seconds", 3.25), Rounds: 12,
		Want: "web answers in 3.2 s on average (5 minutes)"},
	{Rule: "TLSCertificateExpiring", Fire: rulestest.Set("probe_tls_cert_expiry_seconds", 3*86400+5*3600),
		Want: "the certificate of web expires in 3 d 5 h"},
}

// TestShippedRuleSummaries: every row of probeCases.
func TestShippedRuleSummaries(t *testing.T) {
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer ts.Close()
	c, err := New(collectors.Spec{Name: "web"}, collectortest.DecodeYAML(fmt.Sprintf("probe: {http: %q, insecure_skip_verify: true}", ts.URL)))
	if err != nil {
		t.Fatal(err)
	}
	samples, err := collectortest.Collect(c, 0)
	if err != nil {
		t.Fatal(err)
	}
	rs := rulestest.Shipped(t, "probe.yaml")
	for _, tc := range probeCases {
		tc.Source, tc.Class = "a probe of "+ts.URL, "probe"
		t.Run(tc.Rule, func(t *testing.T) { rulestest.Run(t, rs, "web", samples, tc) })
	}
}
