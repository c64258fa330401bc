package rules

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/model"

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/testclock"
)

type recorder struct {
	mu     sync.Mutex
	events []model.Change
}

func (r *recorder) onChange(cs []model.Change) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range cs {
		if c.Event != "" {
			r.events = append(r.events, c)
		}
	}
	return nil
}

func (r *recorder) kinds() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, c := range r.events {
		out = append(out, string(c.Event)+":"+c.Alarm.Rule)
	}
	return out
}

func rules(t *testing.T, rs ...config.Rule) []*Rule {
	t.Helper()
	cfg := &config.Config{Rules: rs}
	for i := range cfg.Rules {
		if cfg.Rules[i].Severity == "" {
			cfg.Rules[i].Severity = "warning"
		}
	}
	out, errs := CompileRules(cfg)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return out
}

type harness struct {
	t     *testing.T
	clock *testclock.Clock
	rec   *recorder
	e     *Engine
}

func newHarness(t *testing.T, rs ...config.Rule) *harness {
	h := &harness{t: t, clock: testclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)), rec: &recorder{}}
	h.e = New(Options{Site: "dc1", Rules: rules(t, rs...), Intervals: map[string]time.Duration{"h": 10 * time.Second},
		OnChange: h.rec.onChange, Now: h.clock.Now})
	return h
}

// feed ingests one batch for target h at the current fake time.
func (h *harness) feed(samples ...model.Sample) {
	now := h.clock.Now()
	for i := range samples {
		samples[i].Time = now
		samples[i].Labels = samples[i].Labels.With("target", "h").With("class", "host")
	}
	h.e.Ingest(model.Batch{Target: "h", Samples: samples})
}

func smp(name string, v float64, labels ...string) model.Sample {
	return model.Sample{Name: name, Value: v, Labels: model.L(labels...)}
}

func (h *harness) want(events ...string) {
	h.t.Helper()
	got := h.rec.kinds()
	if len(got) != len(events) {
		h.t.Fatalf("events %v, want %v", got, events)
	}
	for i := range got {
		if got[i] != events[i] {
			h.t.Fatalf("events %v, want %v", got, events)
		}
	}
}

func TestEngineForHysteresisAndJoin(t *testing.T) {
	h := newHarness(t, config.Rule{
		Name: "Full", Expr: `labels.mountpoint != "/boot" && used > 0.9`, Clear: "used < 0.85", For: 20 * time.Second,
		Summary: "{{ .Labels.mountpoint }} {{ .Value | percent }}",
	})
	feed := func(root, boot float64) {
		h.feed(smp("used", root, "mountpoint", "/"), smp("used", boot, "mountpoint", "/boot"))
		h.clock.Add(10 * time.Second)
	}
	feed(0.95, 0.99) // pending for /; /boot is filtered out
	feed(0.95, 0.99)
	h.want()
	feed(0.95, 0.99) // 20 s later: firing
	h.want("firing:Full")
	al := h.e.Alarms()
	if len(al) != 1 || al[0].Labels["mountpoint"] != "/" || al[0].Summary != "/ 95%" || al[0].Value != 0.95 {
		t.Fatalf("alarms %+v", al)
	}
	feed(0.88, 0.5) // between thresholds: still firing
	feed(0.84, 0.5)
	h.want("firing:Full", "resolved:Full")
}

func TestEngineStaleNotResolved(t *testing.T) {
	h := newHarness(t, config.Rule{Name: "Hot", Expr: "temp > 30"})
	h.feed(smp("temp", 35))
	h.want("firing:Hot")
	// The data stops: after three intervals (30 s) the alarm is stale,
	// never resolved.
	for i := 0; i < 5; i++ {
		h.clock.Add(10 * time.Second)
		h.e.Tick()
	}
	h.want("firing:Hot", "stale:Hot")
	if a := h.e.Alarms()[0]; a.State != model.StateStale {
		t.Fatalf("state %s", a.State)
	}
	h.feed(smp("temp", 36)) // data back and still hot: firing, no new event
	h.want("firing:Hot", "stale:Hot")
	h.clock.Add(10 * time.Second)
	h.feed(smp("temp", 20))
	h.want("firing:Hot", "stale:Hot", "resolved:Hot")
}

