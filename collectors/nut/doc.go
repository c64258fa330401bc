// Package nut is the `kind: nut` collector: a client for Network UPS Tools'
// upsd (TCP 3493 text protocol). It maps NUT variables to the same ups_* and
// ats_* metric names as the SNMP UPS profiles, so one rule serves an APC on
// SNMP and an Eaton behind NUT.
//
// # Configuration
//
//	targets:
//	  - name: rack-ups
//	    kind: nut
//	    interval: 15s
//	    nut:
//	      address: 127.0.0.1:3493          # default; a bare host gets port 3493
//	      ups: rack1                       # omitted: every UPS upsd lists (LIST UPS)
//	      username: monitor                # optional, with password or password_file
//	      password_file: /etc/vedetta/nut.pass
//	      tls: auto                        # auto (STARTTLS if upsd offers it) | required | off
//	      ca_file: /etc/vedetta/nut-ca.pem # optional; server_name, insecure_skip_verify too
//
// One session per round: STARTTLS (unless tls: off; upsd answering
// ERR FEATURE-NOT-CONFIGURED keeps the session in clear text unless tls is
// required; a certificate that does not verify is an error, never a silent
// downgrade), USERNAME/PASSWORD, LIST UPS, LIST VAR per UPS, LOGOUT. The
// context's deadline bounds every read and write. An upsd that drops the
// connection mid-LIST gives "connection closed by upsd before the list was
// complete" and that UPS emits nothing but nut_ups_up 0.
//
// # Metrics
//
// Every sample is labelled {ups} (the NUT UPS name).
//
//	nut_ups_up                       1 read, 0 upsd had no data (ERR, status WAIT, dropped connection)
//	nut_ups_listed                   UPSes upsd lists (only when ups is omitted)
//	nut_tls                          1 when the session runs over STARTTLS
//	ups_on_line, ups_on_battery, ups_on_bypass, ups_battery_low, ups_battery_replace_needed,
//	ups_overload, ups_battery_charging, ups_battery_discharging, ups_output_off,
//	ups_forced_shutdown, ups_calibrating, ups_trimming, ups_boosting
//	                                 0/1 from the ups.status flags OL OB BYPASS LB RB OVER CHRG
//	                                 DISCHRG OFF FSD CAL TRIM BOOST
//	ups_alarms_active                alarms in ups.alarm ("A! B!" is 2), or 1 for the ALARM flag alone
//	ups_battery_charge_percent       battery.charge
//	ups_battery_runtime_seconds      battery.runtime (65535, a saturated 16-bit value, is treated as unknown)
//	ups_battery_temperature_celsius  battery.temperature
//	ups_battery_voltage_volts        battery.voltage
//	ups_temperature_celsius          ups.temperature
//	ups_input_frequency_hertz        input.frequency
//	ups_output_frequency_hertz       output.frequency
//	ups_output_power_watts           ups.realpower
//	ups_input_voltage_volts{line}    input.voltage (line 1) or input.L1-N.voltage.. (lines 1-3)
//	ups_output_voltage_volts{line}   output.voltage / output.Ln-N.voltage
//	ups_output_load_percent{line}    ups.load (line 1) / output.Ln.power.percent
//	ups_output_current_amperes{line} output.current / output.Ln.current
//
// A device with device.type "ats" gives instead (sources input.1 and
// input.2 are named A and B):
//
//	ats_selected_source              input.source: 1 = A, 2 = B
//	ats_source_ok{source}            input.N.voltage.status and .frequency.status are "good"
//	                                 (without status variables: voltage > 0)
//	ats_redundancy_lost              1 when a described source is not ok
//	ats_input_voltage_volts{source}, ats_input_frequency_hertz{source},
//	ats_output_voltage_volts, ats_output_current_amperes
//
// A missing variable, or one that is not a number, gives no sample.
//
// # Example rule
//
//   - name: UPSOnBatteryLow
//     expr: ups_on_battery == 1 && ups_battery_low == 1
//     severity: critical
//     summary: "{{ .Labels.ups }} on {{ .Labels.target }} is on battery and the battery is low"
//
// More in configs/rules.d/facility.yaml.
package nut
