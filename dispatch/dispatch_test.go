package dispatch

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/model"

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/store"
	"github.com/vedetta-dc/vedetta/internal/testclock"
	"github.com/vedetta-dc/vedetta/notify"
)

// notifierFunc adapts a function to notify.Notifier.
type notifierFunc func(ctx context.Context, m notify.Message) (string, error)

func (f notifierFunc) Notify(ctx context.Context, m notify.Message) (string, error) { return f(ctx, m) }

// sink records what each channel was asked to send.
type sink struct {
	mu   sync.Mutex
	msgs []notify.Message
	fail func(m notify.Message) error
}

func (s *sink) notifier(ch string) notify.Notifier {
	return notifierFunc(func(_ context.Context, m notify.Message) (string, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.fail != nil {
			if err := s.fail(m); err != nil {
				return "", err
			}
		}
		m.Event = ch + ":" + m.Event
		s.msgs = append(s.msgs, m)
		return ch + "-provider", nil
	})
}

func (s *sink) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.msgs {
		out = append(out, m.Event+">"+m.Recipient)
	}
	return out
}

func (s *sink) subjects() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.msgs {
		out = append(out, m.Subject)
	}
	return out
}

type dtest struct {
	t     *testing.T
	d     *Dispatcher
	st    store.Store
	sink  *sink
	clock *testclock.Clock
}

func baseConfig() *config.Config {
	return &config.Config{
		Receivers: []config.Receiver{
			{Name: "oncall", Email: []string{"oncall@x.example"}, SMS: []string{"+390001"}},
			{Name: "backup", SMS: []string{"+390002"}},
			{Name: "fac", Email: []string{"fac@x.example"}},
		},
		Routes: []config.Route{
			{Match: map[string]string{"class": "environment"}, Receivers: []string{"fac"}, Continue: true},
			{Match: map[string]string{"severity": "critical"}, Receivers: []string{"oncall"}, Channels: []string{"sms", "email"},
				Repeat: 30 * time.Minute, Escalate: []config.Escalation{{After: 10 * time.Minute, Receivers: []string{"backup"}}}},
			{Receivers: []string{"fac"}},
		},
		Targets: []config.Target{{Name: "core-sw"}, {Name: "srv1", DependsOn: []string{"core-sw"}}},
	}
}

func newDTest(t *testing.T, cfg *config.Config) *dtest {
	t.Helper()
	st, err := store.OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s := &sink{}
	d, err := NewDispatcher(st, cfg, map[string]notify.Notifier{"email": s.notifier("email"), "sms": s.notifier("sms")}, discard())
	if err != nil {
		t.Fatal(err)
	}
	clock := testclock.New(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))
	d.now = clock.Now
	return &dtest{t: t, d: d, st: st, sink: s, clock: clock}
}

// event feeds one alarm event as the engine would.
func (x *dtest) event(a model.Alarm, ev model.EventKind) {
	x.t.Helper()
	if err := x.st.Update(func(tx store.Tx) error { return x.d.Update(tx, a, ev) }); err != nil {
		x.t.Fatal(err)
	}
}

// run does one dispatcher cycle: housekeeping, then every due send.
func (x *dtest) run() {
	x.d.housekeeping()
	for _, del := range x.d.due() {
		x.d.send(context.Background(), del, nil)
	}
}

func (x *dtest) advance(d time.Duration) {
	x.clock.Add(d)
	x.run()
}

func (x *dtest) want(want ...string) {
	x.t.Helper()
	// Messages of one cycle go out in parallel in the daemon: compare as sets.
	got := append([]string(nil), x.sink.got()...)
	sort.Strings(got)
	want = append([]string(nil), want...)
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		x.t.Fatalf("sent\n  %v\nwant\n  %v", got, want)
	}
}

func firing(id, sev string, labels ...string) model.Alarm {
	l := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		l[labels[i]] = labels[i+1]
	}
	return model.Alarm{ID: id, Rule: "R", Severity: sev, Labels: l, State: model.StateFiring, Site: "dc1", Summary: "s-" + id}
}

