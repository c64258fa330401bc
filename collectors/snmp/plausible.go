package snmp

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"
)

// Range is the physical range of one normalized metric (plausibility.yaml).
type Range struct {
	Min     *float64 `yaml:"min"`
	Max     *float64 `yaml:"max"`
	Zero    bool     `yaml:"zero"`    // 0 is plausible too (no input)
	Integer bool     `yaml:"integer"` // whole numbers only
	Counter bool     `yaml:"counter"` // whole, >= 0, unbounded, no sentinels
}

// Plausible says whether a normalized value can be true.
func (r Range) Plausible(v float64) bool {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return false
	}
	if r.Counter {
		return v >= 0 && v == math.Trunc(v)
	}
	if r.Zero && v == 0 {
		return true
	}
	if r.Integer && v != math.Trunc(v) {
		return false
	}
	return (r.Min == nil || v >= *r.Min) && (r.Max == nil || v <= *r.Max)
}

func (r Range) String() string {
	if r.Counter {
		return "counter (whole, >= 0)"
	}
	f := func(p *float64, inf string) string {
		if p == nil {
			return inf
		}
		return strconv.FormatFloat(*p, 'g', -1, 64)
	}
	s := "[" + f(r.Min, "-inf") + ", " + f(r.Max, "+inf") + "]"
	if r.Zero {
		s += " or 0"
	}
	return s
}

// Plausibility is the table of plausibility.yaml: generic sentinels and
// the range of every normalized metric name. It is data, immutable once
// parsed.
type Plausibility struct {
	Sentinels   []float64        `yaml:"sentinels"`
	UnknownText []string         `yaml:"unknown_text"`
	Metrics     map[string]Range `yaml:"metrics"`
	Suffixes    map[string]Range `yaml:"suffixes"`
	suffixes    []string         // longest first
}

//go:embed plausibility.yaml
var plausibilityYAML []byte

// embeddedPlausibility is parsed once; it is tested, so an error is a
// broken build (as the embedded profiles).
var embeddedPlausibility = sync.OnceValue(func() *Plausibility {
	t, err := ParsePlausibility(plausibilityYAML)
	if err != nil {
		panic("snmp: plausibility.yaml is broken: " + err.Error())
	}
	return t
})

// ParsePlausibility decodes a plausibility table strictly.
func ParsePlausibility(data []byte) (*Plausibility, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var t Plausibility
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("plausibility: %w", err)
	}
	var errs []error
	check := func(name string, r Range) {
		if r.Counter {
			if r.Min != nil || r.Max != nil || r.Zero || r.Integer {
				errs = append(errs, fmt.Errorf("plausibility: %s: a counter takes no min, max, zero or integer", name))
			}
			return
		}
		if r.Min == nil || r.Max == nil {
			errs = append(errs, fmt.Errorf("plausibility: %s: give min and max", name))
		} else if *r.Min > *r.Max {
			errs = append(errs, fmt.Errorf("plausibility: %s: min > max", name))
		}
	}
	for n, r := range t.Metrics {
		check(n, r)
	}
	for s, r := range t.Suffixes {
		check(s, r)
		t.suffixes = append(t.suffixes, s)
	}
	sort.Slice(t.suffixes, func(i, j int) bool {
		if len(t.suffixes[i]) != len(t.suffixes[j]) {
			return len(t.suffixes[i]) > len(t.suffixes[j])
		}
		return t.suffixes[i] < t.suffixes[j]
	})
	for i, u := range t.UnknownText {
		t.UnknownText[i] = strings.ToLower(strings.TrimSpace(u))
	}
	return &t, errors.Join(errs...)
}

// For returns the range of a metric name: exact, else the longest suffix.
func (t *Plausibility) For(metric string) (Range, bool) {
	if r, ok := t.Metrics[metric]; ok {
		return r, true
	}
	for _, s := range t.suffixes {
		if strings.HasSuffix(metric, s) {
			return t.Suffixes[s], true
		}
	}
	return Range{}, false
}

func (t *Plausibility) unknownText(s string) bool {
	s = strings.ToLower(strings.TrimSpace(strings.TrimRight(s, "\x00")))
	for _, u := range t.UnknownText {
		if s == u {
			return true
		}
	}
	return false
}

