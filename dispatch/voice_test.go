package dispatch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/store"
	"github.com/vedetta-dc/vedetta/internal/testclock"
	"github.com/vedetta-dc/vedetta/model"
	"github.com/vedetta-dc/vedetta/notify"
)

// newVoiceTest is the base config with oncall's voice number and a voice
// channel on the critical route.
func newVoiceTest(t *testing.T) *dtest {
	t.Helper()
	cfg := baseConfig()
	cfg.Receivers[0].Voice = []string{"+390009"}
	cfg.Routes[1].Channels = []string{"voice", "email"}
	st, err := store.OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s := &sink{}
	d, err := NewDispatcher(st, cfg, map[string]notify.Notifier{"email": s.notifier("email"), "sms": s.notifier("sms"),
		"voice": s.notifier("voice")}, discard())
	if err != nil {
		t.Fatal(err)
	}
	clock := testclock.New(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))
	d.now = clock.Now
	return &dtest{t: t, d: d, st: st, sink: s, clock: clock}
}

// A receiver's voice numbers are called for what needs someone (firing,
// escalated), not for acknowledged or resolved notices.
func TestVoiceCalledOnlyForWhatNeedsSomeone(t *testing.T) {
	x := newVoiceTest(t)
	a := firing("v1", "critical", "target", "ups-a")
	x.event(a, model.EventFiring)
	x.run()
	x.want("voice:firing>+390009", "email:firing>oncall@x.example")
	if _, err := x.d.Ack("v1", "mario", "", 0); err != nil {
		t.Fatal(err)
	}
	x.event(resolved(a), model.EventResolved)
	x.advance(time.Minute)
	x.advance(time.Minute)
	x.want("voice:firing>+390009", "email:firing>oncall@x.example", "email:acknowledged>oncall@x.example",
		"email:resolved>oncall@x.example")
	if !CallsFor(model.EventEscalated) || CallsFor(model.EventResolved) || CallsFor(model.EventAcked) || CallsFor(model.EventStale) {
		t.Error("CallsFor")
	}
}

// 4 on the call acknowledges the call's alarm on behalf of the number; a
// number that was not called about it, or a ref never called, does nothing.
func TestAckByCall(t *testing.T) {
	x := newVoiceTest(t)
	x.event(firing("v2", "critical", "target", "ups-b"), model.EventFiring)
	x.event(firing("v3", "critical", "target", "ups-c"), model.EventFiring)
	x.run()
	for _, c := range []struct{ number, ref string }{{"+390001", "v2"}, {"+390009", "v2x"}, {"+390009", "v"}} {
		if n, err := AckByCall(x.d, c.number, c.ref, "x"); err == nil || n != 0 {
			t.Errorf("AckByCall(%s, %s): %d, %v; want an error", c.number, c.ref, n, err)
		}
	}
	if x.d.Notice("v2").Ack != nil {
		t.Fatal("acknowledged by a call that was not placed")
	}
	n, err := AckByCall(x.d, "+390009", "v2", "oncall (+390009)")
	if err != nil || n != 1 {
		t.Fatalf("AckByCall: %d, %v", n, err)
	}
	if ack := x.d.Notice("v2").Ack; ack == nil || ack.By != "oncall (+390009)" || ack.Comment != "by phone call to +390009" {
		t.Errorf("ack %+v", ack)
	}
	if x.d.Notice("v3").Ack != nil {
		t.Error("the other alarm was acknowledged too")
	}
	// Acknowledged, it does not escalate at 10 min; v3 does.
	x.advance(11 * time.Minute)
	if got := x.sink.got(); len(got) != 6 || got[len(got)-1] != "sms:escalated>+390002" {
		t.Errorf("sent %v", got)
	}
}