func resolved(a model.Alarm) model.Alarm { a.State = model.StateResolved; return a }

func TestRoutingAndResolvedToEveryoneTold(t *testing.T) {
	x := newDTest(t, baseConfig())
	a := firing("a1", "critical", "class", "environment", "target", "crac1")
	x.event(a, model.EventFiring)
	x.run()
	x.want("email:firing>fac@x.example", "sms:firing>+390001", "email:firing>oncall@x.example")
	x.event(resolved(a), model.EventResolved)
	x.advance(2 * time.Minute) // past the SMS gap
	x.want("email:firing>fac@x.example", "sms:firing>+390001", "email:firing>oncall@x.example",
		"email:resolved>fac@x.example", "sms:resolved>+390001", "email:resolved>oncall@x.example")
	// A warning only goes down the catch-all route; a resolved alarm nobody
	// was told about says nothing.
	x.event(resolved(firing("a2", "warning", "target", "h")), model.EventResolved)
	x.run()
	if n := len(x.sink.got()); n != 6 {
		t.Fatalf("%d messages", n)
	}
}

func TestEscalationRepeatAndAck(t *testing.T) {
	x := newDTest(t, baseConfig())
	a := firing("u1", "critical", "target", "ups-a")
	x.event(a, model.EventFiring)
	x.run()
	x.want("sms:firing>+390001", "email:firing>oncall@x.example")
	x.advance(9 * time.Minute)
	x.want("sms:firing>+390001", "email:firing>oncall@x.example")
	x.advance(61 * time.Second) // 10 min: the backup is called
	x.want("sms:firing>+390001", "email:firing>oncall@x.example", "sms:escalated>+390002")
	x.advance(30 * time.Minute) // 30 min after the last notice: a reminder to everyone told
	x.want("sms:firing>+390001", "email:firing>oncall@x.example", "sms:escalated>+390002",
		"sms:repeat>+390001", "email:repeat>oncall@x.example", "sms:repeat>+390002")

	// Acknowledged: everyone told hears who took it, then no more repeats.
	if _, err := x.d.Ack("u1", "mario", "on it", 0); err != nil {
		t.Fatal(err)
	}
	x.advance(time.Hour)
	x.want("sms:firing>+390001", "email:firing>oncall@x.example", "sms:escalated>+390002",
		"sms:repeat>+390001", "email:repeat>oncall@x.example", "sms:repeat>+390002",
		"sms:acknowledged>+390001", "email:acknowledged>oncall@x.example", "sms:acknowledged>+390002")
	for _, m := range x.sink.msgs[6:] {
		if !strings.Contains(m.Subject, "ACKNOWLEDGED critical: R on ups-a: by mario: on it, until ") {
			t.Errorf("ack notice %q", m.Subject)
		}
	}
	// An ack expires (4h by default): reminders resume.
	x.advance(4 * time.Hour)
	if n := len(x.sink.got()); n != 12 {
		t.Fatalf("%d messages after the ack expired, want 12: %v", n, x.sink.got())
	}
	if _, err := x.d.Ack("nope", "mario", "", 0); !errors.Is(err, ErrNoAlarm) {
		t.Errorf("ack of an unknown alarm: %v", err)
	}
}

func TestAckedAlarmDoesNotEscalate(t *testing.T) {
	x := newDTest(t, baseConfig())
	x.event(firing("u2", "critical", "target", "ups-b"), model.EventFiring)
	x.run()
	// Acknowledged by SMS reply from the number that was told: the others
	// hear of it, that number has its confirmation already.
	if _, err := x.d.Ack("u2", "oncall (+390001)", "", time.Hour); err != nil {
		t.Fatal(err)
	}
	x.advance(11 * time.Minute)
	x.want("sms:firing>+390001", "email:firing>oncall@x.example", "email:acknowledged>oncall@x.example")
	// A second ack keeps what the first one said; NO DATA is not sent
	// for an acknowledged alarm, its RESOLVED is.
	if _, err := x.d.Ack("u2", "anna", "replacing PSU 2", time.Hour); err != nil {
		t.Fatal(err)
	}
	n := x.d.Notice("u2")
	if n.Ack.By != "anna" || len(n.Ack.Earlier) != 1 || n.Ack.Earlier[0].By != "oncall (+390001)" {
		t.Errorf("re-ack: %+v", n.Ack)
	}
	stale := firing("u2", "critical", "target", "ups-b")
	stale.State = model.StateStale
	x.event(stale, model.EventStale)
	x.event(resolved(stale), model.EventResolved)
	x.advance(time.Minute) // the acks, then (each stream in event order) the RESOLVED
	x.advance(time.Minute)
	x.want("sms:firing>+390001", "email:firing>oncall@x.example", "email:acknowledged>oncall@x.example",
		"sms:acknowledged>+390001", "email:acknowledged>oncall@x.example",
		"sms:resolved>+390001", "email:resolved>oncall@x.example")
}

