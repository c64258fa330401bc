package files

// MetricNames lists every metric the files collector can emit.
func MetricNames() []string {
	return []string{"files_count", "files_bytes", "files_newest_age_seconds", "files_oldest_age_seconds", "files_newest_bytes"}
}
