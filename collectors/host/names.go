package host

// MetricNames lists every metric the host collector can emit (some only
// where the machine has them: swap, sensors); names_test.go checks that a
// real collection on the test machine emits nothing else.
func MetricNames() []string {
	return []string{
		"host_cpus", "host_cpu_usage_ratio", "host_load1", "host_load5", "host_load15",
		"host_memory_total_bytes", "host_memory_available_bytes", "host_memory_used_ratio",
		"host_swap_total_bytes", "host_swap_used_ratio",
		"host_filesystem_readable", "host_filesystem_used_ratio", "host_filesystem_size_bytes",
		"host_filesystem_free_bytes", "host_filesystem_inodes_used_ratio",
		"host_disk_read_bytes_total", "host_disk_written_bytes_total", "host_disk_io_time_seconds_total",
		"host_network_receive_bytes_total", "host_network_transmit_bytes_total",
		"host_network_receive_errors_total", "host_network_transmit_errors_total",
		"host_network_receive_drops_total", "host_network_transmit_drops_total",
		"host_network_admin_up", "host_network_up",
		"host_temperature_celsius", "host_temperature_high_celsius", "host_temperature_critical_celsius",
		"host_uptime_seconds",
	}
}