func TestSilenceHoldsThenNotifies(t *testing.T) {
	cfg := baseConfig()
	cfg.Routes[1].Repeat, cfg.Routes[1].Escalate = 0, nil
	x := newDTest(t, cfg)
	now := x.clock.Now()
	s, err := x.d.AddSilence(Equal(map[string]string{"target": "ups-b"}), now, now.Add(2*time.Hour), "battery swap", "anna")
	if err != nil {
		t.Fatal(err)
	}
	x.event(firing("b1", "critical", "target", "ups-b"), model.EventFiring)
	x.advance(time.Hour)
	x.want() // nothing while the silence lasts
	x.advance(61 * time.Minute)
	// Still firing when the silence ended: notified.
	x.want("sms:firing>+390001", "email:firing>oncall@x.example")

	// Silenced alarm that resolves during the silence: nobody hears anything.
	s2, _ := x.d.AddSilence(Equal(map[string]string{"target": "ups-c"}), x.clock.Now(), x.clock.Now().Add(time.Hour), "", "anna")
	c := firing("c1", "critical", "target", "ups-c")
	x.event(c, model.EventFiring)
	x.event(resolved(c), model.EventResolved)
	x.advance(2 * time.Hour)
	if n := len(x.sink.got()); n != 2 {
		t.Fatalf("a silenced episode produced %d messages", n-2)
	}
	if err := x.d.ExpireSilence(s.ID); err != nil {
		t.Error(err)
	}
	if len(x.d.Silences()) != 0 {
		t.Errorf("silences left: %+v (s2 %s)", x.d.Silences(), s2.ID)
	}
	if _, err := x.d.AddSilence(nil, x.clock.Now(), x.clock.Now().Add(time.Hour), "", ""); err == nil {
		t.Error("a silence matching everything was accepted")
	}
}

// A flap that settles while a silence holds its FLAPPING and STOPPED
// FLAPPING must still end, for those who heard the FIRING, in a RESOLVED:
// whether the alarm stays resolved or fires again before the silence ends
// (found by TestPipelineInvariants: the new FIRING went out alone).
func TestFlapSettledUnderSilenceEndsInResolved(t *testing.T) {
	for _, tc := range []struct {
		name      string
		refire    bool
		afterWant []string
	}{
		{"stays resolved", false, []string{"sms:resolved>+390001", "email:resolved>oncall@x.example"}},
		{"fires again", true, []string{"sms:resolved>+390001", "email:resolved>oncall@x.example",
			"sms:firing>+390001", "email:firing>oncall@x.example"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig()
			cfg.Routes[1].Repeat, cfg.Routes[1].Escalate = 0, nil
			x := newDTest(t, cfg)
			a := firing("f1", "critical", "target", "ups-b")
			x.event(a, model.EventFiring)
			x.run()
			x.want("sms:firing>+390001", "email:firing>oncall@x.example")
			told := len(x.sink.got())
			now := x.clock.Now()
			if _, err := x.d.AddSilence(Equal(map[string]string{"target": "ups-b"}), now, now.Add(time.Hour), "", "anna"); err != nil {
				t.Fatal(err)
			}
			// Each event has its own number, as the engine gives them.
			flap, settled, again := resolved(a), resolved(a), a
			flap.Seq, settled.Seq, again.Seq = 1, 2, 3
			x.event(flap, model.EventFlapping)
			x.advance(time.Minute)
			x.event(settled, model.EventFlapEnd)
			x.advance(time.Minute)
			if tc.refire {
				x.event(again, model.EventFiring)
				x.advance(time.Minute)
			}
			if n := len(x.sink.got()); n != told {
				t.Fatalf("%d messages while the silence held", n-told)
			}
			x.advance(time.Hour)
			x.advance(time.Second) // a message goes once the one before it for that recipient is done
			got := x.sink.got()[told:]
			to := map[string]string{"sms:": "+390001", "email:": "oncall@x.example"}
			for _, ch := range []string{"sms:", "email:"} {
				if r, f := slices.Index(got, ch+"resolved>"+to[ch]), slices.Index(got, ch+"firing>"+to[ch]); tc.refire && f < r {
					t.Errorf("%s the new FIRING went out before the RESOLVED of the episode before: %v", ch, got)
				}
			}
			x.sink.mu.Lock()
			x.sink.msgs = x.sink.msgs[told:]
			x.sink.mu.Unlock()
			x.want(tc.afterWant...)
		})
	}
}

