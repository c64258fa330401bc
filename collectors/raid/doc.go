// Package raid is the `kind: raid` collector: Linux md software RAID arrays
// from /proc/mdstat.
//
// # Configuration
//
//	targets:
//	  - name: md
//	    kind: raid
//	    interval: 1m
//	    raid:
//	      mdstat: /proc/mdstat   # default; relative paths are taken against the config's folder
//
// The parser follows what the kernel's md_seq_show and status_resync
// (drivers/md/md.c) print: "mdX : active|inactive [(read-only)] LEVEL
// dev[n](F)(S)...", the "N blocks ... [n/m] [UU_]" line, the progress line
// "[==>...]  recovery = 28.6% (done/total) finish=0.1min speed=99925K/sec"
// (recovery, resync, reshape, check, repair), "resync=DELAYED|PENDING" and
// bitmap lines. The fixtures in testdata/ (healthy, degraded, rebuilding,
// failed, empty) are byte-exact to that format, trailing spaces included.
// A line it does not understand is an error naming the line number; the
// arrays read before it are still emitted. Unknown indented detail lines
// (future kernels) are ignored.
//
// # Metrics
//
// Labelled {array, level} (no level for an inactive array):
//
//	raid_arrays                           arrays in the file (no labels)
//	raid_active                           1 active, 0 inactive (not assembled/running)
//	raid_degraded                         1 when a member is missing ([2/1], [U_]) or the array is inactive
//	raid_failed                           1 when inactive, or fewer members than the level needs
//	                                      (raid1: 1, raid4/5: n-1, raid6: n-2, raid0/linear: n)
//	raid_disks{state}                     members by state: active, failed (F), spare (S), missing (n-m)
//	raid_sync_in_progress                 1 while a resync/recovery/reshape/check/repair runs
//	raid_sync_pending                     1 for resync=DELAYED or PENDING
//	raid_sync_progress_ratio{action}      0..1, only while running
//	raid_sync_remaining_seconds{action}   the kernel's finish= estimate
//	raid_sync_speed_bytes_per_second{action}
//
// # Example rules
//
//   - name: RaidDegraded
//     expr: raid_degraded == 1 && raid_failed == 0
//     for: 1m
//     severity: warning
//     summary: "{{ .Labels.array }} on {{ .Labels.target }} is degraded"
//   - name: RaidFailed
//     expr: raid_failed == 1
//     severity: critical
//     summary: "{{ .Labels.array }} on {{ .Labels.target }} has failed"
package raid
