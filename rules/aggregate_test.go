package rules

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/testclock"
	"github.com/vedetta-dc/vedetta/model"
)

// aggHarness feeds several targets (10 s interval each) on a fake clock.
type aggHarness struct {
	t     *testing.T
	clock *testclock.Clock
	rec   *recorder
	e     *Engine
	// labels of each target (class and target are added).
	labels map[string][]string
}

func newAggHarness(t *testing.T, labels map[string][]string, rs ...*Rule) *aggHarness {
	h := &aggHarness{t: t, clock: testclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)), rec: &recorder{}, labels: labels}
	iv := map[string]time.Duration{}
	for tg := range labels {
		iv[tg] = 10 * time.Second
	}
	h.e = New(Options{Site: "dc1", Rules: rs, Intervals: iv, OnChange: h.rec.onChange, Now: h.clock.Now, Logger: discard()})
	// Past the start's warm-up (the stale window, 30 s) unless the
	// case is about it.
	h.clock.Add(31 * time.Second)
	return h
}

// round: each target in vals sends its samples ("metric": value, or
// "metric{label=v}"), then the clock moves 10 s on and the engine ticks.
func (h *aggHarness) round(vals map[string]map[string]float64) {
	now := h.clock.Now()
	for _, tg := range slices.Sorted(maps.Keys(vals)) {
		var ss []model.Sample
		for name, v := range vals[tg] {
			ls := model.L(h.labels[tg]...).With("target", tg).With("class", "ups")
			if i := strings.IndexByte(name, '{'); i > 0 {
				for _, kv := range strings.Split(strings.TrimSuffix(name[i+1:], "}"), ",") {
					k, val, _ := strings.Cut(kv, "=")
					ls = ls.With(k, val)
				}
				name = name[:i]
			}
			ss = append(ss, model.Sample{Name: name, Value: v, Labels: ls, Time: now})
		}
		h.e.Ingest(model.Batch{Target: tg, Samples: ss})
	}
	h.e.Tick()
	h.clock.Add(10 * time.Second)
	h.e.Tick()
}

func aggRule(t *testing.T, cr config.Rule) *Rule {
	t.Helper()
	if cr.Severity == "" {
		cr.Severity = "warning"
	}
	r, err := Compile(cr)
	if err != nil {
		t.Fatalf("compile %s: %v", cr.Expr, err)
	}
	if !r.IsAggregate() {
		t.Fatalf("%s: not an aggregation rule", cr.Expr)
	}
	return r
}

type ups map[string]float64

func ob(v float64) ups { return ups{"ups_on_battery": v, "ups_alarms_active": 0} }

