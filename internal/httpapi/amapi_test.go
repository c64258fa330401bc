package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// Alertmanager's matchers map to vedetta's four operators; a matcher that
// cannot be (no name, a bad expression) is refused.
func TestAlertmanagerMatchers(t *testing.T) {
	f, tr := false, true
	for _, tc := range []struct {
		ms      []amMatcher
		want    string
		refused string
	}{
		{[]amMatcher{{Name: "alertname", Value: "RackTooHot", IsEqual: &tr}}, `alertname="RackTooHot"`, ""},
		{[]amMatcher{{Name: "target", Value: "rack1"}}, `target="rack1"`, ""}, // isEqual absent: older clients
		{[]amMatcher{{Name: "target", Value: "rack.*", IsRegex: true, IsEqual: &tr}}, `target=~"rack.*"`, ""},
		{[]amMatcher{{Name: "target", Value: "rack1", IsEqual: &f}, {Name: "ifname", Value: "Gi1/.*", IsRegex: true}}, `target!="rack1" ifname=~"Gi1/.*"`, ""},
		{[]amMatcher{{Name: "target", Value: "r", IsRegex: true, IsEqual: &f}}, `target!~"r"`, ""},
		{nil, "", "at least one"},
		{[]amMatcher{{Name: "", Value: "1"}}, "", "not a label name"},
		{[]amMatcher{{Name: "a", Value: "(", IsRegex: true}}, "", "missing closing )"},
	} {
		got, err := amMatchers(tc.ms)
		if tc.refused != "" {
			if err == nil || !strings.Contains(err.Error(), tc.refused) {
				t.Errorf("%+v: err %v, want one saying %s", tc.ms, err, tc.refused)
			}
			continue
		}
		if err != nil || got.String() != tc.want {
			t.Errorf("%+v: %v %v, want %s", tc.ms, got, err, tc.want)
		}
	}
}

func TestAlertmanagerFilter(t *testing.T) {
	m, err := eqFilter([]string{`alertname="RackTooHot"`, "{target=rack1}"})
	if err != nil || m["alertname"] != "RackTooHot" || m["target"] != "rack1" {
		t.Fatalf("%v %v", m, err)
	}
	for _, bad := range []string{`target=~"r.*"`, `target!="r"`, "target"} {
		if _, err := eqFilter([]string{bad}); err == nil {
			t.Errorf("filter %s accepted", bad)
		}
	}
}

// The v2 alerts and groups over a real dispatcher: the silence on t7
// suppresses its alarms (silencedBy), the query parameters filter.
func TestAlertmanagerAlertsAndGroups(t *testing.T) {
	src, disp := farm(t, 30, 10)
	ts := startUI(t, src)
	var sil string
	for _, s := range disp.Silences() {
		sil = s.ID
	}
	var alerts []amAlert
	getJSON(t, ts.URL+"/api/v2/alerts", &alerts)
	if len(alerts) != 30 {
		t.Fatalf("%d alerts, want 30", len(alerts))
	}
	suppressed := 0
	for _, a := range alerts {
		if a.Labels["alertname"] == "" || a.Labels["severity"] == "" || a.Annotations["summary"] == "" || len(a.Fingerprint) != 16 ||
			!a.EndsAt.After(a.StartsAt) || a.Status.SilencedBy == nil || a.Status.InhibitedBy == nil || a.Receivers == nil {
			t.Fatalf("alert not in Alertmanager's shape: %+v", a)
		}
		if a.Labels["target"] == "t7" {
			if a.Status.State != "suppressed" || len(a.Status.SilencedBy) != 1 || a.Status.SilencedBy[0] != sil {
				t.Errorf("alert on t7 not suppressed by %s: %+v", sil, a.Status)
			}
			suppressed++
		} else if a.Status.State != "active" {
			t.Errorf("alert on %s: %+v", a.Labels["target"], a.Status)
		}
	}
	if suppressed != 3 {
		t.Errorf("%d suppressed, want 3", suppressed)
	}
	getJSON(t, ts.URL+"/api/v2/alerts?silenced=false", &alerts)
	if len(alerts) != 27 {
		t.Errorf("silenced=false: %d alerts, want 27", len(alerts))
	}
	getJSON(t, ts.URL+`/api/v2/alerts?filter=target%3D%22t1%22&filter=severity%3Dwarning`, &alerts)
	if len(alerts) != 1 || alerts[0].Labels["target"] != "t1" || alerts[0].Labels["severity"] != "warning" {
		t.Errorf("filtered: %+v", alerts)
	}
	var groups []struct {
		Labels   map[string]string
		Receiver amReceiver
		Alerts   []amAlert
	}
	getJSON(t, ts.URL+"/api/v2/alerts/groups", &groups)
	n := 0
	for _, g := range groups {
		for _, a := range g.Alerts {
			if a.Labels["alertname"] != g.Labels["alertname"] || g.Receiver.Name != "vedetta" {
				t.Errorf("alert %v in group %v/%s", a.Labels, g.Labels, g.Receiver.Name)
			}
			n++
		}
	}
	if len(groups) != 20 || n != 30 {
		t.Errorf("%d groups holding %d alerts, want 20 and 30", len(groups), n)
	}
	if code, _ := get(t, http.DefaultClient, ts.URL+`/api/v2/alerts?filter=target%3D~%22t.*%22`); code != 400 {
		t.Errorf("regex filter: HTTP %d, want 400", code)
	}
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	code, body := get(t, http.DefaultClient, u)
	if code != 200 {
		t.Fatalf("GET %s: %d %s", u, code, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}
