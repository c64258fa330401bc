package httpapi

import (
	"strings"
	"testing"
)

func TestAlertmanagerMatchersEqualityOnly(t *testing.T) {
	f, tr := false, true
	for _, tc := range []struct {
		ms      []amMatcher
		want    map[string]string
		refused string
	}{
		{[]amMatcher{{Name: "alertname", Value: "RackTooHot", IsEqual: &tr}}, map[string]string{"alertname": "RackTooHot"}, ""},
		{[]amMatcher{{Name: "target", Value: "rack1"}}, map[string]string{"target": "rack1"}, ""}, // isEqual absent: older clients
		{[]amMatcher{{Name: "target", Value: "rack.*", IsRegex: true, IsEqual: &tr}}, nil, `target=~"rack.*"`},
		{[]amMatcher{{Name: "target", Value: "rack1", IsEqual: &f}}, nil, `target!="rack1"`},
		{[]amMatcher{{Name: "target", Value: "r", IsRegex: true, IsEqual: &f}}, nil, `target!~"r"`},
		{nil, nil, "at least one"},
		{[]amMatcher{{Name: "a", Value: "1"}, {Name: "a", Value: "2"}}, nil, "never both hold"},
	} {
		got, err := eqMatchers(tc.ms)
		if tc.refused != "" {
			if err == nil || !strings.Contains(err.Error(), tc.refused) {
				t.Errorf("%+v: err %v, want one naming %s", tc.ms, err, tc.refused)
			}
			continue
		}
		if err != nil || len(got) != len(tc.want) {
			t.Errorf("%+v: %v %v", tc.ms, got, err)
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("%+v: %s=%q, want %q", tc.ms, k, got[k], v)
			}
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