func TestAggregationRules(t *testing.T) {
	three := map[string][]string{"ups-a": {"group", "main"}, "ups-b": {"group", "main"}, "ups-c": {"group", "main"}, "ups-x": {"group", "other"}}
	racks := map[string][]string{"pdu-1a": {"rack", "R1"}, "pdu-1b": {"rack", "R1"}, "pdu-2a": {"rack", "R2"}, "pdu-2b": {"rack", "R2"}}
	healthyUPS := `ups_on_battery == 0 && ups_alarms_active == 0 && labels.group == "main"`
	cases := []struct {
		name    string
		labels  map[string][]string
		rule    config.Rule
		expect  []Member
		rounds  []map[string]map[string]float64
		events  []string // "event:Rule{group labels}" in order
		summary string   // of the one alarm, last state
		value   float64
	}{{
		name:   "count_by: one of three on battery; another group's UPS is no member",
		labels: three,
		rule: config.Rule{Name: "Lost", Expr: "count_by(" + healthyUPS + ") < members_by(" + healthyUPS + ")",
			Summary: "{{ len .Members.healthy }} of {{ len .Members.all }} healthy; failing: {{ .Members.failing }}; healthy: {{ .Members.healthy }}"},
		rounds: []map[string]map[string]float64{
			{"ups-a": ob(0), "ups-b": ob(0), "ups-c": ob(0), "ups-x": ob(1)},
			{"ups-a": ob(0), "ups-b": ob(1), "ups-c": ob(0), "ups-x": ob(1)},
		},
		events:  []string{"firing:Lost{}"},
		summary: "2 of 3 healthy; failing: ups-b (ups_on_battery = 1); healthy: ups-a, ups-c",
		value:   2,
	}, {
		name:   "the reason names only the broken condition",
		labels: three,
		rule:   config.Rule{Name: "Lost", Expr: "count_by(" + healthyUPS + ") < 3", Summary: "{{ .Members.failing }}"},
		rounds: []map[string]map[string]float64{
			{"ups-a": ob(0), "ups-b": ob(0), "ups-c": {"ups_on_battery": 0, "ups_alarms_active": 2}},
		},
		events:  []string{"firing:Lost{}"},
		summary: "ups-c (ups_alarms_active = 2)",
		value:   2,
	}, {
		name:   "recovery resolves",
		labels: three,
		rule:   config.Rule{Name: "Lost", Expr: "count_by(" + healthyUPS + ") < 2"},
		rounds: []map[string]map[string]float64{
			{"ups-a": ob(1), "ups-b": ob(1), "ups-c": ob(0)},
			{"ups-a": ob(0), "ups-b": ob(1), "ups-c": ob(0)},
		},
		events: []string{"firing:Lost{}", "resolved:Lost{}"},
		value:  2,
	}, {
		name:   "grouped by rack: one alarm, naming the rack and the PDU",
		labels: racks,
		rule: config.Rule{Name: "Feed", Expr: `count_by(pdu_power_watts > 0, "rack") < 2`,
			Summary: "rack {{ .Labels.rack }}: {{ .Members.failing }} unfed, {{ .Members.healthy }} carries it"},
		rounds: []map[string]map[string]float64{
			{"pdu-1a": {"pdu_power_watts": 900}, "pdu-1b": {"pdu_power_watts": 0}, "pdu-2a": {"pdu_power_watts": 800}, "pdu-2b": {"pdu_power_watts": 750}},
		},
		events:  []string{"firing:Feed{rack=R1}"},
		summary: "rack R1: pdu-1b (pdu_power_watts = 0) unfed, pdu-1a carries it",
		value:   1,
	}, {
		name:   "sum_by per rack",
		labels: racks,
		rule:   config.Rule{Name: "RackPower", Expr: `sum_by(pdu_power_watts, "rack") > 1600`},
		rounds: []map[string]map[string]float64{
			{"pdu-1a": {"pdu_power_watts": 900}, "pdu-1b": {"pdu_power_watts": 800}, "pdu-2a": {"pdu_power_watts": 700}, "pdu-2b": {"pdu_power_watts": 750}},
		},
		events: []string{"firing:RackPower{rack=R1}"},
		value:  1700,
	}, {
		name:   "min_by over all",
		labels: racks,
		rule:   config.Rule{Name: "Low", Expr: `min_by(pdu_power_watts) < 100`},
		rounds: []map[string]map[string]float64{
			{"pdu-1a": {"pdu_power_watts": 900}, "pdu-1b": {"pdu_power_watts": 50}, "pdu-2a": {"pdu_power_watts": 700}, "pdu-2b": {"pdu_power_watts": 750}},
		},
		events: []string{"firing:Low{}"},
		value:  50,
	}, {
		name:   "max_by per rack",
		labels: racks,
		rule:   config.Rule{Name: "High", Expr: `max_by(pdu_power_watts, "rack") >= 900`},
		rounds: []map[string]map[string]float64{
			{"pdu-1a": {"pdu_power_watts": 900}, "pdu-1b": {"pdu_power_watts": 50}, "pdu-2a": {"pdu_power_watts": 700}, "pdu-2b": {"pdu_power_watts": 750}},
		},
		events: []string{"firing:High{rack=R1}"},
		value:  900,
	}, {
		name:   "avg_by per rack",
		labels: racks,
		rule:   config.Rule{Name: "Avg", Expr: `avg_by(pdu_power_watts, "rack") > 700`},
		rounds: []map[string]map[string]float64{
			{"pdu-1a": {"pdu_power_watts": 900}, "pdu-1b": {"pdu_power_watts": 400}, "pdu-2a": {"pdu_power_watts": 700}, "pdu-2b": {"pdu_power_watts": 750}},
		},
		events: []string{"firing:Avg{rack=R2}"},
		value:  725,
	}, {
		name:   "several members of one target are told apart by their labels",
		labels: map[string][]string{"srv1": nil, "srv2": nil},
		rule:   config.Rule{Name: "PSU", Expr: `count_by(server_psu_ok == 1, "target") < 2`, Summary: "{{ .Labels.group_target }}: {{ .Members.failing }}"},
		rounds: []map[string]map[string]float64{
			{"srv1": {"server_psu_ok{psu=1}": 1, "server_psu_ok{psu=2}": 0}, "srv2": {"server_psu_ok{psu=1}": 1, "server_psu_ok{psu=2}": 1}},
		},
		events:  []string{"firing:PSU{group_target=srv1}"},
		summary: "srv1: srv1 psu=2 (server_psu_ok = 0)",
		value:   1,
	}, {
		name:   "label tests with matches and in choose the members among a target's series",
		labels: map[string][]string{"core-1": nil, "border-1": nil},
		rule: config.Rule{Name: "Up",
			Expr:    `count_by(if_oper_up == 1 && labels.ifalias matches "^uplink") + count_by(bgp_peer_established == 1 && labels.remote_as in ["64500", "64510"]) < 4`,
			Summary: "{{ .Members.all }} | {{ .Members.failing }}"},
		rounds: []map[string]map[string]float64{
			{"core-1": {"if_oper_up{ifalias=uplink a}": 1, "if_oper_up{ifalias=uplink b}": 0, "if_oper_up{ifalias=server}": 0},
				"border-1": {"bgp_peer_established{remote_as=64500}": 1, "bgp_peer_established{remote_as=64510}": 1, "bgp_peer_established{remote_as=65000}": 0}},
		},
		events: []string{"firing:Up{}"},
		// .Members are the first aggregation's: the server port is none.
		summary: "core-1 ifalias=uplink a, core-1 ifalias=uplink b | core-1 ifalias=uplink b (if_oper_up = 0)",
		value:   3, // the left side: 1 uplink + 2 upstreams
	}, {
		name:   "a stale member is unknown, never healthy, and the rule says so",
		labels: three,
		rule: config.Rule{Name: "Lost", Expr: "count_by(" + healthyUPS + ") < 3",
			Summary: "{{ len .Members.healthy }} healthy, {{ len .Members.unknown }} unknown: {{ .Members.unknown }}"},
		rounds: []map[string]map[string]float64{
			{"ups-a": ob(0), "ups-b": ob(0), "ups-c": ob(0)},
			{"ups-a": ob(0), "ups-b": ob(0)},
			{"ups-a": ob(0), "ups-b": ob(0)},
			{"ups-a": ob(0), "ups-b": ob(0)}, // ups-c's last sample is 40 s old: past 3 intervals
		},
		events:  []string{"firing:Lost{}"},
		summary: "2 healthy, 1 unknown: ups-c (no data for 40s)",
		value:   2,
	}, {
		name:   "unknown_by counts the stale members; a stale member is in no number",
		labels: racks,
		rule:   config.Rule{Name: "Blind", Expr: `unknown_by(pdu_power_watts > 0, "rack") >= 1`, Value: `sum_by(pdu_power_watts, "rack")`},
		rounds: []map[string]map[string]float64{
			{"pdu-1a": {"pdu_power_watts": 900}, "pdu-1b": {"pdu_power_watts": 800}, "pdu-2a": {"pdu_power_watts": 700}, "pdu-2b": {"pdu_power_watts": 750}},
			{"pdu-1a": {"pdu_power_watts": 900}, "pdu-2a": {"pdu_power_watts": 700}, "pdu-2b": {"pdu_power_watts": 750}},
			{"pdu-1a": {"pdu_power_watts": 900}, "pdu-2a": {"pdu_power_watts": 700}, "pdu-2b": {"pdu_power_watts": 750}},
			{"pdu-1a": {"pdu_power_watts": 900}, "pdu-2a": {"pdu_power_watts": 700}, "pdu-2b": {"pdu_power_watts": 750}},
		},
		events: []string{"firing:Blind{rack=R1}"},
		value:  900,
	}, {
		name:   "an expected member that never sent anything is unknown once its first polls are due",
		labels: three,
		rule: config.Rule{Name: "Lost", Expr: "count_by(" + healthyUPS + ") < members_by(" + healthyUPS + ")",
			Summary: "{{ .Members.unknown }}"},
		expect: []Member{{Target: "ups-a", Labels: map[string]string{"group": "main"}}, {Target: "ups-b", Labels: map[string]string{"group": "main"}},
			{Target: "ups-c", Labels: map[string]string{"group": "main"}}},
		rounds: []map[string]map[string]float64{
			{"ups-a": ob(0), "ups-b": ob(0)}, // past the start's stale window: ups-c should have answered
		},
		events:  []string{"firing:Lost{}"},
		summary: "ups-c (no data)",
		value:   2,
	}, {
		name:   "for: a short dip does not fire",
		labels: three,
		rule:   config.Rule{Name: "Lost", Expr: "count_by(" + healthyUPS + ") < 3", For: 30 * time.Second},
		rounds: []map[string]map[string]float64{
			{"ups-a": ob(0), "ups-b": ob(1), "ups-c": ob(0)},
			{"ups-a": ob(0), "ups-b": ob(0), "ups-c": ob(0)},
			{"ups-a": ob(0), "ups-b": ob(0), "ups-c": ob(0)},
			{"ups-a": ob(0), "ups-b": ob(0), "ups-c": ob(0)},
		},
		events: nil,
	}, {
		name:   "clear: it resolves only when the clear condition holds too",
		labels: racks,
		rule:   config.Rule{Name: "Hot", Expr: `max_by(pdu_power_watts) > 1000`, Clear: `max_by(pdu_power_watts) < 800`},
		rounds: []map[string]map[string]float64{
			{"pdu-1a": {"pdu_power_watts": 1100}},
			{"pdu-1a": {"pdu_power_watts": 900}}, // between: still firing
			{"pdu-1a": {"pdu_power_watts": 700}},
		},
		events: []string{"firing:Hot{}", "resolved:Hot{}"},
		value:  700,
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := aggRule(t, c.rule)
			r.Expect(c.expect)
			h := newAggHarness(t, c.labels, r)
			for _, rd := range c.rounds {
				h.round(rd)
			}
			var got []string
			for _, ch := range h.rec.events {
				ls := maps.Clone(ch.Alarm.Labels)
				if ls["target"] != AggregateTarget {
					t.Errorf("alarm target %q, want %q", ls["target"], AggregateTarget)
				}
				delete(ls, "target")
				got = append(got, string(ch.Event)+":"+ch.Alarm.Rule+"{"+labelsText(ls)+"}")
			}
			if !slices.Equal(got, c.events) {
				t.Fatalf("events %v, want %v", got, c.events)
			}
			as := h.e.Alarms()
			if len(c.events) == 0 {
				for _, a := range as {
					if a.State == model.StateFiring {
						t.Fatalf("firing: %+v", a)
					}
				}
				return
			}
			if len(as) != 1 {
				t.Fatalf("%d alarms, want 1: %+v", len(as), as)
			}
			if c.summary != "" && as[0].Summary != c.summary {
				t.Errorf("summary %q\n   want %q", as[0].Summary, c.summary)
			}
			if as[0].Value != c.value {
				t.Errorf("value %v, want %v", as[0].Value, c.value)
			}
		})
	}
}

