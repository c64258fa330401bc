// Package smart is the `kind: smart` collector: disk health through
// smartmontools' JSON output (`smartctl --json=c`, smartctl ≥ 7.0).
//
// # Configuration
//
//	targets:
//	  - name: disks
//	    kind: smart
//	    interval: 10m
//	    smart:
//	      smartctl: /usr/sbin/smartctl      # default
//	      wrapper: [sudo, -n]               # optional, put in front of smartctl
//	      devices:                          # omitted: `smartctl --scan-open --json=c`
//	        - /dev/sda
//	        - {name: /dev/bus/0, type: "megaraid,1"}   # smartctl -d TYPE
//	      extra_args: [--nocheck=standby]   # optional, before the device name
//
// Each device is read with `smartctl --json=c --info --health --attributes
// --log=error [-d TYPE] DEVICE`.
//
// # Privileges
//
// smartctl needs CAP_SYS_RAWIO (ATA/SCSI pass-through) and CAP_SYS_ADMIN
// (NVMe admin commands) and read/write access to the device nodes. This
// collector is the only part of vedetta that needs them. Either run smartctl
// through sudo (`wrapper: [sudo, -n]` plus a sudoers line
// `vedetta ALL=(root) NOPASSWD: /usr/sbin/smartctl`; the unit must then not
// set NoNewPrivileges=yes), or give the service the capabilities and the
// `disk` group:
//
//	[Service]
//	SupplementaryGroups=disk
//	AmbientCapabilities=CAP_SYS_RAWIO CAP_SYS_ADMIN
//	CapabilityBoundingSet=CAP_SYS_RAWIO CAP_SYS_ADMIN
//	DeviceAllow=block-sd r
//	DeviceAllow=char-nvme rw
//
// # Metrics
//
// Every sample is labelled {device, model, serial} (model and serial are
// missing when the disk could not be read at all).
//
//	disk_readable                      1 read, 0 smartctl could not open/identify it (exit bits 0/1) or printed no JSON
//	disk_smartctl_exit_status          smartctl's exit status (a bit mask)
//	disk_smartctl_exit_flag{flag}      each exit bit decoded, 0/1: command_line_error, open_failed,
//	                                   command_failed, disk_failing, prefail_below_threshold,
//	                                   past_below_threshold, error_log_has_errors, selftest_log_has_errors
//	disk_scan_devices                  devices found by --scan-open (only when devices is omitted)
//	disk_smart_passed                  overall health self-assessment, 1 passed, 0 FAILED
//	disk_temperature_celsius           current temperature
//	disk_power_on_hours                power-on time
//	disk_reallocated_sectors           ATA attribute 5 raw value
//	disk_pending_sectors               ATA attribute 197 raw value
//	disk_offline_uncorrectable         ATA attribute 198 raw value
//	disk_crc_errors                    ATA attribute 199 raw value (cabling, not media)
//	disk_attributes_failing_now        ATA attributes at or below threshold now
//	disk_attributes_failed_past        ATA attributes that were at or below threshold in the past
//	disk_error_log_entries             ATA error log count / NVMe error log entries
//	disk_nvme_critical_warning         NVMe critical warning bit field (0 = fine)
//	disk_media_errors                  NVMe media and data integrity errors
//	disk_percentage_used               NVMe endurance used, percent (may exceed 100)
//	disk_available_spare_ratio         NVMe available spare, 0..1
//	disk_available_spare_threshold_ratio  NVMe spare threshold, 0..1
//	disk_unsafe_shutdowns              NVMe unsafe shutdowns
//	disk_grown_defects                 SCSI grown defect list length
//	disk_uncorrected_errors            SCSI total uncorrected read+write+verify errors
//
// A device that cannot be opened emits disk_readable 0 and the exit bits,
// and Collect returns an error naming it (the target's vedetta_target_up is
// then 0). Output that is not JSON (an old smartctl, a truncated write) is
// the same: never a made-up number.
//
// # Example rule
//
//   - name: DiskSmartFailed
//     expr: disk_smart_passed == 0
//     severity: critical
//     summary: "{{ .Labels.device }} ({{ .Labels.model }} {{ .Labels.serial }}) on {{ .Labels.target }} fails its SMART self-assessment"
//
// More in configs/rules.d/facility.yaml.
package smart
