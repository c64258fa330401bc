package ipmi

import "sort"

// MetricNames lists every metric the ipmi collector can emit, sorted; the
// readings with a plausible range come from that table.
func MetricNames() []string {
	out := []string{
		"server_sensors", "server_sensor_implausible_total",
		"server_sel_readable", "server_sel_entries", "server_sel_used_ratio", "server_sel_overflow",
		"server_temperature_state", "server_fan_ok", "server_fan_redundancy_ok",
		"server_psu_redundancy_sensor_ok", "server_psu_present", "server_psu_ok",
		"server_psus_healthy", "server_psu_redundancy_ok",
	}
	for n := range plausible {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
