// Package ipmi is the `kind: ipmi` collector: server hardware (power
// supplies, fans, temperatures, voltages, the system event log) through
// the BMC over IPMI-over-LAN, read with ipmitool as a subprocess under the
// round's deadline. README.md documents the configuration and every
// metric.
package ipmi
