package dispatch

import (
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/model"

	"github.com/vedetta-dc/vedetta/internal/store"
	"github.com/vedetta-dc/vedetta/notify"
)

// digestStep is one moment of a start-digest scenario: an alarm event, an
// ack, a crash (the dispatcher rebuilt from the store, as after kill -9),
// or a check of everything sent so far.
type digestStep struct {
	at    time.Duration // since the start
	alarm model.Alarm
	ev    model.EventKind
	// active is when the alarm's condition became true (ActiveAt), since
	// the start; the step's own time when zero.
	active time.Duration
	ack    string // acknowledge this alarm
	// dropped: the engine drops the alarm (a pending one that cleared).
	dropped bool
	crash   bool
	// want is everything sent by then (channel:event>recipient), when set.
	want []string
}

func TestStartDigest(t *testing.T) {
	ups := firing("ups", "critical", "target", "ups-a")
	crac := firing("crac", "critical", "class", "environment", "target", "crac1")
	port := firing("port", "warning", "target", "sw1")
	// An environment warning: the environment route (continue) and the
	// catch-all both name fac.
	hot := firing("hot", "warning", "class", "environment", "target", "probe1")
	pending := func(a model.Alarm) model.Alarm { a.State = model.StatePending; return a }
	cases := []struct {
		name   string
		window time.Duration
		steps  []digestStep
		// digest: what the first message to each recipient lists.
		digest map[string][]string
	}{
		{
			name: "standing problems: one message per receiver and channel at the window's end", window: 45 * time.Second,
			steps: []digestStep{
				{at: time.Second, alarm: ups, ev: model.EventFiring},
				{at: 2 * time.Second, alarm: crac, ev: model.EventFiring},
				{at: 30 * time.Second, alarm: port, ev: model.EventFiring},
				{at: 44 * time.Second, want: []string{}}, // a critical page waits too
				{at: 45 * time.Second, want: []string{"sms:firing>+390001", "email:firing>oncall@x.example", "email:firing>fac@x.example"}},
			},
			digest: map[string][]string{
				"+390001": {"ups", "crac"}, "oncall@x.example": {"ups", "crac"}, "fac@x.example": {"crac", "port"},
			},
		},
		{
			name: "an alarm two routes name is listed once", window: 45 * time.Second,
			steps: []digestStep{
				{at: time.Second, alarm: hot, ev: model.EventFiring},
				{at: 2 * time.Second, alarm: port, ev: model.EventFiring},
				{at: 46 * time.Second, want: []string{"email:firing>fac@x.example"}},
			},
			digest: map[string][]string{"fac@x.example": {"hot", "port"}},
		},
		{
			name: "what fires and resolves in the window is in the digest, in order", window: 45 * time.Second,
			steps: []digestStep{
				{at: time.Second, alarm: ups, ev: model.EventFiring},
				{at: 3 * time.Second, alarm: port, ev: model.EventFiring},
				{at: 10 * time.Second, alarm: resolved(ups), ev: model.EventResolved},
				{at: 45 * time.Second, want: []string{"sms:firing>+390001", "email:firing>oncall@x.example", "email:firing>fac@x.example"}},
				{at: 10 * time.Minute, want: []string{"sms:firing>+390001", "email:firing>oncall@x.example", "email:firing>fac@x.example"}},
			},
			digest: map[string][]string{"+390001": {"ups", "ups"}, "oncall@x.example": {"ups", "ups"}, "fac@x.example": {"port"}},
		},
		{
			// The notices say who was told: RESOLVED, acks and repeats
			// work after the digest as after a message sent alone.
			name: "after the digest: resolved, ack and repeat to everyone told", window: 45 * time.Second,
			steps: []digestStep{
				{at: time.Second, alarm: ups, ev: model.EventFiring},
				{at: 2 * time.Second, alarm: crac, ev: model.EventFiring},
				{at: 45 * time.Second, want: []string{"sms:firing>+390001", "email:firing>oncall@x.example", "email:firing>fac@x.example"}},
				{at: 5 * time.Minute, alarm: resolved(crac), ev: model.EventResolved},
				{at: 5*time.Minute + time.Second, ack: "ups"},
				{at: 7 * time.Minute, want: []string{"sms:firing>+390001", "email:firing>oncall@x.example", "email:firing>fac@x.example",
					"sms:resolved>+390001", "email:resolved>oncall@x.example", "email:resolved>fac@x.example",
					"sms:acknowledged>+390001", "email:acknowledged>oncall@x.example"}},
			},
			digest: map[string][]string{"+390001": {"ups", "crac"}, "oncall@x.example": {"ups", "crac"}, "fac@x.example": {"crac"}},
		},
		{
			name: "unacknowledged: repeat and escalation count from the digest", window: 45 * time.Second,
			steps: []digestStep{
				{at: time.Second, alarm: ups, ev: model.EventFiring},
				{at: 10*time.Minute + 2*time.Second, want: []string{"sms:firing>+390001", "email:firing>oncall@x.example", "sms:escalated>+390002"}},
			},
			digest: map[string][]string{"+390001": {"ups"}},
		},
		{
			// A rule's for: runs past the window: its alarm was standing
			// at the start all the same, and the digest waits for it.
			name: "the digest waits for a problem pending since the window", window: 45 * time.Second,
			steps: []digestStep{
				{at: time.Second, alarm: pending(port)},
				{at: 2 * time.Second, alarm: ups, ev: model.EventFiring},
				{at: 61 * time.Second, want: []string{}},
				{at: 62 * time.Second, alarm: port, ev: model.EventFiring, active: time.Second},
				{at: 62 * time.Second, want: []string{"sms:firing>+390001", "email:firing>oncall@x.example", "email:firing>fac@x.example"}},
			},
			digest: map[string][]string{"+390001": {"ups"}, "fac@x.example": {"port"}},
		},
		{
			name: "standing problems only, firing after the window one by one: one message", window: 45 * time.Second,
			steps: []digestStep{
				{at: time.Second, alarm: pending(port)},
				{at: time.Second, alarm: pending(hot)},
				{at: 61 * time.Second, alarm: port, ev: model.EventFiring, active: time.Second},
				{at: 70 * time.Second, want: []string{}},
				{at: 71 * time.Second, alarm: hot, ev: model.EventFiring, active: time.Second},
				{at: 72 * time.Second, want: []string{"email:firing>fac@x.example"}},
			},
			digest: map[string][]string{"fac@x.example": {"port", "hot"}},
		},
		{
			name: "a standing problem that clears lets the digest go", window: 45 * time.Second,
			steps: []digestStep{
				{at: time.Second, alarm: pending(port)},
				{at: 2 * time.Second, alarm: ups, ev: model.EventFiring},
				{at: 50 * time.Second, want: []string{}},
				{at: 51 * time.Second, alarm: pending(port), active: time.Second, dropped: true},
				{at: 51 * time.Second, want: []string{"sms:firing>+390001", "email:firing>oncall@x.example"}},
			},
		},
		{
			name: "the wait for standing problems is bounded", window: 45 * time.Second,
			steps: []digestStep{
				{at: time.Second, alarm: pending(port)},
				{at: 2 * time.Second, alarm: ups, ev: model.EventFiring},
				{at: 45*time.Second + DigestGrace - time.Second, want: []string{}},
				{at: 45*time.Second + DigestGrace, want: []string{"sms:firing>+390001", "email:firing>oncall@x.example"}},
			},
		},
		{
			// New after the window: not a standing problem, even while
			// the digest waits for one.
			name: "a problem new after the window goes at once", window: 45 * time.Second,
			steps: []digestStep{
				{at: time.Second, alarm: pending(port)},
				{at: 2 * time.Second, alarm: hot, ev: model.EventFiring},
				{at: 50 * time.Second, alarm: ups, ev: model.EventFiring},
				{at: 50 * time.Second, want: []string{"sms:firing>+390001", "email:firing>oncall@x.example"}},
				{at: 62 * time.Second, alarm: port, ev: model.EventFiring, active: time.Second},
				{at: 62 * time.Second, want: []string{"sms:firing>+390001", "email:firing>oncall@x.example", "email:firing>fac@x.example"}},
			},
			digest: map[string][]string{"+390001": {"ups"}, "fac@x.example": {"hot", "port"}},
		},
		{
			name: "after the window an alarm goes alone, at once", window: 45 * time.Second,
			steps: []digestStep{
				{at: 45 * time.Second, alarm: ups, ev: model.EventFiring},
				{at: 45 * time.Second, want: []string{"sms:firing>+390001", "email:firing>oncall@x.example"}},
			},
		},
		{
			name: "off: every alarm at once", window: 0,
			steps: []digestStep{
				{at: time.Second, alarm: ups, ev: model.EventFiring},
				{at: time.Second, want: []string{"sms:firing>+390001", "email:firing>oncall@x.example"}},
				{at: 2 * time.Second, alarm: port, ev: model.EventFiring},
				{at: 2 * time.Second, want: []string{"sms:firing>+390001", "email:firing>oncall@x.example", "email:firing>fac@x.example"}},
			},
		},
		{
			// The next process opens its own window, but the digest the
			// crash left keeps its end: nothing lost, nothing twice.
			name: "a crash in the window loses nothing", window: 45 * time.Second,
			steps: []digestStep{
				{at: time.Second, alarm: ups, ev: model.EventFiring},
				{at: 20 * time.Second, crash: true},
				{at: 21 * time.Second, alarm: port, ev: model.EventFiring},
				{at: 44 * time.Second, want: []string{}},
				{at: 45 * time.Second, want: []string{"sms:firing>+390001", "email:firing>oncall@x.example", "email:firing>fac@x.example"}},
				{at: 11 * time.Minute, alarm: resolved(ups), ev: model.EventResolved},
				{at: 13 * time.Minute, want: []string{"sms:firing>+390001", "email:firing>oncall@x.example", "email:firing>fac@x.example",
					"sms:escalated>+390002", "sms:resolved>+390001", "email:resolved>oncall@x.example", "sms:resolved>+390002"}},
			},
			digest: map[string][]string{"+390001": {"ups"}, "oncall@x.example": {"ups"}, "fac@x.example": {"port"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x := newDTest(t, baseConfig())
			start := x.clock.Now()
			x.d.DigestUntil = StartDigestEnd(start, tc.window)
			for _, s := range tc.steps {
				// Second by second around the window, as Run's housekeeping
				// goes; then coarser.
				for d := start.Add(s.at).Sub(x.clock.Now()); d > 0; d = start.Add(s.at).Sub(x.clock.Now()) {
					step := time.Second
					if x.clock.Now().Sub(start) > 2*time.Minute {
						step = 30 * time.Second
					}
					x.advance(min(d, step))
				}
				switch {
				case s.crash:
					d, err := NewDispatcher(x.st, baseConfig(), x.d.channels, discard())
					if err != nil {
						t.Fatal(err)
					}
					d.now = x.clock.Now
					d.DigestUntil = StartDigestEnd(x.clock.Now(), tc.window)
					x.d = d
				case s.ack != "":
					if _, err := x.d.Ack(s.ack, "anna", "on it", time.Hour); err != nil {
						t.Fatal(err)
					}
				case s.alarm.ID != "":
					a := s.alarm
					a.ActiveAt = x.clock.Now()
					if s.active > 0 {
						a.ActiveAt = start.Add(s.active)
					}
					if s.dropped {
						if err := Persist(x.st, x.d, []model.Change{{Alarm: a, Deleted: true}}); err != nil {
							t.Fatal(err)
						}
						break
					}
					x.event(a, s.ev)
				}
				x.run()
				if s.want != nil {
					x.want(s.want...)
				}
			}
			first := map[string]string{}
			for _, m := range x.sink.msgs {
				if _, ok := first[m.Recipient]; !ok {
					first[m.Recipient] = m.Key
				}
			}
			for to, want := range tc.digest {
				x := ledgerEntry(t, x.st, first[to])
				if !slices.Equal(x.AlarmIDs, want) {
					t.Errorf("digest to %s lists %v, want %v", to, x.AlarmIDs, want)
				}
				if len(want) > 1 && !strings.Contains(x.Subject, "STARTED") {
					t.Errorf("digest to %s: subject %q does not say it is the start digest", to, x.Subject)
				}
			}
		})
	}
}

func ledgerEntry(t *testing.T, st store.Store, key string) Delivery {
	t.Helper()
	var x Delivery
	err := st.View(func(tx store.Tx) error {
		var ok bool
		if x, ok = newOutbox().get(tx, key); !ok {
			t.Errorf("no ledger entry %q", key)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// The digest's text: every alarm named, worst first, with its id to
// acknowledge it by.
func TestDigestMessage(t *testing.T) {
	w := firing("p1", "warning", "target", "sw1")
	w.Rule, w.Summary = "SwitchPortDown", "Gi1/0/7 on sw1 has no link"
	c := firing("u1", "critical", "target", "ups-a")
	c.Rule, c.Summary = "UPSOnBattery", "ups-a is on battery, 7 min left"
	r := resolved(firing("t1", "warning", "target", "probe1"))
	r.Rule, r.Summary = "RackTooHot", "rack back to 24 °C"
	as := []model.Alarm{w, c, r}
	evs := []model.EventKind{model.EventFiring, model.EventFiring, model.EventResolved}
	from := time.Date(2026, 12, 1, 3, 0, 1, 0, time.UTC)
	tests := []struct {
		name, got, want string
	}{
		{"subject", DigestSubject(as, evs),
			"[vedetta dc1] STARTED, FIRING 2, RESOLVED 1: 3 alarms (critical 1, warning 2) on probe1, sw1, ups-a: RackTooHot×1, SwitchPortDown×1, UPSOnBattery×1"},
		{"list, worst first", strings.SplitN(DigestBody(as, evs, from), "\n\n", 3)[1],
			"  [u1] FIRING   critical UPSOnBattery on ups-a: ups-a is on battery, 7 min left\n" +
				"  [p1] FIRING   warning  SwitchPortDown on sw1: Gi1/0/7 on sw1 has no link\n" +
				"  [t1] RESOLVED warning  RackTooHot on probe1: rack back to 24 °C"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", tc.got, tc.want)
			}
		})
	}
	body := DigestBody(as, evs, from)
	for _, s := range []string{"vedetta ack u1", "vedetta ack p1", "2026-12-01 03:00:01 UTC"} {
		if !strings.Contains(body, s) {
			t.Errorf("body lacks %q:\n%s", s, body)
		}
	}
	var order []int
	for _, id := range []string{"[u1]", "[p1]", "[t1]"} {
		order = append(order, strings.Index(body, id))
	}
	if !sort.IntsAreSorted(order) {
		t.Errorf("not worst first: %v", order)
	}
}

func TestStartDigestEnd(t *testing.T) {
	start := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		w    time.Duration
		want time.Time
	}{
		{0, time.Time{}},
		{-time.Second, time.Time{}},
		{45 * time.Second, start.Add(45 * time.Second)},
		{10 * time.Minute, start.Add(MaxStartDigest)},
	} {
		if got := StartDigestEnd(start, tc.w); !got.Equal(tc.want) {
			t.Errorf("StartDigestEnd(%v) = %v, want %v", tc.w, got, tc.want)
		}
	}
}

// An SMS reply to the digest acknowledges every alarm it listed, and only
// those: the next start's digest has another id.
func TestDigestReplyAcksWhatItListed(t *testing.T) {
	x := newDTest(t, baseConfig())
	start := x.clock.Now()
	x.d.DigestUntil = StartDigestEnd(start, 45*time.Second)
	ups := firing("ups", "critical", "target", "ups-a")
	crac := firing("crac", "critical", "class", "environment", "target", "crac1")
	x.event(ups, model.EventFiring)
	x.event(crac, model.EventFiring)
	x.advance(45 * time.Second)
	var sms []string
	for _, m := range x.sink.msgs {
		if m.Recipient == "+390001" {
			sms = append(sms, m.AlarmID)
		}
	}
	if len(sms) != 1 || sms[0] != digestRef(x.d.DigestUntil) {
		t.Fatalf("SMS to +390001 quote %v, want one digest %s", sms, digestRef(x.d.DigestUntil))
	}
	msg, err := AnswerReply(x.d, "+390001", notify.ReplyCode(sms[0]), notify.VerbAck, "oncall (+390001)")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"ups", "crac"} {
		if n := x.d.Notice(id); n == nil || n.Ack == nil {
			t.Errorf("%s not acknowledged by the reply %q", id, msg)
		}
	}
	if digestRef(start) == digestRef(start.Add(time.Second)) {
		t.Error("two starts' digests have the same id")
	}
}
