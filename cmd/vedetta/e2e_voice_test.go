package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// Voice escalation on the real daemon: the oncall receiver is called
// through the Twilio-speaking server, which plays the call as Twilio
// would (rings, answers, reads the TwiML, posts the key to the <Gather>'s
// action on the daemon, signed with the account's token).

const voicePhone = "+390000000011"

// newVoiceRig is the delivery rig with a voice channel on the same Twilio
// account, oncall's voice number, and escalation to backup (SMS) after
// escalate.
func newVoiceRig(t *testing.T, channels, escalate string) *deliveryRig {
	t.Helper()
	port := testpeer.FreePort(t)
	r := newDeliveryRig(t, deliveryConfig{relays: []string{relay(closedPort(t))}, rules: portDownRule,
		routes:   fmt.Sprintf("  - receivers: [oncall]\n%s    escalate:\n      - {after: %s, receivers: [backup]}\n", channels, escalate),
		httpPort: port, httpExtra: fmt.Sprintf("  external_url: http://127.0.0.1:%d/\n", port)})
	tw := r.twilio
	voice := fmt.Sprintf(`  voice:
    failover_after: 1s
    providers:
      - name: twilio-voice
        twilio: {account_sid: %s, auth_token_file: twilio.token, from: "+15550001111", api_url: "%s", language: it-IT, ring_timeout: 5s, call_timeout: 10s, status_poll: 50ms, timeout: 2s}
`, tw.AccountSID, tw.URL())
	cfg := readFile(t, r.cfg)
	const oncall = `  - {name: oncall, email: [oncall@e2e.example], sms: ["+390000000001"]}`
	if !strings.Contains(cfg, oncall) || !strings.Contains(cfg, "notify:\n") {
		t.Fatalf("the delivery rig's config changed:\n%s", cfg)
	}
	cfg = strings.Replace(cfg, oncall, `  - {name: oncall, email: [oncall@e2e.example], sms: ["+390000000001"], voice: ["`+voicePhone+`"]}`, 1)
	cfg = strings.Replace(cfg, "notify:\n", "notify:\n"+voice, 1)
	writeFile(t, r.cfg, cfg)
	return r
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// voiceAlarm is what the API says of an alarm: its ack and its calls.
type voiceAlarm struct {
	Notice struct {
		Ack *struct {
			By      string `json:"by"`
			Comment string `json:"comment"`
		} `json:"ack"`
	} `json:"notification_state"`
	Deliveries []struct {
		Channel, Recipient, State, Provider string
		LastError                           string `json:"last_error"`
		Attempts                            int
	} `json:"deliveries"`
}

func alarmOf(t *testing.T, r *deliveryRig, id string) voiceAlarm {
	t.Helper()
	var a voiceAlarm
	if body := getBody(t, r.d.http+"/api/v1/alerts/"+id); json.Unmarshal([]byte(body), &a) != nil {
		t.Fatalf("the API's alarm: %s", body)
	}
	return a
}

// portDownCalls are the calls about PortDown (the daemon's own alarms,
// its closed SMTP relay, are called too).
func portDownCalls(r *deliveryRig) []testpeer.TwilioCall {
	var out []testpeer.TwilioCall
	for _, c := range r.twilio.Calls() {
		if len(c.Said) > 0 && strings.Contains(c.Said[0], "PortDown") || strings.Contains(c.Twiml, "PortDown") {
			out = append(out, c)
		}
	}
	return out
}

func portDownID(t *testing.T, r *deliveryRig) string {
	t.Helper()
	for _, a := range r.d.alerts() {
		if a.Rule == "PortDown" {
			return a.ID
		}
	}
	t.Fatal("no PortDown alarm in the API")
	return ""
}

// A call answered with 4: the call read the alarm (in Italian), the key
// acknowledged it on behalf of the receiver and the number, the ledger
// says the call was delivered, and the escalation does not happen.
func TestE2EVoiceAck(t *testing.T) {
	t.Parallel()
	r := newVoiceRig(t, "    channels: [voice]\n", "4s")
	r.twilio.SetCallFlow(testpeer.CallFlow{Digits: "4"})
	r.values(ports(1, "1"))
	r.start()
	r.values(ports(1, "0"))
	testpeer.WaitFor(t, 15*time.Second, "the call", func() bool { return len(portDownCalls(r)) > 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.twilio.WaitCalls(ctx); err != nil {
		t.Fatal(err)
	}
	id := portDownID(t, r)
	c := portDownCalls(r)[0]
	if c.To != voicePhone || c.From != "+15550001111" || len(c.Said) == 0 || !strings.Contains(c.Said[0], "PortDown on sw1: ge-0/0/0 down") ||
		!strings.Contains(c.Twiml, `language="it-IT"`) {
		t.Fatalf("call to %s from %s saying %q", c.To, c.From, c.Said)
	}
	if want := fmt.Sprintf("http://127.0.0.1:%d/api/v1/twilio/voice/%s", r.httpPort, id); c.Action != want {
		t.Errorf("gather action %q, want %q", c.Action, want)
	}
	if c.Pressed != "4" || c.ActionStatus != 200 || !strings.Contains(c.Answer, "Confermato") {
		t.Fatalf("key 4: HTTP %d %q (%s)", c.ActionStatus, c.Answer, c.ActionErr)
	}
	if a := alarmOf(t, r, id); a.Notice.Ack == nil || a.Notice.Ack.By != "oncall ("+voicePhone+")" || !strings.Contains(a.Notice.Ack.Comment, "phone call") {
		t.Fatalf("the API shows no ack by the number: %+v", a.Notice.Ack)
	}
	testpeer.WaitFor(t, 5*time.Second, "the call delivered in the ledger", func() bool {
		for _, x := range alarmOf(t, r, id).Deliveries {
			if x.Channel == "voice" && x.Recipient == voicePhone && x.State == "delivered" && x.Provider == "twilio-voice" {
				return true
			}
		}
		return false
	})
	time.Sleep(5 * time.Second) // past the escalation's 4s
	if got := r.sms("+390000000002"); len(got) != 0 {
		t.Errorf("escalated although acknowledged by phone: %q", got)
	}
	if n := len(portDownCalls(r)); n != 1 {
		t.Errorf("%d calls, want 1", n)
	}
}

// A call nobody answers is a failed attempt: the alarm stays
// unacknowledged and escalates to the next step's receiver (backup, by
// SMS); the call is tried again in later rounds.
func TestE2EVoiceNoAnswerEscalates(t *testing.T) {
	t.Parallel()
	r := newVoiceRig(t, "    channels: [voice]\n", "3s")
	r.twilio.SetCallFlow(testpeer.CallFlow{NoAnswer: true})
	r.values(ports(1, "1"))
	r.start()
	r.values(ports(1, "0"))
	testpeer.WaitFor(t, 15*time.Second, "the call", func() bool { return len(portDownCalls(r)) > 0 })
	start := time.Now()
	testpeer.WaitFor(t, 10*time.Second, "the escalation SMS to backup", func() bool { return anyContains(r.sms("+390000000002"), "ge-0/0/0") })
	t.Logf("escalated %s after the first call", time.Since(start).Round(100*time.Millisecond))
	id := portDownID(t, r)
	a := alarmOf(t, r, id)
	if a.Notice.Ack != nil {
		t.Fatalf("acknowledged without a key: %+v", a.Notice.Ack)
	}
	calls := portDownCalls(r)
	for _, c := range calls {
		if c.To != voicePhone || c.Pressed != "" {
			t.Errorf("call %+v", c)
		}
	}
	if calls[0].Status != "no-answer" {
		t.Errorf("first call %s, want no-answer", calls[0].Status)
	}
	seen := false
	for _, x := range a.Deliveries {
		if x.Channel != "voice" {
			continue
		}
		seen = true
		if x.State == "delivered" || !strings.Contains(x.LastError, "no-answer: call not acknowledged") {
			t.Errorf("the ledger does not show the unanswered call: %+v", x)
		}
	}
	if !seen {
		t.Errorf("no call in the ledger: %+v", a.Deliveries)
	}
	t.Logf("%d calls placed", len(calls))
	// A phone that rang unanswered is no channel failure.
	for _, al := range r.d.alerts() {
		if al.Rule == "NotificationChannelDown" && al.Labels["channel"] == "voice" {
			t.Errorf("the voice channel is said down because nobody answered: %+v", al)
		}
	}
}

// 6 pressed on the call runs the next escalation step at once: the
// backup gets its SMS seconds after the key, not at the step's after: (a
// minute); the alarm stays unacknowledged, the call is delivered (heard).
func TestE2EVoiceSixEscalatesNow(t *testing.T) {
	t.Parallel()
	r := newVoiceRig(t, "    channels: [voice]\n", "1m")
	r.twilio.SetCallFlow(testpeer.CallFlow{Digits: "6"})
	r.values(ports(1, "1"))
	r.start()
	r.values(ports(1, "0"))
	testpeer.WaitFor(t, 15*time.Second, "the call", func() bool { return len(portDownCalls(r)) > 0 })
	start := time.Now()
	testpeer.WaitFor(t, 10*time.Second, "the escalation SMS to backup", func() bool { return anyContains(r.sms("+390000000002"), "ge-0/0/0") })
	t.Logf("escalated %s after the call was placed", time.Since(start).Round(100*time.Millisecond))
	c := portDownCalls(r)[0]
	if c.Pressed != "6" || c.ActionStatus != 200 || !strings.Contains(c.Answer, "passo al prossimo") {
		t.Errorf("key 6: HTTP %d %q (%s)", c.ActionStatus, c.Answer, c.ActionErr)
	}
	a := alarmOf(t, r, portDownID(t, r))
	if a.Notice.Ack != nil {
		t.Errorf("acknowledged by a 6: %+v", a.Notice.Ack)
	}
	// Heard and passed on: the call is delivered, the phone is not called
	// again about it.
	delivered := false
	for _, x := range a.Deliveries {
		delivered = delivered || x.Channel == "voice" && x.Recipient == voicePhone && x.State == "delivered"
	}
	time.Sleep(2 * time.Second)
	if n := len(portDownCalls(r)); !delivered || n != 1 {
		t.Errorf("call delivered %v, %d calls (want 1): %+v", delivered, n, a.Deliveries)
	}
}

// vedetta test-notify calls the receiver's voice numbers: answered is ok,
// no answer is FAILED (and the command fails).
func TestE2EVoiceTestNotify(t *testing.T) {
	t.Parallel()
	r := newVoiceRig(t, "", "1m")
	for _, c := range []struct {
		flow testpeer.CallFlow
		want string
	}{
		{testpeer.CallFlow{}, `(?m)^voice\s+twilio-voice\s+\` + voicePhone + `\s+ok\s`},
		{testpeer.CallFlow{NoAnswer: true}, `(?m)^voice\s+twilio-voice\s+\` + voicePhone + `\s+FAILED: .*no-answer`},
	} {
		r.twilio.SetCallFlow(c.flow)
		out, _ := exec.Command(vedettaBin(t), "test-notify", "--config", r.cfg, "--receiver", "oncall").CombinedOutput()
		if !regexp.MustCompile(c.want).Match(out) {
			t.Errorf("test-notify output lacks %q:\n%s", c.want, out)
		}
	}
	calls := r.twilio.Calls()
	if len(calls) != 2 || !strings.Contains(calls[0].Said[0], "TestNotification") {
		t.Errorf("calls %+v", calls)
	}
}

// vedetta check names file, line and field for the voice channel's
// problems: its provider's own checks, a language without phrases, no
// http.external_url for the key to come back to.
func TestCheckVoiceBlock(t *testing.T) {
	base := strings.Replace(checkBase, "site: t\n", "site: t\nhttp:\n  external_url: https://vedetta.t.example:9750\n", 1)
	base = strings.Replace(base, "    relays: [{host: 127.0.0.1, port: 25}]\n", `    relays: [{host: 127.0.0.1, port: 25}]
  voice:
    providers:
      - name: tw
        twilio: {account_sid: AC0123456789abcdef0123456789abcdef, auth_token: x, from: "+15550001111", language: it-IT}
`, 1)
	base = strings.Replace(base, "    email: [noc@t.example]\n", "    email: [noc@t.example]\n    voice: [\"+393331234567\"]\n", 1)
	checkEdits(t, base, []checkEdit{
		{"unknown language", "language: it-IT", "language: de-DE", `:21: notify.voice.providers[0].twilio.language: no phrases for "de-DE"`},
		{"no from", `from: "+15550001111", `, "", `:21: notify.voice.providers[0].twilio.from: required`},
		{"unknown kind", "        twilio: {", "        vonage: {", `notify.voice.providers[0]: give exactly one provider block: twilio`},
		{"no external_url", "  external_url: https://vedetta.t.example:9750\n", "", `:17: notify.voice: a call takes its key (4 acknowledges) through http.external_url`},
		{"bad number", `voice: ["+393331234567"]`, `voice: ["393331234567"]`, `:25: receivers[0].voice[0]: "393331234567" is not an international number`},
	})
}
