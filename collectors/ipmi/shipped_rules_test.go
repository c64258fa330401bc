package ipmi

import (
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/collectors/collectortest"
	"github.com/vedetta-dc/vedetta/internal/testpeer"
	"github.com/vedetta-dc/vedetta/rules/rulestest"
)

// ipmiCases are configs/rules.d/servers.yaml's rules on what a real BMC
// (OpenIPMI's ipmi_sim, read with ipmitool) reports, changed the way the
// failure would change it.
var ipmiCases = []rulestest.Case{
	{Rule: "ServerPSUFailed", Fire: rulestest.Set("server_psu_ok", 0, "psu", "PSU2 Status"),
		Want: "power supply PSU2 Status on srv1 has failed", WantResolved: "power supply PSU2 Status on srv1 works again"},
	{Rule: "ServerPSURedundancyLost", Fire: rulestest.Set("server_psu_redundancy_ok", 0),
		Want: "srv1: power supply redundancy lost", WantResolved: "srv1: power supply redundancy restored"},
	{Rule: "ServerFanFailed", Fire: rulestest.Set("server_fan_ok", 0, "fan", "Fan2"),
		Want: "fan Fan2 on srv1 is below its threshold or stopped", WantResolved: "fan Fan2 on srv1 works again"},
	{Rule: "ServerTooHot", Fire: rulestest.All(
		rulestest.Set("server_temperature_state", 2, "sensor", "Inlet Temp"),
		rulestest.Set("server_temperature_celsius", 47, "sensor", "Inlet Temp")),
		Want: "Inlet Temp on srv1 is at 47 °C", WantResolved: "Inlet Temp on srv1 is at 24 °C"},
	{Rule: "ServerSELFull", Fire: rulestest.Set("server_sel_used_ratio", 0.97),
		Want: "srv1: the BMC's event log is 97% full: new hardware events are no longer recorded", WantResolved: "event log is 0% full"},
}

// TestShippedRuleSummaries: every row of ipmiCases.
func TestShippedRuleSummaries(t *testing.T) {
	sim := testpeer.StartIPMISim(t)
	got, err := collectortest.Collect(simCollector(t, sim.Addr, sim.User, sim.Password, ""), 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	rs := rulestest.Shipped(t, "servers.yaml")
	for _, c := range ipmiCases {
		c.Source, c.Class = "ipmi_sim", "server"
		t.Run(c.Rule, func(t *testing.T) { rulestest.Run(t, rs, "srv1", got, c) })
	}
}