func TestEngineRestoreDoesNotRenotify(t *testing.T) {
	h := newHarness(t, config.Rule{Name: "Hot", Expr: "temp > 30"})
	h.feed(smp("temp", 35))
	saved := h.e.Alarms()

	// A new engine (the restarted daemon) restores the alarm: the same
	// condition is no news, the end of it is.
	h2 := newHarness(t, config.Rule{Name: "Hot", Expr: "temp > 30"})
	h2.e.Restore(saved)
	h2.e.Tick() // before any data: grace, not stale
	h2.feed(smp("temp", 36))
	h2.want()
	h2.clock.Add(10 * time.Second)
	h2.feed(smp("temp", 25))
	h2.want("resolved:Hot")
	if s := h2.rec.events[0].Alarm.Seq; s != saved[0].Seq+1 {
		t.Errorf("seq %d after restore, want %d", s, saved[0].Seq+1)
	}
}

func TestEngineRateAndAbsent(t *testing.T) {
	h := newHarness(t,
		config.Rule{Name: "Brute", Expr: "increase(auth_failures_total, 1m) > 20"},
		config.Rule{Name: "Silent", Expr: "absent(heartbeat, 30s)"},
	)
	for i := 0; i < 7; i++ {
		h.feed(smp("auth_failures_total", float64(i*5)), smp("heartbeat", 1))
		h.clock.Add(10 * time.Second)
	}
	h.want("firing:Brute")
	for i := 0; i < 4; i++ {
		h.feed(smp("auth_failures_total", 30))
		h.clock.Add(10 * time.Second)
	}
	// The burst is over (no increase in the last minute) and the heartbeat
	// has been missing for 40 s.
	h.want("firing:Brute", "resolved:Brute", "firing:Silent")
}

func TestEngineTargetUnreachableBuiltin(t *testing.T) {
	h := newHarness(t)
	for i := 1; i <= 3; i++ {
		h.feed(smp("vedetta_target_consecutive_failures", float64(i)))
		h.clock.Add(10 * time.Second)
	}
	h.want("firing:TargetUnreachable")
	if a := h.e.Alarms()[0]; a.Severity != "critical" || a.Summary != "h has failed 3 collections in a row" {
		t.Fatalf("%+v", a)
	}
	// The cause of the failures is in the message (first line only, bounded:
	// a panic's stack is for the log), and follows the latest failure.
	for i, tc := range []struct{ err, want string }{
		{"snmp 127.0.0.1:161: request timeout (after 2 retries)", "h has failed 4 collections in a row: snmp 127.0.0.1:161: request timeout (after 2 retries)"},
		{"collector panicked: boom\ngoroutine 1 [running]", "h has failed 5 collections in a row: collector panicked: boom"},
		{strings.Repeat("x", 300), "h has failed 6 collections in a row: " + strings.Repeat("x", 200) + "…"},
	} {
		h.e.Ingest(model.Batch{Target: "h", Err: errors.New(tc.err), Samples: []model.Sample{{
			Name: "vedetta_target_consecutive_failures", Time: h.clock.Now(), Value: float64(4 + i),
			Labels: model.L("target", "h", "class", "host"),
		}}})
		h.clock.Add(10 * time.Second)
		if got := h.e.Alarms()[0].Summary; got != tc.want {
			t.Errorf("summary %q, want %q", got, tc.want)
		}
	}
}

func TestEngineRuleRemovedResolves(t *testing.T) {
	h := newHarness(t, config.Rule{Name: "Hot", Expr: "temp > 30"})
	h.feed(smp("temp", 35))
	h.e.SetRules(rules(t), map[string]time.Duration{"h": 10 * time.Second})
	h.want("firing:Hot", "resolved:Hot")
}

// A failing store delays changes; it does not lose them.
func TestEngineRetriesPersist(t *testing.T) {
	h := newHarness(t, config.Rule{Name: "Hot", Expr: "temp > 30"})
	fail := true
	var got []model.Change
	h.e.opts.OnChange = func(cs []model.Change) error {
		if fail {
			return errTest
		}
		got = append(got, cs...)
		return nil
	}
	h.feed(smp("temp", 35))
	fail = false
	h.e.Tick()
	if len(got) == 0 || got[0].Event != model.EventFiring {
		t.Fatalf("changes after the store came back: %+v", got)
	}
}

var errTest = errT("disk full")

type errT string

func (e errT) Error() string { return string(e) }

