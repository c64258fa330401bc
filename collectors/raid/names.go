package raid

// MetricNames lists every metric the raid collector can emit.
func MetricNames() []string {
	return []string{
		"raid_arrays", "raid_active", "raid_degraded", "raid_failed", "raid_disks",
		"raid_sync_in_progress", "raid_sync_pending", "raid_sync_progress_ratio",
		"raid_sync_remaining_seconds", "raid_sync_speed_bytes_per_second",
	}
}
