package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// Fail over first, retry later, on the real daemon: two Twilio-speaking
// servers and the pty modem, failover_after at its default (5 s), the
// Twilio accounts with their default 10 s timeout. Times are measured from
// the value change (the exec target polls every second, so they include up
// to 1 s of collection) and logged for BENCHMARKS.md; the assertions are the
// issue's generous bounds.
func TestE2EFailoverTimes(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		setup func(tw1, tw2 *testpeer.Twilio)
		// where the SMS must end up: "twilio-2" or "modem"
		want string
	}{
		{"twilio-1 answers 500", func(tw1, _ *testpeer.Twilio) { tw1.FailCreate(500, 0) }, "twilio-2"},
		{"twilio-1 hangs", func(tw1, _ *testpeer.Twilio) { tw1.Delay(time.Hour) }, "twilio-2"},
		{"both twilio answer 500", func(tw1, tw2 *testpeer.Twilio) { tw1.FailCreate(500, 0); tw2.FailCreate(500, 0) }, "modem"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			mdm := testpeer.StartModem(t)
			tw2 := testpeer.StartTwilio(t)
			r := newDeliveryRig(t, deliveryConfig{relays: []string{relay(closedPort(t))}, rules: portDownRule,
				routes:   "  - match: {severity: critical}\n    receivers: [oncall]\n    channels: [sms]\n",
				failover: "5s", mainTimeout: "10s",
				smsExtra: fmt.Sprintf("      - name: twilio-2\n        twilio: {account_sid: %s, auth_token_file: twilio2.token, from: \"+15550002222\", api_url: %q, status_poll: 50ms, status_timeout: 2s}\n"+
					"      - name: gsm\n        modem: {device: %s, command_timeout: 2s}\n", tw2.AccountSID, tw2.URL(), mdm.Device())})
			writeFile(t, filepath.Join(r.dir, "twilio2.token"), tw2.AuthToken+"\n")
			c.setup(r.twilio, tw2)
			r.values(ports(1, "1"))
			r.start()
			time.Sleep(1500 * time.Millisecond) // a few polls of "up"
			alarm := time.Now()
			r.values(ports(1, "0"))

			isPortDown := func(body string) bool { return strings.Contains(body, "PortDown") }
			tw2Got := func() bool {
				for _, m := range tw2.Messages() {
					if m.To == "+390000000001" && isPortDown(m.Body) {
						return true
					}
				}
				return false
			}
			modemGot := func() bool {
				for _, s := range mdm.Sent() {
					if s.Number == "+390000000001" && isPortDown(s.Text) {
						return true
					}
				}
				return false
			}
			switch c.want {
			case "twilio-2":
				took := waitTook(t, alarm, 30*time.Second, "the SMS at twilio-2", tw2Got)
				t.Logf("MEASURED %s: alarm → twilio-2 accepted the SMS in %v", c.name, took.Round(10*time.Millisecond))
				if took > 10*time.Second {
					t.Errorf("twilio-2 got the SMS %v after the alarm; want within 10 s", took)
				}
				if modemGot() {
					t.Error("the modem sent it too: twilio-2 had taken it")
				}
			case "modem":
				bothFailed := waitTook(t, alarm, 30*time.Second, "twilio-2's failing attempt", func() bool { return tw2.Attempts() > 0 })
				took := waitTook(t, alarm, 30*time.Second, "the SMS through the modem", modemGot)
				t.Logf("MEASURED %s: alarm → both Twilio failed in %v, → the modem sent the SMS in %v (%v after both failed)",
					c.name, bothFailed.Round(10*time.Millisecond), took.Round(10*time.Millisecond), (took - bothFailed).Round(10*time.Millisecond))
				if took-bothFailed > 10*time.Second {
					t.Errorf("the modem sent the SMS %v after both Twilio accounts failed; want within 10 s", took-bothFailed)
				}
				if r.twilio.Attempts() == 0 {
					t.Error("twilio-1 was never tried")
				}
			}
			// Fail over first, retry later: the SMS waited on no provider.
			if n := r.twilio.Attempts(); n > 1 {
				t.Errorf("twilio-1 answered %d create requests before the SMS went elsewhere; want 1", n)
			}
		})
	}
}

// waitTook waits for cond (at most limit) and says how long after since
// it became true (to within the 10 ms poll).
func waitTook(t *testing.T, since time.Time, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	for !cond() {
		if time.Since(since) > limit {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(since)
}
