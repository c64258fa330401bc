package authlog

// MetricNames lists every metric the authlog collector can emit.
func MetricNames() []string {
	return []string{"auth_failures_total", "auth_failures_top_sources", "auth_failures_top_source", "authlog_lines_total", "authlog_rotations_total"}
}