// `for:` on an aggregation: pending through the window, firing after it.
func TestAggregationFor(t *testing.T) {
	r := aggRule(t, config.Rule{Name: "Lost", Expr: `count_by(ups_on_battery == 0) < 3`, For: 20 * time.Second})
	h := newAggHarness(t, map[string][]string{"ups-a": nil, "ups-b": nil, "ups-c": nil}, r)
	all := func(b float64) map[string]map[string]float64 {
		return map[string]map[string]float64{"ups-a": {"ups_on_battery": 0}, "ups-b": {"ups_on_battery": b}, "ups-c": {"ups_on_battery": 0}}
	}
	h.round(all(1)) // active at 0 s
	if got := h.e.Alarms(); len(got) != 1 || got[0].State != model.StatePending {
		t.Fatalf("after 10 s: %+v", got)
	}
	h.round(all(1)) // 20 s: fires at the tick
	if got := h.rec.kinds(); !slices.Equal(got, []string{"firing:Lost"}) {
		t.Fatalf("events %v", got)
	}
}

// Cluster mode: nothing is evaluated until the input is given, and then
// only the input (not this engine's own series) is read.
func TestAggregationExternalInput(t *testing.T) {
	r := aggRule(t, config.Rule{Name: "Lost", Expr: `count_by(ups_on_battery == 0) < 2`, Summary: "{{ .Members.failing }}"})
	clock := testclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	rec := &recorder{}
	e := New(Options{Rules: []*Rule{r}, Now: clock.Now, OnChange: rec.onChange, ExternalAggregates: true, Logger: discard(),
		Intervals: map[string]time.Duration{"ups-a": 10 * time.Second, "ups-b": 10 * time.Second}})
	s := func(tg string, v float64) model.Sample {
		return model.Sample{Name: "ups_on_battery", Value: v, Labels: model.L("target", tg, "class", "ups"), Time: clock.Now()}
	}
	clock.Add(31 * time.Second) // past the warm-up
	e.Ingest(model.Batch{Target: "ups-a", Samples: []model.Sample{s("ups-a", 1)}})
	e.Tick()
	if len(rec.events) != 0 {
		t.Fatalf("evaluated with no input: %v", rec.kinds())
	}
	// Published: ups-a on battery (polled by another member), ups-b fine.
	e.SetAggregateInput([]model.Sample{s("ups-a", 1), s("ups-b", 0)})
	e.Tick()
	if got := rec.kinds(); !slices.Equal(got, []string{"firing:Lost"}) {
		t.Fatalf("events %v", got)
	}
	if a := e.Alarms()[0]; a.Summary != "ups-a (ups_on_battery = 1)" {
		t.Errorf("summary %q", a.Summary)
	}
	// Office lost: no more evaluation, the alarm is released, not resolved.
	e.SetAggregateInput(nil)
	e.Release(AggregateTarget)
	clock.Add(time.Hour)
	e.Tick()
	if got := rec.kinds(); len(got) != 1 || len(e.Alarms()) != 0 {
		t.Fatalf("events %v, alarms %+v", got, e.Alarms())
	}
}

