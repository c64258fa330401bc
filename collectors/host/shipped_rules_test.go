package host

import (
	"context"
	"fmt"
	"testing"

	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/model"
	"github.com/vedetta-dc/vedetta/rules/rulestest"
)

// TestShippedRuleSummaries runs configs/rules.d/host.yaml's rules on what
// the collector reads from this machine (memory, load, filesystems,
// network counters) and from a sysfs with a hwmon chip and NICs in known
// states (fakeSys), each changed the way the failure would change it.
func TestShippedRuleSummaries(t *testing.T) {
	t.Setenv("HOST_SYS", fakeSys(t, "45000"))
	c, err := New(collectors.Spec{Name: "h"}, func(any) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	var samples []model.Sample
	if err := c.Collect(context.Background(), func(s model.Sample) { samples = append(samples, s) }); err != nil {
		t.Fatal(err)
	}
	cpus := rulestest.Value(t, samples, "host_cpus")
	// The machine running the tests may be busy: start from a quiet load.
	samples = rulestest.Set("host_load5", cpus/2)(t, 0, samples)
	first := func(metric string) string { // the label of the first sample of metric
		for _, s := range samples {
			if s.Name == metric {
				if m := s.Labels.Get("mountpoint"); m != "" {
					return m
				}
				return s.Labels.Get("device")
			}
		}
		t.Fatalf("no %s on this machine", metric)
		return ""
	}
	mnt, inodeMnt, dev := first("host_filesystem_used_ratio"), first("host_filesystem_inodes_used_ratio"), first("host_network_receive_errors_total")
	const sensor = "coretemp_package_id_0"
	cases := []rulestest.Case{
		{Rule: "FilesystemFull", Fire: rulestest.Set("host_filesystem_used_ratio", 0.991, "mountpoint", mnt),
			Want: mnt + " on h is 99% full"},
		{Rule: "FilesystemUnreadable", Fire: rulestest.Set("host_filesystem_readable", 0, "mountpoint", mnt),
			Want: mnt + " on h does not answer", WantResolved: mnt + " on h answers again"},
		{Rule: "InodesAlmostExhausted", Fire: rulestest.Set("host_filesystem_inodes_used_ratio", 0.93, "mountpoint", inodeMnt),
			Want: inodeMnt + " on h has used 93% of its inodes"},
		{Rule: "MemoryExhausted", Fire: rulestest.Set("host_memory_used_ratio", 0.97),
			Resolve: rulestest.Set("host_memory_used_ratio", 0.42), Want: "memory on h is 97% used", WantResolved: "memory on h is 42% used"},
		// As the sysfs has it: eth1 is up but has no carrier.
		{Rule: "NetworkInterfaceDown", Resolve: rulestest.Set("host_network_up", 1, "device", "eth1"),
			Want: "eth1 on h has no link", WantResolved: "eth1 on h has its link back"},
		{Rule: "NetworkErrorsRising", Fire: rulestest.Ramp("host_network_receive_errors_total", 45, "device", dev),
			Rounds: 25, HoldToResolve: true, Want: dev + " on h: 1.5 receive errors/s"},
		{Rule: "LoadFarAboveCores", Fire: rulestest.Set("host_load5", cpus*4.6),
			Want: "load on h is 4.6 per core", WantResolved: "load on h is 0.5 per core"},
		{Rule: "HostTemperatureCritical", Fire: rulestest.Set("host_temperature_celsius", 97, "sensor", sensor),
			Want: sensor + " on h is at 97 °C", WantResolved: sensor + " on h is at 45 °C"},
		{Rule: "TemperatureJump", Fire: rulestest.Ramp("host_temperature_celsius", 1.25, "sensor", sensor), Rounds: 12,
			Want: sensor + " on h rose 13.8 °C in 10 minutes"},
	}
	rs := rulestest.Shipped(t, "host.yaml")
	for _, tc := range cases {
		tc.Source, tc.Class = fmt.Sprintf("this machine (%v CPUs) and a fake sysfs", cpus), "host"
		t.Run(tc.Rule, func(t *testing.T) { rulestest.Run(t, rs, "h", samples, tc) })
	}
}