// 6 on the call runs the next escalation step at once, once; an
// acknowledged alarm, or one without a step left, does not escalate.
func TestEscalateByCall(t *testing.T) {
	x := newVoiceTest(t)
	x.event(firing("v4", "critical", "target", "ups-d"), model.EventFiring)
	x.run()
	x.advance(time.Minute)
	n, err := EscalateByCall(x.d, "+390009", "v4", "oncall (+390009)")
	if err != nil || n != 1 {
		t.Fatalf("EscalateByCall: %d, %v", n, err)
	}
	x.run()
	x.want("voice:firing>+390009", "email:firing>oncall@x.example", "sms:escalated>+390002")
	if n, err := EscalateByCall(x.d, "+390009", "v4", "oncall (+390009)"); err != nil || n != 0 {
		t.Errorf("second 6: %d, %v; want no step left", n, err)
	}
	if _, err := x.d.EscalateNow("v4", "x"); !errors.Is(err, ErrNoStep) {
		t.Errorf("EscalateNow with no step left: %v", err)
	}
	x.advance(10 * time.Minute) // the step's own after: not again
	if got := x.sink.got(); len(got) != 3 {
		t.Errorf("sent %v", got)
	}
	x.event(firing("v5", "critical", "target", "ups-e"), model.EventFiring)
	x.run()
	if _, err := x.d.Ack("v5", "mario", "", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := x.d.EscalateNow("v5", "x"); !errors.Is(err, ErrNoStep) {
		t.Errorf("EscalateNow of an acknowledged alarm: %v", err)
	}
	if _, err := x.d.EscalateNow("nope", "x"); !errors.Is(err, ErrNoAlarm) {
		t.Errorf("EscalateNow of an unknown alarm: %v", err)
	}
}

// A phone rings for one alarm at a time: two alarms at once are two calls,
// one after the other; e-mail is not held.
func TestOneCallPerNumber(t *testing.T) {
	x := newVoiceTest(t)
	x.event(firing("v6", "critical", "target", "ups-f"), model.EventFiring)
	x.event(firing("v7", "critical", "target", "ups-g"), model.EventFiring)
	x.d.housekeeping()
	count := func(ds []Delivery) (calls, mails int) {
		for _, d := range ds {
			switch d.Channel {
			case "voice":
				calls++
			case "email":
				mails++
			}
		}
		return
	}
	first := x.d.due()
	if calls, mails := count(first); calls != 1 || mails != 2 {
		t.Fatalf("first scan: %d calls, %d e-mails; want 1 and 2", calls, mails)
	}
	// While the call is in progress the second waits.
	if calls, _ := count(x.d.due()); calls != 0 {
		t.Fatalf("a second call to the number while the first rings")
	}
	for _, d := range first {
		x.d.send(context.Background(), d, nil)
	}
	second := x.d.due()
	if calls, _ := count(second); calls != 1 || second[0].Ref == first[0].Ref {
		t.Fatalf("after the first call: %+v", second)
	}
}

// voiceDeliveries lists the ledger's voice deliveries of an alarm.
func voiceDeliveries(t *testing.T, x *dtest, id string) []Delivery {
	t.Helper()
	ds, err := x.d.Deliveries(id)
	if err != nil {
		t.Fatal(err)
	}
	var out []Delivery
	for _, d := range ds {
		if d.Channel == "voice" {
			out = append(out, d)
		}
	}
	return out
}

// A call nobody answers is tried voiceRounds times, then fails (the
// escalation steps take over); a call waiting for its next round is not
// placed once someone acknowledged the alarm.
func TestUnansweredCallGivesUp(t *testing.T) {
	x := newVoiceTest(t)
	calls := 0
	x.sink.fail = func(m notify.Message) error {
		if m.Recipient == "+390009" {
			calls++
			return notify.Temporary(errors.New("no-answer: call not acknowledged"))
		}
		return nil
	}
	x.event(firing("v8", "critical", "target", "ups-h"), model.EventFiring)
	x.run()
	for i := 0; i < 5; i++ {
		x.advance(2 * time.Minute) // past any backoff
	}
	vd := voiceDeliveries(t, x, "v8")
	if calls != voiceRounds || len(vd) != 1 || vd[0].State != DeliveryFailed || !strings.Contains(vd[0].LastError, "not answered in 3 rounds") {
		t.Fatalf("%d calls, ledger %+v", calls, vd)
	}

	calls = 0
	x.event(firing("v9", "critical", "target", "ups-i"), model.EventFiring)
	x.run()
	if calls != 1 {
		t.Fatalf("%d calls, want 1", calls)
	}
	if _, err := x.d.Ack("v9", "mario", "", 0); err != nil {
		t.Fatal(err)
	}
	x.advance(2 * time.Minute)
	vd = voiceDeliveries(t, x, "v9")
	if calls != 1 || len(vd) != 1 || vd[0].State != DeliveryFailed || vd[0].LastError != "not called: acknowledged by mario" {
		t.Fatalf("%d calls after the ack, ledger %+v", calls, vd)
	}
}

// A call that rang unanswered is not a channel failure: the channel
// works, and a NotificationChannelDown alarm would call the same phone.
func TestUnansweredCallKeepsChannelUp(t *testing.T) {
	x := newVoiceTest(t)
	x.sink.fail = func(m notify.Message) error {
		switch m.Recipient {
		case "+390009":
			return notify.Temporary(fmt.Errorf("voice: no-answer: %w", notify.ErrUnanswered))
		case "oncall@x.example":
			return notify.Temporary(errors.New("relay refused"))
		}
		return nil
	}
	up := map[string][]bool{}
	x.d.OnChannel = func(ch string, ok bool) { up[ch] = append(up[ch], ok) }
	x.event(firing("v10", "critical", "target", "ups-j"), model.EventFiring)
	x.run()
	if len(up["voice"]) != 1 || !up["voice"][0] || len(up["email"]) != 1 || up["email"][0] {
		t.Errorf("channel health %v: want voice up (it rang), email down", up)
	}
}
