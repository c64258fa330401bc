package dispatch

import (
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/model"
	"github.com/vedetta-dc/vedetta/notify"
)

// A reply quoting an SMS's code acknowledges its alarm, only from the
// number it was sent to; a code of nothing sent there, or of an alarm no
// longer firing, acknowledges nothing.
func TestAckByReply(t *testing.T) {
	cfg := baseConfig()
	cfg.Routes = []config.Route{{Receivers: []string{"oncall"}, Channels: []string{"sms"}}}
	x := newDTest(t, cfg)
	ups := firing("4a7b1c2d3e", "critical", "target", "ups-b")
	ups.Rule = "UPSOnBattery"
	x.event(ups, model.EventFiring)
	x.run()
	x.want("sms:firing>+390001")
	code := notify.ReplyCode(ups.ID)

	for _, c := range []struct{ number, code, want string }{
		{"+390002", code, "No alarm"},     // not sent to that number
		{"+390001", "ffff", "No alarm"},   // no such code
		{"+390001", code, "Acknowledged"}, // the one
	} {
		msg, err := AckByReply(x.d, c.number, c.code, "oncall (+390001)")
		if err != nil || !strings.HasPrefix(msg, c.want) {
			t.Errorf("%s %s ACK: %q, %v; want %q...", c.number, c.code, msg, err, c.want)
		}
		acked := x.d.Notice(ups.ID).Ack != nil
		if acked != (c.want == "Acknowledged") {
			t.Errorf("%s %s ACK: acknowledged %v", c.number, c.code, acked)
		}
	}
	if n := x.d.Notice(ups.ID); n.Ack.By != "oncall (+390001)" {
		t.Errorf("ack by %q", n.Ack.By)
	}
	if msg, _ := AckByReply(x.d, "+390001", code, "oncall"); !strings.Contains(msg, "UPSOnBattery on ups-b") {
		t.Errorf("confirmation %q does not name the alarm", msg)
	}
	x.event(resolved(ups), model.EventResolved)
	x.run()
	if msg, _ := AckByReply(x.d, "+390001", code, "oncall"); !strings.Contains(msg, "no longer firing") {
		t.Errorf("after the resolve: %q", msg)
	}
}

// Two firing alarms sharing a short code: nothing is acknowledged until
// the reply names the whole id.
func TestAckByReplyAmbiguous(t *testing.T) {
	cfg := baseConfig()
	cfg.Routes = []config.Route{{Receivers: []string{"oncall"}, Channels: []string{"sms"}}}
	x := newDTest(t, cfg)
	a, b := firing("4a7b000001", "critical", "target", "a"), firing("4a7b000002", "critical", "target", "b")
	x.event(a, model.EventFiring)
	x.event(b, model.EventFiring)
	x.run()
	msg, _ := AckByReply(x.d, "+390001", "4a7b", "oncall")
	if !strings.Contains(msg, "matches 2 firing alarms") || x.d.Notice(a.ID).Ack != nil || x.d.Notice(b.ID).Ack != nil {
		t.Errorf("ambiguous code: %q, acks %v %v", msg, x.d.Notice(a.ID).Ack, x.d.Notice(b.ID).Ack)
	}
	if msg, _ := AckByReply(x.d, "+390001", b.ID, "oncall"); !strings.HasPrefix(msg, "Acknowledged") || x.d.Notice(b.ID).Ack == nil || x.d.Notice(a.ID).Ack != nil {
		t.Errorf("whole id: %q", msg)
	}
}

// RES acknowledges until the alarm resolves, ESC calls the next step now
// (and says why not when it cannot), a verb alone acts on the latest
// alarm sent to that number.
func TestAnswerReplyVerbs(t *testing.T) {
	cfg := baseConfig()
	cfg.Routes = []config.Route{{Receivers: []string{"oncall"}, Channels: []string{"sms"},
		Escalate: []config.Escalation{{After: time.Hour, Receivers: []string{"backup"}}}}}
	x := newDTest(t, cfg)
	ups := firing("4a7b1c2d3e", "critical", "target", "ups-b")
	ups.Rule = "UPSOnBattery"
	pdu := firing("9f00aa11bb", "warning", "target", "pdu-3")
	pdu.Rule = "PDUFeedLost"
	x.event(ups, model.EventFiring)
	x.run()
	x.advance(2 * time.Minute) // the next SMS after the gap: pdu's is the latest
	x.event(pdu, model.EventFiring)
	x.advance(2 * time.Minute)
	x.want("sms:firing>+390001", "sms:firing>+390001")

	// ESC alone: the latest alarm sent here (pdu-3) escalates at once.
	msg, err := AnswerReply(x.d, "+390001", "", notify.VerbEsc, "oncall (+390001)")
	if err != nil || msg != "Escalated 9f00 PDUFeedLost on pdu-3: the next people are called" {
		t.Fatalf("ESC: %q %v", msg, err)
	}
	x.advance(time.Minute)
	x.want("sms:firing>+390001", "sms:firing>+390001", "sms:escalated>+390002")
	// No step left: said so, nothing sent.
	if msg, _ := AnswerReply(x.d, "+390001", "9f00", notify.VerbEsc, "oncall (+390001)"); !strings.HasPrefix(msg, "Not escalated:") {
		t.Errorf("ESC with no step left: %q", msg)
	}
	// RES: acknowledged, for far longer than an ACK's 4 h.
	msg, err = AnswerReply(x.d, "+390001", "4a7b", notify.VerbRes, "oncall (+390001)")
	if err != nil || !strings.HasPrefix(msg, "Acknowledged until resolved 4a7b UPSOnBattery on ups-b") {
		t.Fatalf("RES: %q %v", msg, err)
	}
	if a := x.d.Notice(ups.ID).Ack; a == nil || a.Expires.Sub(a.At) < 24*time.Hour || !strings.Contains(a.Comment, "until it resolves") {
		t.Errorf("RES ack %+v", a)
	}
	// An acknowledged alarm does not escalate by reply.
	if msg, _ := AnswerReply(x.d, "+390001", "4a7b", notify.VerbEsc, "oncall"); !strings.Contains(msg, "acknowledged") {
		t.Errorf("ESC of an acknowledged alarm: %q", msg)
	}
	// ACK alone from a number that was told nothing firing.
	if msg, _ := AnswerReply(x.d, "+390009", "", notify.VerbAck, "x"); !strings.HasPrefix(msg, "No firing alarm was sent to this number") {
		t.Errorf("ACK alone from a stranger: %q", msg)
	}
}