func TestScheduledSilenceFromConfig(t *testing.T) {
	cfg := baseConfig()
	cfg.Silences = []config.Silence{{Match: map[string]string{"target": "ups-b"}, Schedule: "Sat 11:00-13:00", Comment: "maintenance"}}
	x := newDTest(t, cfg) // the clock says Saturday 12:00
	x.event(firing("b2", "critical", "target", "ups-b"), model.EventFiring)
	x.advance(30 * time.Minute)
	x.want()
	x.advance(31 * time.Minute)
	x.want("sms:firing>+390001", "email:firing>oncall@x.example")
}

func TestDependencySuppression(t *testing.T) {
	x := newDTest(t, baseConfig())
	up := map[string]bool{"core-sw": false}
	x.d.TargetUp = func(t string) (bool, bool) { v, ok := up[t]; return v, ok }
	x.event(firing("child", "critical", "target", "srv1"), model.EventFiring)
	x.event(firing("parent", "critical", "target", "core-sw"), model.EventFiring)
	x.run()
	x.want("sms:firing>+390001", "email:firing>oncall@x.example")
	subj := x.sink.subjects()
	if !strings.Contains(subj[1], "core-sw") || !strings.Contains(subj[1], "1 dependent alarms suppressed") {
		t.Errorf("parent subject %q", subj[1])
	}
	// The parent comes back, the child still fires: now it is news.
	up["core-sw"] = true
	x.advance(2 * time.Minute)
	got := x.sink.got()
	if len(got) != 4 || !strings.Contains(x.sink.subjects()[3], "srv1") {
		t.Fatalf("after the parent recovered: %v", got)
	}
}

func TestGroupingOneMessagePerRecipient(t *testing.T) {
	cfg := baseConfig()
	cfg.Routes = []config.Route{{Receivers: []string{"oncall"}, GroupBy: []string{"target"}, GroupWait: 5 * time.Second}}
	x := newDTest(t, cfg)
	for i := 0; i < 40; i++ {
		x.event(firing("p"+string(rune('A'+i%26))+string(rune('a'+i/26)), "critical", "target", "sw1", "ifname", "ge-0/0/"+itoa2(i)), model.EventFiring)
	}
	x.run()
	x.want() // group_wait not over
	x.advance(5 * time.Second)
	x.want("sms:firing>+390001", "email:firing>oncall@x.example")
	if s := x.sink.subjects()[0]; !strings.Contains(s, "40 alarms on sw1") {
		t.Errorf("group subject %q", s)
	}
	x.sink.mu.Lock()
	body := x.sink.msgs[1].Body
	x.sink.mu.Unlock()
	if strings.Count(body, "ge-0/0/") < 40 {
		t.Errorf("group body does not list the 40 ports:\n%s", body)
	}
}