// A value that keeps crossing the threshold produces a few notices, one
// "flapping", silence while it flaps, and one "stopped flapping".
func TestEngineFlapping(t *testing.T) {
	h := newHarness(t, config.Rule{Name: "Flappy", Expr: "v > 10"})
	for i := 0; i < 30; i++ {
		h.feed(smp("v", float64(20*(i%2)))) // 0, 20, 0, 20...
		h.clock.Add(10 * time.Second)
	}
	ev := h.rec.kinds()
	flapAt := -1
	for i, k := range ev {
		if k == "flapping:Flappy" {
			flapAt = i
		}
	}
	if flapAt < 0 || flapAt != len(ev)-1 {
		t.Fatalf("events %v: want a flapping notice last", ev)
	}
	if flapAt > 8 {
		t.Fatalf("%d notices before flapping was detected: %v", flapAt, ev)
	}
	// Stable again: the percent change decays below 25 % and one notice says so.
	for i := 0; i < 25; i++ {
		h.feed(smp("v", 20))
		h.clock.Add(10 * time.Second)
	}
	ev = h.rec.kinds()
	if last := ev[len(ev)-1]; last != "flap_end:Flappy" || len(ev) != flapAt+2 {
		t.Fatalf("events after stabilising: %v", ev)
	}
	if a := h.e.Alarms()[0]; a.State != model.StateFiring || a.Flapping {
		t.Fatalf("alarm after flapping: %+v", a)
	}
}

// Joins pair series that agree on the labels they share, however many
// there are, and not the others.
func TestEngineJoin(t *testing.T) {
	h := newHarness(t, config.Rule{Name: "LinkDown", Expr: "admin_up == 1 && oper_up == 0", Summary: "{{ .Labels.ifname }}"})
	var batch []model.Sample
	for i := 0; i < 48; i++ {
		name := fmt.Sprintf("ge-%d", i)
		oper := 1.0
		if i == 7 || i == 30 {
			oper = 0
		}
		admin := 1.0
		if i == 30 {
			admin = 0 // shut down on purpose: no alarm
		}
		batch = append(batch, smp("admin_up", admin, "ifname", name), smp("oper_up", oper, "ifname", name))
	}
	// A series with an extra label still joins on what it shares.
	batch = append(batch, smp("admin_up", 1, "ifname", "ge-99", "vlan", "10"), smp("oper_up", 0, "ifname", "ge-99"))
	h.feed(batch...)
	var got []string
	for _, a := range h.e.Alarms() {
		got = append(got, a.Summary)
	}
	sort.Strings(got)
	if strings.Join(got, ",") != "ge-7,ge-99" {
		t.Fatalf("alarms %v, want ge-7 and ge-99", got)
	}
}

// A rule that fails at run time (integer division by zero, comparing a
// string with a number) is counted every time and logged at warning
// level, at most once a minute per rule: a broken rule cannot fire, and
// that must not be a debug line nobody reads (issue 17).
func TestEngineCountsEvaluationFailures(t *testing.T) {
	var logs strings.Builder
	failures := map[string]int{}
	clock := testclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	e := New(Options{Site: "dc1", Rules: rules(t,
		config.Rule{Name: "DivByZero", Expr: "int(temp) % int(divisor) == 0"},
		config.Rule{Name: "TypeError", Expr: `temp > 10 && float(labels.room) > 3`},
		config.Rule{Name: "Fine", Expr: "temp > 100"},
	), Now: clock.Now, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		OnEvalFailure: func(rule string) { failures[rule]++ }})
	for i := 0; i < 3; i++ {
		e.Ingest(model.Batch{Target: "h", Samples: []model.Sample{
			{Name: "temp", Value: 42, Time: clock.Now(), Labels: model.L("target", "h", "room", "r1")},
			{Name: "divisor", Value: 0, Time: clock.Now(), Labels: model.L("target", "h", "room", "r1")},
		}})
		clock.Add(10 * time.Second)
	}
	if failures["DivByZero"] != 3 || failures["TypeError"] != 3 || failures["Fine"] != 0 {
		t.Fatalf("failures %v, want 3 for each broken rule", failures)
	}
	out := logs.String()
	if n := strings.Count(out, "rule=DivByZero"); n != 1 || !strings.Contains(out, "level=WARN") {
		t.Fatalf("want one warning per broken rule in a minute, got %d:\n%s", n, out)
	}
	clock.Add(time.Minute)
	e.Tick()
	e.Ingest(model.Batch{Target: "h", Samples: []model.Sample{
		{Name: "temp", Value: 42, Time: clock.Now(), Labels: model.L("target", "h", "room", "r1")},
		{Name: "divisor", Value: 0, Time: clock.Now(), Labels: model.L("target", "h", "room", "r1")},
	}})
	if n := strings.Count(logs.String(), "rule=DivByZero"); n != 2 {
		t.Fatalf("a minute later the rule is logged again: %d warnings", n)
	}
}

