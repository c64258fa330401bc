package rules

import (
	"fmt"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/model"
)

// Ingesting a poll of series that exist, with new values, allocates
// nothing (issue 13's steady state), evaluated by single-metric rules
// (states, thresholds, windows, a label test) or by the shipped rules for
// SNMP devices, whose port rule joins two metrics.
func TestIngestSteadyStateAllocatesNothing(t *testing.T) {
	for _, c := range []struct {
		name  string
		rules []config.Rule
	}{
		{"single-metric rules", switchRules},
		{"configs/rules.d/snmp.yaml", shippedRules(t, "snmp.yaml")},
	} {
		t.Run(c.name, func(t *testing.T) {
			ib := newIngestBench(t, c.rules)
			if got := testing.AllocsPerRun(50, ib.step); got != 0 {
				t.Fatalf("Ingest of a 445-sample poll: %v allocations, want 0", got)
			}
		})
	}
}

// The shipped port rule, a join, still fires on the steady state's
// engine: a described port administratively up and operationally down.
func TestJoinFiresAfterSteadyState(t *testing.T) {
	ib := newIngestBench(t, shippedRules(t, "snmp.yaml"))
	var got []model.Change
	ib.e.opts.OnChange = func(ch []model.Change) error { got = append(got, ch...); return nil }
	for i := range ib.batches {
		for j, s := range ib.batches[i].Samples {
			if s.Name == "if_oper_up" && s.Labels.Get("ifname") == "Ethernet1/2" {
				ib.batches[i].Samples[j].Value = 0
			}
		}
	}
	for range 8 { // for: 1m
		ib.step()
	}
	if len(got) != 2 || got[1].Event != model.EventFiring || got[1].Alarm.Rule != "SwitchPortDown" ||
		got[1].Alarm.Labels["ifname"] != "Ethernet1/2" || got[1].Alarm.Labels["ifalias"] != "uplink" {
		t.Fatalf("changes %+v, want SwitchPortDown pending then firing on Ethernet1/2", got)
	}
}

// The nine metrics of a port share one interned label set (one label
// slice), however many slices the polls brought; a series dropped by the
// TTL releases its set, and the last one removes it.
func TestLabelSetsAreInterned(t *testing.T) {
	ib := newIngestBench(t, switchRules)
	ts := ib.e.targets["sw1"]
	if ts.count() != 445 {
		t.Fatalf("%d series, want 445", ts.count())
	}
	sets := map[*labelSet]int{}
	for s := range ts.all() {
		if s.labelSet == nil || s.labelSet.seriesOf(s.name) != s {
			t.Fatalf("series %s%v is not in its set's list", s.name, s.labels)
		}
		sets[s.labelSet]++
	}
	for name, list := range ts.byName {
		if cap(list) > len(list)+len(list)/8+1 {
			t.Errorf("%s: %d series in a list of capacity %d", name, len(list), cap(list))
		}
	}
	// 48 ports, 4 PSUs, 6 fans, 3 sensors.
	if len(sets) != 48+4+6+3 {
		t.Fatalf("%d label sets, want %d", len(sets), 48+4+6+3)
	}
	n := 0
	for _, set := range ts.sets.sets {
		for ; set != nil; set = set.next {
			n++
			if len(set.series) != sets[set] {
				t.Errorf("set %v lists %d series, has %d", set.labels, len(set.series), sets[set])
			}
		}
	}
	if n != len(sets) {
		t.Fatalf("the interner holds %d sets, the series use %d", n, len(sets))
	}
	port1 := ts.lookup("if_oper_up", model.Merge(model.L("target", "sw1", "class", "switch"),
		model.L("ifindex", "1", "ifname", "Ethernet1/1", "ifalias", "uplink")))
	if port1 == nil || sets[port1.labelSet] != len(switchPortMetrics) {
		t.Fatalf("port 1's if_oper_up: %+v", port1)
	}
	if ts.lookup("if_oper_up", model.L("target", "sw1", "class", "switch", "ifindex", "1")) != nil {
		t.Fatal("a subset of the labels finds a series")
	}

	// A day later only the temperatures come back: everything else goes.
	ib.now = ib.now.Add(seriesTTL + time.Minute)
	var temps []model.Sample
	for _, s := range ib.batches[0].Samples {
		if s.Name == "sensor_temperature_celsius" {
			s.Time = ib.now
			temps = append(temps, s)
		}
	}
	ib.e.Ingest(model.Batch{Target: "sw1", Samples: temps})
	if ts.count() != 3 || len(ts.sets.sets) != 3 || len(ts.byName) != 1 || len(ts.names) != 1 {
		t.Fatalf("after the TTL: %d series, %d label sets, %d names, want 3, 3 and 1", ts.count(), len(ts.sets.sets), len(ts.byName))
	}
	for s := range ts.all() {
		if len(s.labelSet.series) != 1 || s.labelSet.series[0] != s {
			t.Fatalf("after the TTL, %v's set lists %d series", s.labels, len(s.labelSet.series))
		}
	}
}

// Two label sets with the same hash stay apart, and releasing one keeps
// the other.
func TestInternerCollision(t *testing.T) {
	in := newInterner()
	a, b := model.L("ifname", "a"), model.L("ifname", "b")
	sa, sb := in.intern(7, a), in.intern(7, b)
	if sa == sb || in.find(7, a) != sa || in.find(7, b) != sb {
		t.Fatal("colliding sets mixed up")
	}
	if in.intern(7, model.L("ifname", "a")) != sa || len(in.sets) != 1 {
		t.Fatal("an equal set from another slice was not shared")
	}
	in.release(sa)
	if in.find(7, a) != nil || in.find(7, b) != sb {
		t.Fatal("releasing one colliding set lost the other or kept itself")
	}
	in.release(sb)
	if len(in.sets) != 0 {
		t.Fatalf("%d hashes left after the last release", len(in.sets))
	}
	if in.hash(model.L("a", "bc")) == in.hash(model.L("ab", "c")) {
		t.Fatal(`{a="bc"} and {ab="c"} hash alike`)
	}
}

