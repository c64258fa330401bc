package snmp

import (
	"bytes"
	"log/slog"
	"math"
	"strings"
	"testing"

	"github.com/gosnmp/gosnmp"

	"github.com/vedetta-dc/vedetta/model"
)

func fp(f float64) *float64 { return &f }

var (
	mains   = Range{Min: fp(80), Max: fp(700), Zero: true}
	percent = Range{Min: fp(0), Max: fp(100)}
	hertz   = Range{Min: fp(40), Max: fp(70), Zero: true}
	counter = Range{Counter: true}
	generic = []float64{-1, -2147483648, 32767, 65535, 2147483647, 4294967295}
)

func TestDecide(t *testing.T) {
	one := Conv{Scale: 1}
	tests := []struct {
		name     string
		r        Range
		sent     []float64
		raw      float64
		conv     Conv
		factors  []float64
		chosen   float64
		want     float64
		factor   float64
		isChosen bool
		reason   string
	}{
		{"in range", mains, generic, 230, one, nil, 0, 230, 1, false, ""},
		{"tenths without autoscale are out of range", mains, generic, 2363, one, nil, 0, 2363, 1, false, ReasonOutOfRange},
		{"tenths autoscaled: 0.1 chosen", mains, generic, 2363, one, []float64{1, 0.1}, 0, 236.3, 0.1, true, ""},
		{"volts autoscaled: 1 chosen", mains, generic, 230, one, []float64{1, 0.1}, 0, 230, 1, true, ""},
		{"0 V decides nothing", mains, generic, 0, one, []float64{1, 0.1}, 0, 0, 1, false, ""},
		{"chosen factor kept", mains, generic, 2301, one, []float64{1, 0.1}, 0.1, 230.1, 0.1, false, ""},
		{"chosen factor never flips", mains, generic, 230, one, []float64{1, 0.1}, 0.1, 23, 0.1, false, ReasonOutOfRange},
		{"implausible at every factor", mains, generic, 99999, one, []float64{1, 0.1}, 0, 99999, 1, false, ReasonOutOfRange},
		{"ambiguous factors", percent, generic, 50, one, []float64{1, 0.1}, 0, 50, 1, false, ReasonAmbiguous},
		{"Gauge32 max minutes", Range{Min: fp(0), Max: fp(604800)}, generic, 4294967295, Conv{Scale: 60}, nil, 0, 257698037700, 1, false, ReasonSentinel},
		{"65535 minutes", Range{Min: fp(0), Max: fp(604800)}, generic, 65535, Conv{Scale: 60}, nil, 0, 3932100, 1, false, ReasonSentinel},
		{"-1 humidity", percent, generic, -1, one, nil, 0, -1, 1, false, ReasonSentinel},
		{"frequency in tenths", hertz, generic, 500, Conv{Scale: 0.1}, []float64{1, 10}, 0, 50, 1, true, ""},
		{"frequency in whole Hz", hertz, generic, 50, Conv{Scale: 0.1}, []float64{1, 10}, 0, 50, 10, true, ""},
		{"frequency 0 (no input)", hertz, generic, 0, Conv{Scale: 0.1}, nil, 0, 0, 1, false, ""},
		{"frequency 5 Hz is not mains", hertz, generic, 50, Conv{Scale: 0.1}, nil, 0, 5, 1, false, ReasonOutOfRange},
		{"counter at 65535 is a count", counter, nil, 65535, one, nil, 0, 65535, 1, false, ""},
		{"counter stays exact", counter, nil, 151712621952719, one, nil, 0, 151712621952719, 1, false, ""},
		{"negative counter", counter, nil, -5, one, nil, 0, -5, 1, false, ReasonOutOfRange},
		{"fractional counter", counter, nil, 10, Conv{Scale: 0.5 + 1e-3}, nil, 0, 5.01, 1, false, ReasonOutOfRange},
		{"a user's metric: anything finite", Range{}, generic, 1e300, one, nil, 0, 1e300, 1, false, ""},
		{"a user's metric: sentinels still", Range{}, generic, 65535, one, nil, 0, 65535, 1, false, ReasonSentinel},
		{"NaN", Range{}, nil, 1, Conv{Scale: math.NaN()}, nil, 0, math.NaN(), 1, false, ReasonOutOfRange},
		{"offset after the factor", Range{Min: fp(-55), Max: fp(150)}, generic, 720, Conv{Scale: 0.5555555555555556, Offset: -17.77777777777778, Round: new(int)}, []float64{1, 0.1}, 0, 22, 0.1, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.r, tc.sent, tc.raw, tc.raw, tc.conv, tc.factors, tc.chosen)
			same := d.Value == tc.want || (math.IsNaN(d.Value) && math.IsNaN(tc.want))
			if !same || d.Factor != tc.factor || d.Chosen != tc.isChosen || d.Reason != tc.reason || d.Raw != tc.raw {
				t.Errorf("Decide(raw %v) = %+v, want value %v factor %v chosen %v reason %q", tc.raw, d, tc.want, tc.factor, tc.isChosen, tc.reason)
			}
		})
	}
}

