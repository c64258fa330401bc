package smart

import "sort"

// MetricNames lists every metric the smart collector can emit, sorted;
// the ATA attributes come from the table the parser reads them by.
func MetricNames() []string {
	out := []string{
		"disk_scan_devices", "disk_readable", "disk_smartctl_exit_status", "disk_smartctl_exit_flag",
		"disk_smart_passed", "disk_temperature_celsius", "disk_power_on_hours",
		"disk_attributes_failing_now", "disk_attributes_failed_past", "disk_error_log_entries",
		"disk_nvme_critical_warning", "disk_media_errors", "disk_percentage_used",
		"disk_available_spare_ratio", "disk_available_spare_threshold_ratio", "disk_unsafe_shutdowns",
		"disk_grown_defects", "disk_uncorrected_errors",
	}
	for _, n := range ataMetrics {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
