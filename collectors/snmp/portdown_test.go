package snmp

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/model"
	"github.com/vedetta-dc/vedetta/rules/rulestest"
)

// TestSwitchPortDownOnlyForPortsThatMatter runs the shipped SwitchPortDown
// from a first start on the real 2960-X recording (83 described access
// ports without link: it stormed a first start with 83 pages before). A
// port pages when its ifAlias names it a link to another device, down
// from the start, or when vedetta saw it up before it lost its link; an
// access port nobody plugged in never does.
func TestSwitchPortDownOnlyForPortsThatMatter(t *testing.T) {
	rs := rulestest.Shipped(t, "snmp.yaml")
	addr, _ := startSimd(t, "", "ios_2960x")
	k, err := NewCollector("dev", Options{SNMP: Agent{Address: addr, Community: secret("ios_2960x"), Timeout: 3 * time.Second}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var recorded []model.Sample
	if _, err := k.Poll(t.Context(), func(s model.Sample) { recorded = append(recorded, s) }); err != nil {
		t.Fatal(err)
	}
	down := func(ss []model.Sample, alias string) []model.Sample {
		out := slices.Clone(ss)
		n := 0
		for i := range out {
			if out[i].Name == "if_oper_up" && out[i].Labels.Get("ifalias") == alias {
				out[i].Value = 0
				n++
			}
		}
		if n == 0 {
			t.Fatalf("no port described %q", alias)
		}
		return out
	}
	const uplink, printer = "*** to acme-fr-s-001 ***", "* Printer *"
	for _, tc := range []struct {
		name        string
		before      []model.Sample // rounds before the start of the test's story
		after       []model.Sample
		wantFiring  int
		wantSummary string
	}{
		{"as recorded", nil, recorded, 0, ""},
		{"an uplink without link from the first poll", nil, down(recorded, uplink), 1, "(*** to acme-fr-s-001 ***) on dev is down"},
		{"a described access port without link from the first poll", nil, down(recorded, printer), 0, ""},
		{"a described access port that had link and lost it", recorded, down(recorded, printer), 1, "(* Printer *) on dev is down"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := rulestest.NewFeed(rs, "dev", "switch", 30*time.Second)
			if tc.before != nil {
				for range 4 {
					f.Round(tc.before)
				}
			}
			for range 4 { // 2 min: past the rule's for: 1m
				f.Round(tc.after)
			}
			var got []string
			for _, s := range rulestest.Summaries(f.Engine) {
				if strings.HasPrefix(s, "SwitchPortDown") {
					got = append(got, s)
				}
			}
			if len(got) != tc.wantFiring || (tc.wantSummary != "" && !strings.Contains(strings.Join(got, "\n"), tc.wantSummary)) {
				t.Errorf("SwitchPortDown firing: %q\nwant %d containing %q", got, tc.wantFiring, tc.wantSummary)
			}
		})
	}
}