// FuzzDecide: whatever the inputs, a value Decide lets through is plausible
// for its range, and a chosen factor is one of those offered.
func FuzzDecide(f *testing.F) {
	f.Add(2363.0, 1.0, 0.0, 1.0, 0.1, 0.0, 80.0, 700.0, true, false)
	f.Add(4294967295.0, 60.0, 0.0, 1.0, 1.0, 0.0, 0.0, 604800.0, false, false)
	f.Add(65535.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, false, true)
	f.Add(-1.0, 0.1, -17.7, 10.0, 0.01, 0.1, -55.0, 150.0, false, false)
	f.Fuzz(func(t *testing.T, raw, scale, offset, f1, f2, chosen, lo, hi float64, zero, isCounter bool) {
		r := Range{Min: &lo, Max: &hi, Zero: zero, Counter: isCounter}
		if isCounter {
			r = Range{Counter: true}
		}
		var factors []float64
		for _, x := range []float64{f1, f2} {
			if x > 0 && !math.IsInf(x, 0) {
				factors = append(factors, x)
			}
		}
		sent := generic
		if isCounter {
			sent = nil
		}
		d := Decide(r, sent, raw, raw, Conv{Scale: scale, Offset: offset}, factors, chosen)
		if d.Reason == "" && !r.Plausible(d.Value) {
			t.Fatalf("exported %v, outside %s: %+v", d.Value, r, d)
		}
		if d.Reason == "" && (math.IsNaN(d.Value) || math.IsInf(d.Value, 0)) {
			t.Fatalf("exported %v", d.Value)
		}
		if d.Reason == "" {
			for _, s := range sent {
				if raw == s {
					t.Fatalf("sentinel %v exported as %v", raw, d.Value)
				}
			}
		}
		if d.Chosen {
			found := false
			for _, x := range factors {
				found = found || x == d.Factor
			}
			if !found || chosen != 0 {
				t.Fatalf("chose %v from %v (already chosen %v)", d.Factor, factors, chosen)
			}
		}
	})
}

// Every normalized metric name of the embedded profiles has a physical
// range, and a counter is exactly what ends in _total.
func TestEveryEmbeddedMetricHasARange(t *testing.T) {
	tbl := embeddedPlausibility()
	n := 0
	for _, p := range EmbeddedProfiles().All() {
		for _, m := range p.Metrics {
			r, ok := tbl.For(m.Name)
			if !ok {
				t.Errorf("profile %s: metric %s has no range in plausibility.yaml", p.Name, m.Name)
				continue
			}
			if r.Counter != strings.HasSuffix(m.Name, "_total") {
				t.Errorf("profile %s: metric %s: counter is %v", p.Name, m.Name, r.Counter)
			}
			n++
		}
	}
	if n < 100 {
		t.Fatalf("only %d metrics checked", n)
	}
}