func TestAggregationCompileErrors(t *testing.T) {
	cases := []struct{ expr, want string }{
		{`count_by(a == 1, "rack") < sum_by(b, "room")`, "every aggregation of a rule groups by the same labels"},
		{`count_by(count_by(a == 1) > 1) < 2`, "aggregations do not nest"},
		{`count_by(delta(a, 5m) > 1) < 2`, "window functions"},
		{`count_by(a == 1) < b`, "wrap it in an aggregation"},
		{`count_by(labels.rack == "R1") < 2`, "needs a metric"},
		{`count_by(a == 1, rack) < 2`, "the labels to group by are strings"},
		{`count_by() < 2`, "takes an expression"},
	}
	for _, c := range cases {
		_, err := Compile(config.Rule{Name: "X", Expr: c.expr, Severity: "warning"})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.expr, err, c.want)
		}
	}
}

// One Tick with two aggregation rules (a redundancy group's pair) over
// 1000 PDUs in 500 racks: the cost the dispatcher pays every second.
func BenchmarkAggregateTick(b *testing.B) {
	h := `(pdu_power_watts > 0) && labels.class == "pdu", "rack"`
	var rs []*Rule
	for _, cr := range []config.Rule{
		{Name: "RedundancyLost", Expr: "count_by(" + h + ") < members_by(" + h + ")", Summary: "{{ .Members.failing }}"},
		{Name: "CapacityLost", Expr: "count_by(" + h + ") < 1", Summary: "{{ .Members.failing }}"},
	} {
		cr.Severity = "warning"
		r, err := Compile(cr)
		if err != nil {
			b.Fatal(err)
		}
		rs = append(rs, r)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	iv := map[string]time.Duration{}
	e := New(Options{Rules: rs, Intervals: iv, Now: func() time.Time { return now }, Logger: discard()})
	now = now.Add(91 * time.Second) // past the warm-up (three 30 s intervals)
	for i := range 1000 {
		tg := fmt.Sprintf("pdu-%04d", i)
		iv[tg] = 30 * time.Second
		v := 500.0
		if i%100 == 0 {
			v = 0 // ten racks on one feed
		}
		e.Ingest(model.Batch{Target: tg, Samples: []model.Sample{{Name: "pdu_power_watts", Value: v, Time: now,
			Labels: model.L("target", tg, "class", "pdu", "rack", fmt.Sprintf("R%03d", i/2), "pdu", "1")}}})
	}
	e.Tick()
	if n := len(e.Alarms()); n != 10 {
		b.Fatalf("%d alarms, want 10", n)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		e.Tick()
	}
}

// A reload that drops one of two groups sharing a rule name resolves that
// group's alarm (said so) and leaves the other as it was.
func TestAggregationGroupRemovedOnReload(t *testing.T) {
	mk := func(group string) *Rule {
		return aggRule(t, config.Rule{Name: "RedundancyLost", Labels: map[string]string{GroupLabel: group},
			Expr: `count_by(ups_on_battery == 0 && labels.group == "` + group + `") < 2`})
	}
	labels := map[string][]string{"a1": {"group", "a"}, "a2": {"group", "a"}, "b1": {"group", "b"}, "b2": {"group", "b"}}
	h := newAggHarness(t, labels, mk("a"), mk("b"))
	on := map[string]map[string]float64{"a1": {"ups_on_battery": 1}, "a2": {"ups_on_battery": 0}, "b1": {"ups_on_battery": 1}, "b2": {"ups_on_battery": 0}}
	h.round(on)
	if got := h.rec.kinds(); !slices.Equal(got, []string{"firing:RedundancyLost", "firing:RedundancyLost"}) {
		t.Fatalf("events %v", got)
	}
	iv := map[string]time.Duration{}
	for tg := range labels {
		iv[tg] = 10 * time.Second
	}
	h.e.SetRules([]*Rule{mk("a")}, iv)
	h.round(on)
	var resolved []string
	for _, c := range h.rec.events {
		if c.Event == model.EventResolved {
			resolved = append(resolved, c.Alarm.Labels[GroupLabel]+": "+c.Alarm.Summary)
		}
	}
	if len(resolved) != 1 || !strings.HasPrefix(resolved[0], "b: ") || !strings.HasSuffix(resolved[0], "(rule removed from the configuration)") {
		t.Fatalf("resolved %q, want group b's, said removed", resolved)
	}
	for _, a := range h.e.Alarms() {
		if a.Labels[GroupLabel] == "a" && a.State != model.StateFiring {
			t.Errorf("group a: %s", a.State)
		}
	}
}

// Right after a start, a rule that learns its members from the samples
// gives no verdict until the stale window has passed: the first UPS
// polled is not "the only one left".
func TestAggregationWarmUp(t *testing.T) {
	r := aggRule(t, config.Rule{Name: "Lost", Expr: `count_by(ups_on_battery == 0) < 2`})
	clock := testclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	rec := &recorder{}
	e := New(Options{Rules: []*Rule{r}, Now: clock.Now, OnChange: rec.onChange, Logger: discard(),
		Intervals: map[string]time.Duration{"ups-a": 10 * time.Second, "ups-b": 10 * time.Second}})
	feed := func(tg string) {
		e.Ingest(model.Batch{Target: tg, Samples: []model.Sample{{Name: "ups_on_battery", Value: 0, Time: clock.Now(),
			Labels: model.L("target", tg, "class", "ups")}}})
	}
	feed("ups-a")
	e.Tick() // ups-b not polled yet: one healthy of one known
	clock.Add(25 * time.Second)
	feed("ups-a")
	e.Tick() // ups-b slow to answer, still within its stale window
	clock.Add(5 * time.Second)
	feed("ups-b")
	e.Tick()
	clock.Add(10 * time.Second)
	feed("ups-a")
	feed("ups-b")
	e.Tick()
	if got := rec.kinds(); len(got) != 0 {
		t.Fatalf("events %v during and after the warm-up, want none", got)
	}
}

// A restart: the restored aggregation alarm goes on firing as the members
// come back one by one (no RESOLVED, no second FIRING), and resolves once
// when the condition is over. Both kinds: a rule that expects its members
// by name (a redundancy group) and one that learns them from the samples.
func TestAggregationRestart(t *testing.T) {
	for _, expect := range []bool{false, true} {
		t.Run(fmt.Sprintf("expected members %v", expect), func(t *testing.T) {
			mk := func() *Rule {
				r := aggRule(t, config.Rule{Name: "Lost", Expr: `count_by(ups_on_battery == 0) < members_by(ups_on_battery == 0)`})
				if expect {
					var ms []Member
					for _, tg := range []string{"ups-a", "ups-b", "ups-c"} {
						ms = append(ms, Member{Target: tg, Labels: map[string]string{"target": tg, "class": "ups"}})
					}
					r.Expect(ms)
				}
				return r
			}
			labels := map[string][]string{"ups-a": nil, "ups-b": nil, "ups-c": nil}
			h := newAggHarness(t, labels, mk())
			h.round(map[string]map[string]float64{"ups-a": {"ups_on_battery": 0}, "ups-b": {"ups_on_battery": 1}, "ups-c": {"ups_on_battery": 0}})
			saved := h.e.Alarms()
			if len(saved) != 1 || saved[0].State != model.StateFiring {
				t.Fatalf("before the restart: %+v", saved)
			}
			// The new process: its clock goes on, its series are empty.
			h2 := newAggHarness(t, labels, mk())
			h2.clock = h.clock
			h2.e = New(Options{Rules: []*Rule{mk()}, Intervals: h.e.opts.Intervals, OnChange: h2.rec.onChange, Now: h.clock.Now, Logger: discard()})
			h2.e.Restore(saved)
			h2.round(map[string]map[string]float64{"ups-a": {"ups_on_battery": 0}}) // the first one polled
			h2.round(map[string]map[string]float64{"ups-a": {"ups_on_battery": 0}, "ups-c": {"ups_on_battery": 0}})
			h2.round(map[string]map[string]float64{"ups-a": {"ups_on_battery": 0}, "ups-b": {"ups_on_battery": 1}, "ups-c": {"ups_on_battery": 0}})
			if got := h2.rec.kinds(); len(got) != 0 {
				t.Fatalf("events after the restart %v, want none", got)
			}
			if a := h2.e.Alarms(); len(a) != 1 || a[0].State != model.StateFiring {
				t.Fatalf("after the restart: %+v", a)
			}
			h2.round(map[string]map[string]float64{"ups-a": {"ups_on_battery": 0}, "ups-b": {"ups_on_battery": 0}, "ups-c": {"ups_on_battery": 0}})
			if got := h2.rec.kinds(); !slices.Equal(got, []string{"resolved:Lost"}) {
				t.Fatalf("events %v, want one resolved", got)
			}
		})
	}
}
