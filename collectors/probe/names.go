package probe

// MetricNames lists every metric the probe collector can emit.
func MetricNames() []string {
	return []string{"probe_success", "probe_duration_seconds", "probe_http_status_code", "probe_tls_cert_expiry_seconds"}
}