func TestParsePlausibilityErrors(t *testing.T) {
	for _, tc := range []struct{ name, y, want string }{
		{"unknown key", "metrics: {a: {min: 0, max: 1, mx: 2}}", "field mx not found"},
		{"no max", "metrics: {a: {min: 0}}", "a: give min and max"},
		{"min above max", "suffixes: {_b: {min: 2, max: 1}}", "_b: min > max"},
		{"counter with a range", "suffixes: {_total: {counter: true, max: 5}}", "a counter takes no"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePlausibility([]byte(tc.y))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	tbl, err := ParsePlausibility(plausibilityYAML)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := tbl.For("sensor_humidity_percent"); r.String() != "[0, 100]" {
		t.Errorf("sensor_humidity_percent: %s, want the _percent suffix [0, 100]", r)
	}
	if r, _ := tbl.For("ups_output_load_percent"); r.String() != "[0, 200]" {
		t.Errorf("ups_output_load_percent: %s, want its own [0, 200] before the suffix", r)
	}
}

// runWith evaluates profiles against varbinds with guard g (kept across
// calls: one device polled several times).
func runWith(t *testing.T, g *guard, ps []*Profile, pdus ...gosnmp.SnmpPDU) string {
	t.Helper()
	v := newView()
	pl := newPlan(ps)
	scalar := map[string]bool{}
	for _, o := range pl.gets {
		scalar[o] = true
	}
	for _, p := range pdus {
		v.add(p, !scalar[trimOID(p.Name)])
	}
	v.finish()
	var out []model.Sample
	evaluate(ps, v, g, func(s model.Sample) { out = append(out, s) })
	var b bytes.Buffer
	_ = WriteProm(&b, out)
	return strings.TrimSpace(b.String())
}

// The scale is chosen once per device, from the first value that decides
// it, logged once with the evidence, and kept: a later value that is only
// plausible at the other scale is dropped and counted, never flipped to.
func TestAutoscaleChosenOnceAndRemembered(t *testing.T) {
	p := mustProfile(t, "name: t\nmib: TEST-MIB\nmatch: {subtrees: [1.3.6.1.4.1.99999]}\nmetrics:\n"+
		"  - {name: ups_input_voltage_volts, walk: 1.3.6.1.4.1.99999.1, labels: {line: {index: true}}, autoscale: [1, 0.1]}\n")
	var logs bytes.Buffer
	g := newGuard("ups-a", slog.New(slog.NewTextHandler(&logs, nil)), nil)
	volts := func(vals ...int) []gosnmp.SnmpPDU {
		var out []gosnmp.SnmpPDU
		for i, x := range vals {
			out = append(out, pdu("1.3.6.1.4.1.99999.1."+string(rune('1'+i)), gosnmp.Gauge32, uint(x)))
		}
		return out
	}
	// A blackout at start: 0 V decides nothing.
	if got := runWith(t, g, []*Profile{p}, volts(0)...); got != `ups_input_voltage_volts{line="1"} 0` {
		t.Fatalf("0 V: %q", got)
	}
	if strings.Contains(logs.String(), "autoscale") {
		t.Fatalf("0 V chose a scale:\n%s", logs.String())
	}
	if got := runWith(t, g, []*Profile{p}, volts(2363, 2351, 0)...); got != "ups_input_voltage_volts{line=\"1\"} 236.3\nups_input_voltage_volts{line=\"2\"} 235.1\nups_input_voltage_volts{line=\"3\"} 0" {
		t.Fatalf("tenths: %q", got)
	}
	if got := runWith(t, g, []*Profile{p}, volts(2371, 231)...); got != `ups_input_voltage_volts{line="1"} 237.1` {
		t.Fatalf("after the choice, 231 (23.1 V at the chosen scale) must be dropped: %q", got)
	}
	if n := strings.Count(logs.String(), "snmp autoscale chosen"); n != 1 {
		t.Fatalf("logged %d times, want once:\n%s", n, logs.String())
	}
	for _, want := range []string{"raw=2363", "autoscale_factor=0.1", "value=236.3", "metric=ups_input_voltage_volts"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log lacks %s:\n%s", want, logs.String())
		}
	}
	if n := g.counts[[2]string{"ups_input_voltage_volts", ReasonOutOfRange}]; n != 1 {
		t.Errorf("out_of_range counted %v times, want 1", n)
	}
	// Another device (another guard) decides for itself.
	if got := runWith(t, newGuard("ups-b", nil, nil), []*Profile{p}, volts(231)...); got != `ups_input_voltage_volts{line="1"} 231` {
		t.Errorf("another device: %q", got)
	}
}

func TestPlausibilityInThePipeline(t *testing.T) {
	const o = "1.3.6.1.4.1.99999.1.0"
	tests := []struct {
		name, metric string
		p            gosnmp.SnmpPDU
		want         string
		reason       string
	}{
		{"Gauge32 max on a gauge", "  - {name: ups_battery_runtime_seconds, oid: " + o + ", scale: 60}",
			pdu(o, gosnmp.Gauge32, uint(4294967295)), "", ReasonSentinel},
		{"0x7FFF on a temperature", "  - {name: sensor_temperature_celsius, oid: " + o + ", scale: 0.1}",
			pdu(o, gosnmp.Integer, 32767), "", ReasonSentinel},
		{"-1 as text", "  - {name: sensor_humidity_percent, oid: " + o + "}",
			pdu(o, gosnmp.OctetString, []byte("-1")), "", ReasonSentinel},
		{"N/A", "  - {name: sensor_humidity_percent, oid: " + o + "}",
			pdu(o, gosnmp.OctetString, []byte(" N/A ")), "", ReasonSentinel},
		{"65535 on a counter is a count", "  - {name: if_in_errors_total, oid: " + o + "}",
			pdu(o, gosnmp.Counter32, uint(65535)), "if_in_errors_total 65535", ""},
		{"65535 TimeTicks are 655.35 s", "  - {name: ups_battery_runtime_seconds, oid: " + o + ", scale: 0.01}",
			pdu(o, gosnmp.TimeTicks, uint32(65535)), "ups_battery_runtime_seconds 655.35", ""},
		{"an enum is not a sentinel", `  - {name: ups_on_battery, oid: ` + o + `, map: {"65535": 1}}`,
			pdu(o, gosnmp.Integer, 65535), "ups_on_battery 1", ""},
		{"humidity above 100", "  - {name: sensor_humidity_percent, oid: " + o + "}",
			pdu(o, gosnmp.Integer, 130), "", ReasonOutOfRange},
		{"a mapped state out of its range", `  - {name: psu_ok, oid: ` + o + `, map: {"3": 2}}`,
			pdu(o, gosnmp.Integer, 3), "", ReasonOutOfRange},
		{"exact 64-bit counter", "  - {name: if_in_bytes_total, oid: " + o + "}",
			pdu(o, gosnmp.Counter64, uint64(1802190559313)), "if_in_bytes_total 1802190559313", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustProfile(t, header+tc.metric)
			g := newGuard("d", nil, nil)
			if got := runWith(t, g, []*Profile{p}, tc.p); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			total := 0.0
			for k, n := range g.counts {
				total += n
				if tc.reason == "" || k[1] != tc.reason {
					t.Errorf("counted %v as %v", n, k)
				}
			}
			if tc.reason != "" && total != 1 {
				t.Errorf("counted %v drops, want 1 (%s)", total, tc.reason)
			}
		})
	}
}

