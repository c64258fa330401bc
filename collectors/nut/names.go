package nut

import "sort"

// MetricNames lists every metric the nut collector can emit, sorted,
// derived from the mapping tables Map reads variables by (the UPS and ATS
// metrics are the names the SNMP profiles use too).
func MetricNames() []string {
	out := []string{"nut_tls", "nut_ups_listed", "nut_ups_up", "ups_alarms_active",
		"ats_selected_source", "ats_input_voltage_volts", "ats_input_frequency_hertz", "ats_source_ok",
		"ats_redundancy_lost", "ats_output_voltage_volts", "ats_output_current_amperes"}
	for _, f := range statusFlags {
		out = append(out, f.metric)
	}
	for _, s := range scalars {
		out = append(out, s.metric)
	}
	for _, p := range perLine {
		out = append(out, p.metric)
	}
	sort.Strings(out)
	return out
}
