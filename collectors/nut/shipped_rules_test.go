package nut

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/collectors/collectortest"
	"github.com/vedetta-dc/vedetta/internal/testpeer"
	"github.com/vedetta-dc/vedetta/model"
	"github.com/vedetta-dc/vedetta/rules/rulestest"
)

const (
	upsAPC1000 = "apc_smart_ups_1000_snmp_ups_2_7_4_02" // on line, 2580 s of runtime
	atsEaton   = "eaton_ats_230v_16a_snmp_ups_2_7_4_01" // both sources good
)

// nutCases are configs/rules.d/nut.yaml's rules on what a real upsd
// serves from the dumps, changed the way the failure would change it.
var nutCases = []struct {
	ups string
	rulestest.Case
}{
	{upsAPC1000, rulestest.Case{Rule: "UPSOnBattery", Fire: rulestest.Set("ups_on_battery", 1),
		// 2580 s, 100 and 3.60 in the dump
		Want: upsAPC1000 + " on ups runs on battery: mains power lost, 43 min left, charge 100 %, load 4 %", WantResolved: "on ups is back on mains power"}},
	{upsAPC1000, rulestest.Case{Rule: "UPSBatteryLow", Fire: rulestest.Set("ups_battery_low", 1),
		Want: upsAPC1000 + " on ups: battery low, shutdown imminent", WantResolved: "on ups: battery no longer low"}},
	{upsAPC1000, rulestest.Case{Rule: "UPSRuntimeShort",
		Fire: rulestest.All(rulestest.Set("ups_on_battery", 1), rulestest.Set("ups_battery_runtime_seconds", 420)),
		Want: upsAPC1000 + " on ups has 7 min of battery runtime left", WantResolved: "on ups is no longer short of runtime: 43 min of battery"}},
	{upsAPC1000, rulestest.Case{Rule: "UPSReplaceBattery", Fire: rulestest.Set("ups_battery_replace_needed", 1),
		Want: upsAPC1000 + " on ups asks for a battery replacement", WantResolved: "on ups no longer asks for a battery replacement"}},
	{upsAPC1000, rulestest.Case{Rule: "UPSOnBypass", Fire: rulestest.Set("ups_on_bypass", 1),
		Want: upsAPC1000 + " on ups is on bypass: the load is not protected", WantResolved: "on ups is off bypass: the load is protected again"}},
	{upsAPC1000, rulestest.Case{Rule: "UPSAlarm", Fire: rulestest.Set("ups_alarms_active", 3),
		Want: upsAPC1000 + " on ups has 3 active alarm(s)"}},
	{atsEaton, rulestest.Case{Rule: "ATSRedundancyLost", Fire: rulestest.Set("ats_source_ok", 0, "source", "B"),
		Want: atsEaton + " on ups: source B is down, no redundancy", WantResolved: "on ups: source B is back, redundancy restored"}},
	{upsAPC1000, rulestest.Case{Rule: "NUTNoData", Fire: rulestest.Set("nut_ups_up", 0),
		Want: "upsd on ups has no data for UPS " + upsAPC1000, WantResolved: "upsd on ups has data again for UPS " + upsAPC1000}},
}

// nutRig serves the two dumps the table reads through upsd + dummy-ups.
func nutRig(t *testing.T) *rig {
	t.Helper()
	dir := testpeer.SharedTestdata(t, "nut")
	return startRig(t, []string{
		filepath.Join(dir, "APC__Smart-UPS_1000__snmp-ups__2.7.4__02.dev"),
		filepath.Join(dir, "Eaton__ATS_230V_16A__snmp-ups__2.7.4__01.dev"),
	})
}

func collectUPS(t *testing.T, r *rig, ups string) []model.Sample {
	t.Helper()
	c := newCollector(t, fmt.Sprintf("nut: {address: %q, ups: %s}", r.Addr, ups))
	var got []model.Sample
	testpeer.WaitFor(t, 20*time.Second, "upsd serving "+ups, func() bool {
		var err error
		got, err = collectortest.Collect(c, 5*time.Second)
		v, _ := collectortest.Value(got, "nut_ups_up")
		return err == nil && v == 1
	})
	return got
}

// TestShippedRuleSummaries: every row of nutCases.
func TestShippedRuleSummaries(t *testing.T) {
	r := nutRig(t)
	samples := map[string][]model.Sample{}
	for _, ups := range []string{upsAPC1000, atsEaton} {
		samples[ups] = collectUPS(t, r, ups)
	}
	rs := rulestest.Shipped(t, "nut.yaml")
	for _, c := range nutCases {
		c.Source, c.Class = r.Dumps[c.ups], "ups"
		t.Run(c.Rule, func(t *testing.T) { rulestest.Run(t, rs, "ups", samples[c.ups], c.Case) })
	}
}

// TestUPSRuntimeShortThroughUPSD is issue 15's page: the UPS put on
// battery with 420 s left by upsrw on the real upsd says "7 min left"
// (it said "1s left"), and its RESOLVED, back on mains, names the
// runtime it has again.
func TestUPSRuntimeShortThroughUPSD(t *testing.T) {
	r := nutRig(t)
	c := newCollector(t, fmt.Sprintf("nut: {address: %q, ups: %s}", r.Addr, upsAPC1000))
	collectUPS(t, r, upsAPC1000)
	rs := rulestest.Shipped(t, "nut.yaml")
	f := rulestest.NewFeed(rs, "ups-b", "ups", 15*time.Second)
	until := func(what string, ob, runtime float64) {
		t.Helper()
		testpeer.WaitFor(t, 20*time.Second, what, func() bool {
			got, err := collectortest.Collect(c, 5*time.Second)
			if err != nil {
				return false
			}
			o, _ := collectortest.Value(got, "ups_on_battery")
			rt, _ := collectortest.Value(got, "ups_battery_runtime_seconds")
			if o != ob || rt != runtime {
				return false
			}
			f.Round(got)
			return true
		})
	}
	for _, set := range []string{"ups.status=OB DISCHRG", "battery.runtime=420"} {
		r.Set(t, upsAPC1000, set)
	}
	until("on battery with 420 s", 1, 420)
	sum := summaryOf(f, "UPSRuntimeShort", model.StateFiring)
	if !strings.Contains(sum, "has 7 min of battery runtime left") {
		t.Fatalf("UPSRuntimeShort firing: %q, want 7 min left", sum)
	}
	for _, set := range []string{"ups.status=OL", "battery.runtime=2580"} {
		r.Set(t, upsAPC1000, set)
	}
	until("back on line", 0, 2580)
	sum = summaryOf(f, "UPSRuntimeShort", model.StateResolved)
	if !strings.Contains(sum, "43 min") {
		t.Fatalf("UPSRuntimeShort resolved: %q, want the 43 min it has again", sum)
	}
}

func summaryOf(f *rulestest.Feed, rule string, st model.State) string {
	for _, a := range f.Engine.Alarms() {
		if a.Rule == rule && a.State == st {
			return a.Summary
		}
	}
	return fmt.Sprintf("(no %s alarm %s)", st, rule)
}