// line_count drops the rows a device says it does not have; distinct
// keeps one row per device; where index_prefix reads a sister table.
func TestLineCountDistinctIndexPrefix(t *testing.T) {
	lines := mustProfile(t, header+
		"  - {name: ups_input_voltage_volts, walk: 1.3.6.1.4.1.99999.3.1, labels: {line: {index_part: 1}}, line_count: 1.3.6.1.4.1.99999.2.0}\n")
	phases := []gosnmp.SnmpPDU{
		pdu("1.3.6.1.4.1.99999.3.1.1.0", gosnmp.Integer, 231),
		pdu("1.3.6.1.4.1.99999.3.1.2.0", gosnmp.Integer, 0),
		pdu("1.3.6.1.4.1.99999.3.1.3.0", gosnmp.Integer, 0),
	}
	if got := run(t, []*Profile{lines}, append(phases, pdu("1.3.6.1.4.1.99999.2.0", gosnmp.Integer, 1))...); got != `ups_input_voltage_volts{line="1"} 231` {
		t.Errorf("one line: %q", got)
	}
	if got := run(t, []*Profile{lines}, phases...); strings.Count(got, "\n") != 2 {
		t.Errorf("no line count: every row is kept, got %q", got)
	}

	distinct := mustProfile(t, header+
		"  - {name: host_filesystem_used_ratio, walk: 1.3.6.1.4.1.99999.9, labels: {mountpoint: {column: 1.3.6.1.4.1.99999.2}}, distinct: 1.3.6.1.4.1.99999.3, scale: 0.01}\n")
	got := run(t, []*Profile{distinct},
		pdu("1.3.6.1.4.1.99999.2.1", gosnmp.OctetString, []byte("/")), pdu("1.3.6.1.4.1.99999.3.1", gosnmp.OctetString, []byte("/dev/sda1")), pdu("1.3.6.1.4.1.99999.9.1", gosnmp.Integer, 28),
		pdu("1.3.6.1.4.1.99999.2.2", gosnmp.OctetString, []byte("/jail/bin")), pdu("1.3.6.1.4.1.99999.3.2", gosnmp.OctetString, []byte("/dev/sda1")), pdu("1.3.6.1.4.1.99999.9.2", gosnmp.Integer, 28),
		pdu("1.3.6.1.4.1.99999.2.3", gosnmp.OctetString, []byte("/boot")), pdu("1.3.6.1.4.1.99999.3.3", gosnmp.OctetString, []byte("/dev/sda2")), pdu("1.3.6.1.4.1.99999.9.3", gosnmp.Integer, 43))
	if got != "host_filesystem_used_ratio{mountpoint=\"/\"} 0.28\nhost_filesystem_used_ratio{mountpoint=\"/boot\"} 0.43" {
		t.Errorf("distinct: %q", got)
	}

	prefixed := mustProfile(t, header+
		"  - {name: sensor_humidity_percent, walk: 1.3.6.1.4.1.99999.6, labels: {sensor: {index: true}}, where: [{column: 1.3.6.1.4.1.99999.7, index_prefix: \"0\", not_in: [\"-1\"]}]}\n")
	got = run(t, []*Profile{prefixed},
		pdu("1.3.6.1.4.1.99999.6.1", gosnmp.Integer, 30), pdu("1.3.6.1.4.1.99999.6.2", gosnmp.Integer, 0),
		pdu("1.3.6.1.4.1.99999.7.0.1", gosnmp.Integer, 30), pdu("1.3.6.1.4.1.99999.7.0.2", gosnmp.Integer, -1))
	if got != `sensor_humidity_percent{sensor="1"} 30` {
		t.Errorf("index_prefix: %q", got)
	}
}

func TestProfileAutoscaleErrors(t *testing.T) {
	for _, tc := range []struct{ name, metric, want string }{
		{"zero factor", "  - {name: m, oid: 1.3.6.1.4.1.99999.1.0, autoscale: [1, 0]}", "factors must be positive"},
		{"with a map", `  - {name: m, oid: 1.3.6.1.4.1.99999.1.0, autoscale: [1, 0.1], map: {"1": 1}}`, "autoscale makes no sense"},
		{"line_count on a scalar", "  - {name: m, oid: 1.3.6.1.4.1.99999.1.0, line_count: 1.3.6.1.4.1.99999.2.0}", "need walk"},
		{"bad line_count OID", "  - {name: m, walk: 1.3.6.1.4.1.99999.1, line_count: upsInputNumLines}", "not a numeric OID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseProfile([]byte(header+tc.metric), "t.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
