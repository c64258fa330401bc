package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// Acknowledging by SMS reply on the real daemon: the alarm's SMS offers a
// code; the Twilio-speaking server posts replies to the webhook as Twilio
// does (signed with the account's token). A bad signature or an unknown
// number does nothing; "CODE ACK" from the receiver's phone acknowledges
// the alarm (the API shows it) and the confirmation goes back.
func TestE2ESMSReplyAck(t *testing.T) {
	t.Parallel()
	port := testpeer.FreePort(t)
	r := newDeliveryRig(t, deliveryConfig{relays: []string{relay(closedPort(t))}, rules: portDownRule,
		routes:    "  - match: {severity: critical}\n    receivers: [oncall]\n    channels: [sms]\n",
		httpPort:  port,
		httpExtra: fmt.Sprintf("  external_url: http://127.0.0.1:%d/\n", port)})
	r.values(ports(1, "1"))
	r.start()
	r.values(ports(1, "0"))
	const phone = "+390000000001"
	testpeer.WaitFor(t, 15*time.Second, "the PortDown SMS", func() bool { return anyContains(r.sms(phone), "PortDown") })
	var text string
	for _, b := range r.sms(phone) {
		if strings.Contains(b, "PortDown") {
			text = b
		}
	}
	m := regexp.MustCompile(`Reply ([0-9a-f]{4}) ACK/ESC/RES$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("the SMS does not offer a reply code: %q", text)
	}
	code := m[1]
	var id string
	for _, a := range r.d.alerts() {
		if a.Rule == "PortDown" {
			id = a.ID
		}
	}
	if !strings.HasPrefix(id, code) {
		t.Fatalf("code %s is not the alarm's (%s)", code, id)
	}
	hook := fmt.Sprintf("http://127.0.0.1:%d/api/v1/twilio/sms", port)
	acked := func() bool { return strings.Contains(getBody(t, r.d.http+"/api/v1/alerts/"+id), `"ack"`) }
	ctx := context.Background()

	status, conf, err := r.twilio.IncomingSignedWith(ctx, "forged0123456789", hook, phone, "+15550001111", code+" ACK")
	if err != nil || status != 403 || len(conf) != 0 {
		t.Errorf("bad signature: HTTP %d, confirmations %q, %v; want 403 and none", status, conf, err)
	}
	status, conf, err = r.twilio.Incoming(ctx, hook, "+390000000099", "+15550001111", code+" ACK")
	if err != nil || status != 200 || len(conf) != 0 {
		t.Errorf("unknown number: HTTP %d, confirmations %q, %v; want 200 and none", status, conf, err)
	}
	time.Sleep(300 * time.Millisecond)
	if acked() {
		t.Fatal("acknowledged by a bad signature or an unknown number")
	}
	status, conf, err = r.twilio.Incoming(ctx, hook, phone, "+15550001111", code+" ACK")
	if err != nil || status != 200 || len(conf) != 1 || !strings.HasPrefix(conf[0], "Acknowledged "+code+" PortDown on sw1") {
		t.Fatalf("reply: HTTP %d, confirmations %q, %v", status, conf, err)
	}
	t.Logf("confirmation: %s", conf[0])
	testpeer.WaitFor(t, 3*time.Second, "the ack in the API", acked)
	if body := getBody(t, r.d.http+"/api/v1/alerts/"+id); !strings.Contains(body, `"by": "oncall (+390000000001)"`) {
		t.Errorf("the ack does not say who: %s", body)
	}
	if n := len(r.sms(phone)); n < 2 || !strings.HasPrefix(r.sms(phone)[n-1], "Acknowledged") {
		t.Errorf("the phone did not get the confirmation: %q", r.sms(phone))
	}
}

// The same through the GSM modem: its SMS offers the code, a reply reaches
// the modem (+CMTI, then AT+CMGL), acknowledges, is answered through the
// modem and deleted from the SIM; an unknown number gets nothing, a reply
// that is not understood gets a hint.
func TestE2EModemReplyAck(t *testing.T) {
	t.Parallel()
	mdm := testpeer.StartModem(t)
	r := newDeliveryRig(t, deliveryConfig{relays: []string{relay(closedPort(t))}, rules: portDownRule,
		routes:   "  - match: {severity: critical}\n    receivers: [oncall]\n    channels: [sms]\n",
		smsExtra: fmt.Sprintf("      - name: gsm\n        modem: {device: %s, command_timeout: 2s}\n", mdm.Device())})
	r.twilio.FailCreate(500, 20500) // the modem takes the SMS
	r.values(ports(1, "1"))
	r.start()
	r.values(ports(1, "0"))
	const phone = "+390000000001"
	testpeer.WaitFor(t, 15*time.Second, "the PortDown SMS through the modem", func() bool { return len(mdm.Sent()) > 0 })
	text := mdm.Sent()[0].Text
	m := regexp.MustCompile(`Reply ([0-9a-f]{4}) ACK/ESC/RES$`).FindStringSubmatch(text)
	if m == nil || mdm.Sent()[0].Number != phone {
		t.Fatalf("the modem's SMS does not offer a reply code: %+v", mdm.Sent()[0])
	}
	code := m[1]
	var id string
	for _, a := range r.d.alerts() {
		if a.Rule == "PortDown" {
			id = a.ID
		}
	}
	acked := func() bool { return strings.Contains(getBody(t, r.d.http+"/api/v1/alerts/"+id), `"ack"`) }
	sentTo := func(n string) []string {
		var out []string
		for _, s := range mdm.Sent() {
			if s.Number == n {
				out = append(out, s.Text)
			}
		}
		return out
	}

	mdm.Deliver("+390000000099", code+" ACK")
	mdm.Deliver(phone, "what is this")
	testpeer.WaitFor(t, 10*time.Second, "the hint to the reply not understood", func() bool { return len(sentTo(phone)) == 2 })
	if got := sentTo(phone)[1]; !strings.HasPrefix(got, "Not understood") {
		t.Errorf("answer to a reply not understood: %q", got)
	}
	testpeer.WaitFor(t, 5*time.Second, "both deleted from the SIM", func() bool { return len(mdm.Inbox()) == 0 })
	if acked() || len(sentTo("+390000000099")) != 0 {
		t.Fatalf("an unknown number acknowledged or got an answer: %q", sentTo("+390000000099"))
	}

	mdm.Deliver(phone, code+" ACK")
	testpeer.WaitFor(t, 10*time.Second, "the ack in the API", acked)
	if body := getBody(t, r.d.http+"/api/v1/alerts/"+id); !strings.Contains(body, `"by": "oncall (+390000000001)"`) {
		t.Errorf("the ack does not say who: %s", body)
	}
	testpeer.WaitFor(t, 10*time.Second, "the confirmation through the modem", func() bool { return len(sentTo(phone)) == 3 })
	if got := sentTo(phone)[2]; !strings.HasPrefix(got, "Acknowledged "+code+" PortDown on sw1") {
		t.Errorf("confirmation %q", got)
	}
	if len(mdm.Inbox()) != 0 {
		t.Errorf("replies left on the SIM: %+v", mdm.Inbox())
	}
}