// TestEngineTargetMoves: a cluster member hands a target to another. The
// new owner adopts the alarms as they were (firing stays firing, pending
// keeps its `for:` start), gives the target the grace of a start, and the
// old owner forgets it without writing anything.
func TestEngineTargetMoves(t *testing.T) {
	hot := config.Rule{Name: "Hot", Expr: "temp > 30"}
	slow := config.Rule{Name: "Slow", Expr: "load > 5", For: 200 * time.Second}
	a := newHarness(t, hot, slow)
	t0 := a.clock.Now()
	a.feed(smp("temp", 35), smp("load", 9)) // Slow pending since t0
	a.want("firing:Hot")
	saved := a.e.Alarms()
	a.e.Release("h")
	if n := len(a.e.Alarms()); n != 0 {
		t.Fatalf("%d alarms left after Release", n)
	}
	for i := 0; i < 10; i++ { // long past staleness: nothing, it is not ours
		a.clock.Add(10 * time.Second)
		a.e.Tick()
	}
	a.want("firing:Hot")

	// b has run as long as a: no start grace left, only the adoption's.
	b := newHarness(t, hot, slow)
	b.clock.Add(a.clock.Now().Sub(t0))
	b.e.Adopt("h", saved)
	b.e.Adopt("other", saved) // alarms of another target are not taken
	if n := len(b.e.Alarms()); n != 2 {
		t.Fatalf("%d alarms adopted, want 2", n)
	}
	for i := 0; i < 2; i++ { // the first polls not back yet: grace, not stale
		b.clock.Add(10 * time.Second)
		b.e.Tick()
	}
	b.want()
	for b.clock.Now().Sub(t0) < 200*time.Second {
		b.feed(smp("temp", 36), smp("load", 9)) // same condition: no news
		b.want()
		b.clock.Add(10 * time.Second)
	}
	b.feed(smp("temp", 36), smp("load", 9)) // 200 s after a saw it pending
	b.want("firing:Slow")
	b.clock.Add(10 * time.Second)
	b.feed(smp("temp", 20), smp("load", 9))
	b.want("firing:Slow", "resolved:Hot")
	for _, c := range b.rec.events {
		if c.Alarm.Rule != "Hot" {
			continue
		}
		for _, s := range saved {
			if s.ID == c.Alarm.ID && c.Alarm.Seq != s.Seq+1 {
				t.Errorf("Hot seq %d after the move, want %d: the sequence goes on", c.Alarm.Seq, s.Seq+1)
			}
		}
	}
	// Past the grace, silence is an outage again: stale.
	for i := 0; i < 5; i++ {
		b.clock.Add(10 * time.Second)
		b.e.Tick()
	}
	b.want("firing:Slow", "resolved:Hot", "stale:Slow")
}

// A value: expression may read metrics the condition does not: they are
// joined on the labels they share (the BGP peer's state next to its
// established flag), optionally (a missing one leaves the value at 1,
// never silences the rule), and add no label to the alarm.
func TestEngineValueReadsItsOwnMetrics(t *testing.T) {
	h := newHarness(t, config.Rule{Name: "BGPDown", Expr: "bgp_peer_established == 0 && bgp_peer_admin_enabled == 1", Value: "bgp_peer_state",
		Summary: "{{ .Labels.peer }} state {{ .Value }}"})
	h.feed(smp("bgp_peer_established", 0, "peer", "a"), smp("bgp_peer_admin_enabled", 1, "peer", "a"), smp("bgp_peer_state", 3, "peer", "a", "remote_as", "7714"),
		smp("bgp_peer_established", 0, "peer", "b"), smp("bgp_peer_admin_enabled", 1, "peer", "b"), smp("bgp_peer_state", 1, "peer", "b"),
		smp("bgp_peer_established", 0, "peer", "c"), smp("bgp_peer_admin_enabled", 1, "peer", "c")) // c: no state at all
	got := map[string]string{}
	for _, a := range h.e.Alarms() {
		got[a.Labels["peer"]] = a.Summary
		if _, ok := a.Labels["remote_as"]; ok {
			t.Errorf("the value's series added a label: %v", a.Labels)
		}
	}
	want := map[string]string{"a": "a state 3", "b": "b state 1", "c": "c state 1"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("summaries %v, want %v", got, want)
	}
}