// Reasons a value is not exported (the reason label of
// vedetta_snmp_implausible_values_total).
const (
	ReasonSentinel   = "sentinel"        // a raw value or text meaning "unknown"
	ReasonOutOfRange = "out_of_range"    // outside the metric's range at every scale tried
	ReasonAmbiguous  = "ambiguous_scale" // plausible at two autoscale factors: no way to tell
)

// Conv is the last step of a metric's value pipeline: x*Scale + Offset,
// float noise removed, rounded to Round decimals.
type Conv struct {
	Scale, Offset float64
	Round         *int
}

func (c Conv) apply(x float64) float64 {
	x = denoise(x*c.Scale + c.Offset) // x*1+0 is x: a counter stays exact
	if c.Round != nil {
		p := math.Pow(10, float64(*c.Round))
		x = math.Round(x*p) / p
	}
	return x
}

// Decision is what becomes of one value read: exported as Value (Reason
// ""), or not, and why.
type Decision struct {
	Raw    float64 // as read from the agent
	Value  float64 // normalized (at Factor); exported when Reason == ""
	Factor float64 // the autoscale factor used (1 without autoscale)
	Chosen bool    // this value decided the factor for the device
	Reason string  // "" or one of the Reason constants
}

// Decide is the plausibility decision, a pure function: raw is the value
// read, base the value after the pipeline's steps before scaling (after
// divide_by, ENTITY-SENSOR scaling), conv the final scaling. sentinels are
// checked on raw (nil: none). factors are the profile's autoscale factors
// (none: 1), chosen the factor already chosen for this device (0: none
// yet). A factor is chosen when exactly one gives a plausible value and
// the factors disagree (a 0 V input reads the same at every scale and
// decides nothing).
func Decide(r Range, sentinels []float64, raw, base float64, conv Conv, factors []float64, chosen float64) Decision {
	d := Decision{Raw: raw, Factor: 1}
	for _, s := range sentinels {
		if raw == s {
			d.Value, d.Reason = conv.apply(base), ReasonSentinel
			return d
		}
	}
	if chosen != 0 || len(factors) == 0 {
		if chosen != 0 {
			d.Factor = chosen
		}
		d.Value = conv.apply(base * d.Factor)
		if !r.Plausible(d.Value) {
			d.Reason = ReasonOutOfRange
		}
		return d
	}
	var okF []float64
	var okV []float64
	distinct := map[float64]bool{}
	for _, f := range factors {
		v := conv.apply(base * f)
		distinct[v] = true
		if r.Plausible(v) {
			okF, okV = append(okF, f), append(okV, v)
		}
	}
	switch {
	case len(okF) == 0:
		d.Factor = factors[0]
		d.Value = conv.apply(base * factors[0])
		d.Reason = ReasonOutOfRange
	case len(distinct) == 1: // the value does not depend on the factor (0)
		d.Factor, d.Value = okF[0], okV[0]
	case len(okF) == 1:
		d.Factor, d.Value, d.Chosen = okF[0], okV[0], true
	default:
		d.Factor, d.Value = okF[0], okV[0]
		d.Reason = ReasonAmbiguous
	}
	return d
}

// guard applies the plausibility table to one target's samples and
// remembers, per profile metric, the autoscale factor chosen for the
// device. It is owned by one Collector (used under its mutex).
type guard struct {
	table   *Plausibility
	target  string
	log     *slog.Logger
	counter func() *prometheus.CounterVec // nil, or giving nil: counted in counts only
	chosen  map[string]float64            // Metric.key -> factor
	counts  map[[2]string]float64         // {metric, reason} -> values not exported
	// explain, when set, is told every decision (vedetta probe snmp).
	explain func(Explained)
}

// Explained is one plausibility decision, as `vedetta probe snmp` shows it.
type Explained struct {
	Metric  string // the normalized name
	Key     string // profile/metric index
	Row     string // the row index, "" for a scalar
	RawText string // the value as text when it was no number ("N/A")
	Scale   float64
	Range   string // the metric's range, "" when the table has none
	// Read is what the device sent when a map, bit or mask made Raw of it
	// (ups_on_battery: "3" mapped to 1); Unmapped says it matched no map
	// entry, so gave no sample by the profile's design (not counted as
	// implausible).
	Read     string
	Unmapped bool
	Decision
}

