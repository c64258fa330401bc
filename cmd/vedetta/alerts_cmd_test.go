package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// `vedetta alerts` against the running daemon: the table, the filters
// (state, severity, label) and JSON; an ack shows in the table.
func TestE2EAlertsCommand(t *testing.T) {
	t.Parallel()
	mp := testpeer.StartMailpit(t)
	c := newE2EConfig(t, relay(mp.SMTPPort))
	cfg := strings.Replace(c.yaml(), "http:\n", "http:\n  token: "+apiToken+"\n", 1)
	cfg = strings.Replace(cfg, "rules:\n", `rules:
  - name: RackWarm
    expr: rack_temperature_celsius > 30
    for: 1s
    severity: warning
    summary: "rack {{ .Labels.target }} warm"
`, 1)
	path := filepath.Join(c.Dir, "vedetta.yaml")
	writeFile(t, path, cfg)
	d := startDaemon(t, path, c.HTTPPort)
	alerts := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(vedettaBin(t), append([]string{"alerts", "--config", path}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("vedetta alerts %v: %v\n%s", args, err, out)
		}
		return string(out)
	}

	writeFile(t, c.ValueFile, "rack_temperature_celsius 41.5\n")
	testpeer.WaitFor(t, 6*time.Second, "both alarms firing", func() bool {
		return d.alertState("RackTooHot") == "firing" && d.alertState("RackWarm") == "firing"
	})
	out := alerts()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[0], "ACK/SILENCE") {
		t.Fatalf("table:\n%s", out)
	}
	// Sorted by severity: critical first.
	if !strings.Contains(lines[1], "RackTooHot") || !strings.Contains(lines[1], "critical") || !strings.Contains(lines[1], "rack1") {
		t.Errorf("first row is not the critical alarm:\n%s", out)
	}
	if out := alerts("--severity", "warning"); strings.Contains(out, "RackTooHot") || !strings.Contains(out, "RackWarm") {
		t.Errorf("--severity warning:\n%s", out)
	}
	if out := alerts("--match", "rule=RackTooHot"); strings.Contains(out, "RackWarm") || !strings.Contains(out, "RackTooHot") {
		t.Errorf("--match rule=RackTooHot:\n%s", out)
	}
	if out := alerts("--match", "target=rack2"); strings.Contains(out, "Rack") {
		t.Errorf("--match target=rack2 lists alarms:\n%s", out)
	}
	if out := alerts("--state", "resolved"); strings.Contains(out, "Rack") {
		t.Errorf("--state resolved lists firing alarms:\n%s", out)
	}
	var rows []alertRow
	if err := json.Unmarshal([]byte(alerts("-o", "json", "--state", "firing")), &rows); err != nil || len(rows) != 2 {
		t.Fatalf("--output json: %v, %d rows", err, len(rows))
	}
	if rows[0].Rule != "RackTooHot" || rows[0].Labels["target"] != "rack1" || rows[0].Value != 41.5 || rows[0].Since.IsZero() {
		t.Errorf("json row: %+v", rows[0])
	}

	// An ack shows in the ACK/SILENCE column.
	ack, err := exec.Command(vedettaBin(t), "ack", rows[0].ID, "--config", path, "--comment", "on it").CombinedOutput()
	if err != nil {
		t.Fatalf("vedetta ack: %v\n%s", err, ack)
	}
	out = alerts("--match", "rule=RackTooHot")
	if !strings.Contains(out, "acked by ") {
		t.Errorf("the ack is not shown:\n%s", out)
	}
	// A bad filter is an error, not an empty list.
	if out, err := exec.Command(vedettaBin(t), "alerts", "--config", path, "--match", "oops").CombinedOutput(); err == nil {
		t.Errorf("--match oops accepted:\n%s", out)
	}
}

func TestFilterAlertsSortsBySeverityThenAge(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	all := []alertRow{
		{ID: "w", Rule: "W", Severity: "warning", State: "firing", Since: t0},
		{ID: "c2", Rule: "C", Severity: "critical", State: "firing", Since: t0.Add(time.Hour), Labels: map[string]string{"room": "b"}},
		{ID: "c1", Rule: "C", Severity: "critical", State: "stale", Since: t0.Add(time.Minute), Labels: map[string]string{"room": "a"}},
		{ID: "r", Rule: "R", Severity: "critical", State: "resolved", Since: t0},
	}
	ids := func(rows []alertRow) string {
		var s []string
		for _, r := range rows {
			s = append(s, r.ID)
		}
		return strings.Join(s, ",")
	}
	for _, tc := range []struct {
		states, sev []string
		match       map[string]string
		want        string
	}{
		{nil, nil, nil, "r,c1,c2,w"},
		{[]string{"firing", "stale"}, nil, nil, "c1,c2,w"},
		{nil, []string{"warning"}, nil, "w"},
		{nil, nil, map[string]string{"room": "b"}, "c2"},
		{nil, nil, map[string]string{"alertname": "C", "severity": "critical"}, "c1,c2"},
	} {
		if got := ids(filterAlerts(all, tc.states, tc.sev, tc.match)); got != tc.want {
			t.Errorf("filter %v %v %v = %s, want %s", tc.states, tc.sev, tc.match, got, tc.want)
		}
	}
}
