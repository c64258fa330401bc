package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// The SMS throttle never holds a new incident, on the real daemon with the
// default min_interval (1 min) and burst (3): a number that has just had
// three warnings (its bucket spent) still gets a UPS alarm, then 10 s later
// a switch losing 40 ports (one group), each within 15 s of its alarm, and
// neither as a digest.
func TestE2EThrottleNewIncidentsGoAtOnce(t *testing.T) {
	t.Parallel()
	rules := portDownRule + `
  - name: UPSOnBattery
    expr: ups_on_battery == 1
    severity: critical
    summary: "{{ .Labels.ups }} on battery"
  - name: Warm
    expr: room_temp > 30
    severity: warning
    summary: "{{ .Labels.room }} warm"`
	r := newDeliveryRig(t, deliveryConfig{relays: []string{relay(closedPort(t))}, rules: rules, smsGap: "1m",
		routes: "  - match: {rule: PortDown}\n    receivers: [oncall]\n    channels: [sms]\n    group_by: [target]\n    group_wait: 1s\n" +
			"  - receivers: [oncall]\n    channels: [sms]\n"})
	const phone = "+390000000001"
	warm := func(v int) string {
		var b strings.Builder
		for _, room := range []string{"r1", "r2", "r3"} {
			fmt.Fprintf(&b, "room_temp{room=%q} %d\n", room, v)
		}
		return b.String()
	}
	ups := func(v int) string { return fmt.Sprintf("ups_on_battery{ups=\"ups-b\"} %d\n", v) }
	r.values(ports(40, "1") + ups(0) + warm(20))
	r.start()
	time.Sleep(1500 * time.Millisecond)
	r.values(ports(40, "1") + ups(0) + warm(35))
	testpeer.WaitFor(t, 20*time.Second, "three warnings", func() bool { return len(r.sms(phone)) == 3 })

	upsAlarm := time.Now()
	r.values(ports(40, "1") + ups(1) + warm(35))
	upsTook := waitTook(t, upsAlarm, 30*time.Second, "the UPS SMS", func() bool { return anyContains(r.sms(phone), "UPSOnBattery") })
	time.Sleep(time.Until(upsAlarm.Add(10 * time.Second)))
	swAlarm := time.Now()
	r.values(ports(40, "0") + ups(1) + warm(35))
	swTook := waitTook(t, swAlarm, 30*time.Second, "the switch SMS", func() bool { return anyContains(r.sms(phone), "40 alarms on sw1") })
	t.Logf("MEASURED bucket spent by 3 warnings: UPS SMS %v after its alarm, 40-port switch SMS %v after its alarm",
		upsTook.Round(10*time.Millisecond), swTook.Round(10*time.Millisecond))
	if upsTook > 15*time.Second || swTook > 15*time.Second {
		t.Errorf("UPS after %v, switch after %v: want both within 15 s", upsTook, swTook)
	}
	// Each went as its own SMS (it may carry what waited, as a digest:
	// here the warnings that came after the bucket was spent), never
	// folded into another's.
	for _, want := range []string{"FIRING critical: UPSOnBattery", "FIRING critical: 40 alarms on sw1"} {
		found := false
		for _, b := range r.sms(phone) {
			found = found || strings.HasPrefix(b, "[vedetta e2e] "+want)
		}
		if !found {
			t.Errorf("no SMS of its own for %q: %q", want, r.sms(phone))
		}
	}
	t.Logf("SMS: %q", r.sms(phone))
}