func newGuard(target string, log *slog.Logger, counter func() *prometheus.CounterVec) *guard {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &guard{table: embeddedPlausibility(), target: target, log: log, counter: counter,
		chosen: map[string]float64{}, counts: map[[2]string]float64{}}
}

// judge decides one value of metric m (row idx); ok is false when it must
// not be exported.
func (g *guard) judge(m *Metric, idx string, raw, base float64, ticks bool, read string) (float64, bool) {
	conv := Conv{Scale: m.Scale, Offset: m.Offset, Round: m.Round}
	r, known := g.table.For(m.Name)
	if !known {
		r = Range{} // a user's own metric: sentinels only
	}
	if m.NonZero { // an enum of two: is there something (an aggregator's ifIndex) or not
		raw = 0
		if base != 0 {
			raw = 1
		}
		base = raw
	}
	var sentinels []float64
	if !r.Counter && m.Map == nil && m.Bit == nil && m.Mask == 0 && !m.NonZero && !ticks {
		sentinels = g.table.Sentinels
	}
	d := Decide(r, sentinels, raw, base, conv, m.Autoscale, g.chosen[m.key])
	if d.Chosen {
		g.chosen[m.key] = d.Factor
		g.log.Info("snmp autoscale chosen: the device reports this metric at another scale than its profile says",
			"metric", m.Name, "profile_metric", m.key, "row", idx, "raw", raw, "scale", d.Factor*m.Scale,
			"autoscale_factor", d.Factor, "value", d.Value, "range", r.String())
	}
	if g.explain != nil {
		rs := ""
		if known {
			rs = r.String()
		}
		g.explain(Explained{Metric: m.Name, Key: m.key, Row: idx, Scale: m.Scale * d.Factor, Range: rs, Read: read, Decision: d})
	}
	if d.Reason != "" {
		g.count(m.Name, d.Reason)
		return 0, false
	}
	return d.Value, true
}

// sentinel counts (and explains) a value the profile or the table knows
// as "unknown" before any scaling: raw, or rawText when it is no number.
func (g *guard) sentinel(m *Metric, idx string, raw float64, rawText string) {
	g.count(m.Name, ReasonSentinel)
	if g.explain != nil {
		rs := ""
		if r, ok := g.table.For(m.Name); ok {
			rs = r.String()
		}
		g.explain(Explained{Metric: m.Name, Key: m.key, Row: idx, RawText: rawText, Scale: m.Scale, Range: rs,
			Decision: Decision{Raw: raw, Value: raw * m.Scale, Factor: 1, Reason: ReasonSentinel}})
	}
}

// unmapped explains a value no entry of the metric's map takes (an enum
// state the profile leaves without a sample on purpose).
func (g *guard) unmapped(m *Metric, idx, read string) {
	if g.explain != nil {
		g.explain(Explained{Metric: m.Name, Key: m.key, Row: idx, Read: read, Unmapped: true, Scale: m.Scale, Decision: Decision{Factor: 1}})
	}
}

func (g *guard) count(metric, reason string) {
	g.counts[[2]string{metric, reason}]++
	if g.counter == nil {
		return
	}
	if c := g.counter(); c != nil {
		c.WithLabelValues(g.target, metric, reason).Inc()
	}
}

// implausibleMetrics registers vedetta_snmp_implausible_values_total on
// reg, or finds the one an earlier config generation registered there
// (as trapMetrics). reg nil: nothing is registered.
func implausibleMetrics(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	if reg == nil {
		return nil, nil
	}
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vedetta_snmp_implausible_values_total",
		Help: "SNMP values not exported: a sentinel meaning unknown, out of the metric's physical range, or of ambiguous scale (reason).",
	}, []string{"target", "metric", "reason"})
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if ex, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return ex, nil
			}
		}
		return nil, fmt.Errorf("snmp: metrics: %w", err)
	}
	return c, nil
}