func TestSMSThrottleDigest(t *testing.T) {
	cfg := baseConfig()
	cfg.Routes = []config.Route{{Receivers: []string{"oncall"}, Channels: []string{"sms"}}}
	x := newDTest(t, cfg)
	// Warnings: the bucket's 3 tokens, then a wait, then one digest.
	for _, id := range []string{"t1", "t2", "t3"} {
		x.event(firing(id, "warning", "target", "a"), model.EventFiring)
		x.run()
	}
	for _, id := range []string{"t4", "t5", "t6"} {
		x.event(firing(id, "warning", "target", "a"), model.EventFiring)
	}
	x.advance(30 * time.Second)
	x.want("sms:firing>+390001", "sms:firing>+390001", "sms:firing>+390001")
	x.advance(31 * time.Second) // a token back
	x.want("sms:firing>+390001", "sms:firing>+390001", "sms:firing>+390001", "sms:firing>+390001")
	if s := x.sink.subjects()[3]; !strings.Contains(s, "(+2 more, see e-mail)") {
		t.Errorf("digest subject %q", s)
	}
	ds, _ := x.d.Deliveries("")
	for _, del := range ds {
		if del.State != DeliveryDelivered {
			t.Errorf("delivery %s left %s", del.Key, del.State)
		}
	}
}

// Temporary failures are retried until a send succeeds; the same event
// seen twice is one notification per recipient.
func TestRetriesAndIdempotency(t *testing.T) {
	x := newDTest(t, baseConfig())
	calls := 0
	x.sink.fail = func(notify.Message) error {
		calls++
		if calls < 3 {
			return notify.Temporary(errors.New("relay busy"))
		}
		return nil
	}
	cfg := baseConfig()
	cfg.Routes = []config.Route{{Receivers: []string{"fac"}}}
	x.d.routes = cfg.Routes
	a := firing("r1", "warning", "target", "h")
	x.event(a, model.EventFiring)
	if err := x.st.Update(func(tx store.Tx) error {
		return x.d.put(tx, Delivery{Key: "r1/1/firing/fac/email/fac@x.example"}, x.clock.Now())
	}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10 && len(x.sink.got()) == 0; i++ {
		x.advance(time.Minute)
	}
	x.want("email:firing>fac@x.example")
	ds, _ := x.d.Deliveries("r1")
	if len(ds) != 1 || ds[0].Attempts != 3 || ds[0].Provider != "email-provider" {
		t.Fatalf("ledger %+v", ds)
	}
}

func TestPermanentFailureAndLease(t *testing.T) {
	x := newDTest(t, baseConfig())
	x.sink.fail = func(notify.Message) error { return notify.Permanent(errors.New("550 no such user")) }
	x.event(firing("f1", "warning", "target", "h"), model.EventFiring)
	x.run()
	ds, _ := x.d.Deliveries("f1")
	if len(ds) != 1 || ds[0].State != DeliveryFailed || ds[0].LastError == "" {
		t.Fatalf("%+v", ds)
	}
	if len(x.d.due()) != 0 {
		t.Error("a permanently failed delivery is retried")
	}

	// A send in flight when the process died is taken up again at once by
	// the next process (the lease names its owner; a lease of another
	// process on this locked state file is a dead one's), not after the
	// lease: at most that one message is repeated. (Issue 9, finding 4:
	// it waited out the 3-minute lease.)
	y := newDTest(t, baseConfig())
	y.event(firing("l1", "warning", "target", "h"), model.EventFiring)
	if n := len(y.d.due()); n != 1 {
		t.Fatalf("claimed %d", n)
	}
	if n := len(y.d.due()); n != 0 {
		t.Fatalf("the same process claimed its own lease again: %d", n)
	}
	d2, err := NewDispatcher(y.st, baseConfig(), nil, discard())
	if err != nil {
		t.Fatal(err)
	}
	d2.now = y.clock.Now
	again := d2.due()
	if len(again) != 1 || again[0].Attempts != 2 || again[0].LeaseOwner != d2.owner {
		t.Fatalf("after a restart, reclaimed %+v", again)
	}
	if n := len(d2.due()); n != 0 {
		t.Fatalf("claimed twice: %d", n)
	}
}