// A boxed value follows the series, and rewriting it touches only the
// series' own cell, never a constant the compiler shares.
func TestFloatBox(t *testing.T) {
	s := &series{}
	s.add(1, 0, 0)
	b := s.value()
	s.add(2, 42.5, 0)
	if got := s.value(); got != b || got.(float64) != 42.5 {
		t.Fatalf("value after a new point: %v (same box: %v)", got, got == b)
	}
	if zero := any(float64(0)); zero.(float64) != 0 {
		t.Fatalf("the constant 0 became %v", zero)
	}
	w := s.box("rate5m", 0)
	if s.box("rate5m", 3) != w || w.(float64) != 3 || s.box("delta5m", 1).(float64) != 1 || w.(float64) != 3 {
		t.Fatal("window boxes are not one per slot")
	}
}

// A boxed label value is the label's, read where the set keeps it: no
// allocation, and the compiler's shared "" stays empty.
func TestLabelBoxed(t *testing.T) {
	set := &labelSet{labels: model.L("ifalias", "uplink", "ifname", "Ethernet1/1")}
	cases := []struct{ name, want string }{
		{"ifalias", "uplink"}, {"ifname", "Ethernet1/1"}, {"missing", ""},
	}
	for _, c := range cases {
		if got, ok := set.labelBoxed(c.name).(string); !ok || got != c.want {
			t.Errorf("labelBoxed(%q) = %q, want %q", c.name, got, c.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = set.labelBoxed("ifname") }); n != 0 {
		t.Errorf("labelBoxed allocates %v times", n)
	}
	if empty := any(""); empty.(string) != "" {
		t.Fatalf("the constant \"\" became %q", empty)
	}
	if got := (&series{}).labelBoxed("ifname"); got != "" {
		t.Errorf("a series without labels boxes %q", got)
	}
}

// A single-metric rule's alarm holds its series' interned label map, not
// a copy; what leaves the engine is a copy still.
func TestAlarmSharesInternedLabels(t *testing.T) {
	ib := newIngestBench(t, switchRules)
	var got []model.Change
	ib.e.opts.OnChange = func(ch []model.Change) error { got = append(got, ch...); return nil }
	for i := range ib.batches {
		for j, s := range ib.batches[i].Samples {
			if s.Name == "if_oper_up" && s.Labels.Get("ifname") == "Ethernet1/1" {
				ib.batches[i].Samples[j].Value = 0
			}
		}
	}
	ib.step()
	if len(got) != 1 || got[0].Alarm.Rule != "UplinkDown" || got[0].Event != model.EventFiring {
		t.Fatalf("changes %+v, want UplinkDown firing", got)
	}
	a := ib.e.alarms[got[0].Alarm.ID]
	s := ib.e.targets["sw1"].lookup("if_oper_up", a.src.labels)
	if s == nil || s != a.src || fmt.Sprintf("%p", a.Labels) != fmt.Sprintf("%p", s.labelSet.lmap) {
		t.Fatalf("the alarm's labels %p are not its series' interned map", a.Labels)
	}
	got[0].Alarm.Labels["ifname"] = "changed"
	ib.e.Alarms()[0].Labels["ifname"] = "changed too"
	if a.Labels["ifname"] != "Ethernet1/1" {
		t.Fatalf("a copy handed out changed the engine's labels: %v", a.Labels)
	}
}

// Dropping a series takes it out of its set's list and forgets the alarms
// linked to it, not those of the set's other series.
func TestLabelSetDrop(t *testing.T) {
	set := &labelSet{labels: model.L("ifname", "Ethernet1/1")}
	up, speed := &series{labelSet: set, metricName: &metricName{"if_oper_up"}}, &series{labelSet: set, metricName: &metricName{"if_speed_bits"}}
	set.series = []*series{up, speed}
	down, slow := &Rule{Name: "PortDown"}, &Rule{Name: "PortSlow"}
	link(up, down, &alarm{})
	link(speed, slow, &alarm{})
	set.drop(up)
	if len(set.series) != 1 || set.seriesOf("if_speed_bits") != speed || set.seriesOf("if_oper_up") != nil {
		t.Fatalf("after the drop the set lists %d series", len(set.series))
	}
	if _, ok := set.alarms[down]; ok || set.alarms[slow] == nil || speed.alarms[slow].src != speed {
		t.Fatalf("alarms after the drop: %v", set.alarms)
	}
}

// Unindexing an alarm whose series is gone leaves alone the entry a newer
// alarm of the same rule holds in the set's map.
func TestUnindexKeepsNewerAlarm(t *testing.T) {
	e := New(Options{Logger: discard()})
	set := &labelSet{labels: model.L("ifname", "Ethernet1/1")}
	gone, now := &series{labelSet: set}, &series{labelSet: set}
	rl := &Rule{Name: "PortDown"}
	old := &alarm{Alarm: model.Alarm{ID: "old", Rule: rl.Name, Labels: map[string]string{"target": "sw1"}}}
	e.index(old)
	link(gone, rl, old)
	newer := &alarm{}
	link(now, rl, newer)
	e.unindex(old)
	if set.alarms[rl] != newer || old.src != nil {
		t.Fatalf("after unindexing the old alarm the set holds %p, want %p", set.alarms[rl], newer)
	}
}
