package rules

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"go.yaml.in/yaml/v3"

	"github.com/vedetta-dc/vedetta/model"

	"github.com/vedetta-dc/vedetta/internal/config"
)

// BenchmarkRuleEvaluation is issue 6's rule benchmark: 100,000 live series
// (1,000 targets × 10 metrics × 10 label values) and 200 rules (20 per
// metric: thresholds, a join, labels, window functions), one evaluation
// cycle per op. Each rule reads the 10,000 series of its metric, so a
// cycle is 2,000,000 rule × series evaluations; the custom metric
// ns/rule-series divides by that.
func BenchmarkRuleEvaluation(b *testing.B) {
	const targets, metrics, values, perMetric = 1000, 10, 10, 20
	var rs []config.Rule
	for m := 0; m < metrics; m++ {
		for k := 0; k < perMetric; k++ {
			expr := fmt.Sprintf("m%d > %d", m, 1000+k) // never true: the steady state
			switch k {
			case 0:
				expr = fmt.Sprintf("m%d > 1000 && m%d < 2000", m, m)
			case 1:
				expr = fmt.Sprintf(`labels.ifname == "if3" && m%d > 5000`, m)
			case 2:
				expr = fmt.Sprintf("delta(m%d, 5m) > 900", m)
			case 3:
				expr = fmt.Sprintf("rate(m%d, 5m) > 900", m)
			}
			rs = append(rs, config.Rule{Name: fmt.Sprintf("R%d_%d", m, k), Expr: expr, Severity: "warning"})
		}
	}
	cfg := &config.Config{Rules: rs}
	rules, errs := CompileRules(cfg)
	if len(errs) > 0 {
		b.Fatal(errs)
	}
	now := time.Unix(1_800_000_000, 0)
	intervals := map[string]time.Duration{}
	e := New(Options{Rules: rules, Intervals: intervals, Now: func() time.Time { return now }, Logger: discard()})
	names := make([]string, targets)
	for t := 0; t < targets; t++ {
		names[t] = fmt.Sprintf("t%04d", t)
		intervals[names[t]] = time.Minute
	}
	// Five rounds of history so window functions have data.
	for round := 0; round < 5; round++ {
		ts := now.Add(time.Duration(round-4) * time.Minute)
		for t := 0; t < targets; t++ {
			var batch []model.Sample
			for m := 0; m < metrics; m++ {
				for v := 0; v < values; v++ {
					batch = append(batch, model.Sample{Name: fmt.Sprintf("m%d", m), Time: ts, Value: float64(round*10 + v),
						Labels: model.L("target", names[t], "class", "bench", "ifname", fmt.Sprintf("if%d", v))})
				}
			}
			e.mu.Lock()
			e.store(model.Batch{Target: names[t], Samples: batch})
			e.mu.Unlock()
		}
	}
	series := 0
	for _, ts := range e.targets {
		series += ts.count()
	}
	if series != targets*metrics*values {
		b.Fatalf("%d series", series)
	}
	cycle := func() {
		e.mu.Lock()
		var changes []model.Change
		for _, name := range names {
			e.evalTarget(name, e.targets[name], now, &changes)
		}
		e.mu.Unlock()
		if len(changes) != 0 {
			b.Fatalf("%d changes in the steady state", len(changes))
		}
	}
	cycle() // the first cycle caches boxed values and label maps
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cycle()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(rules)*targets*values), "ns/rule-series")
}

// switchRules are single-metric rules like the shipped ones for switches
// (configs/rules.d/snmp.yaml): states, thresholds, windows and a label
// test, every one false in the steady state.
var switchRules = []config.Rule{
	{Name: "PSUFailed", Expr: "psu_ok == 0", For: 30 * time.Second, Severity: "critical"},
	{Name: "FanFailed", Expr: "fan_ok == 0", For: time.Minute, Severity: "critical"},
	{Name: "SwitchHot", Expr: "sensor_temperature_celsius > 60", Severity: "warning"},
	{Name: "SwitchWarming", Expr: "delta(sensor_temperature_celsius, 10m) > 5", Severity: "warning"},
	{Name: "SwitchPortErrors", Expr: "rate(if_in_errors_total, 5m) > 1000", For: 10 * time.Minute, Severity: "warning"},
	{Name: "UplinkDown", Expr: `labels.ifalias == "uplink" && if_oper_up == 0`, Severity: "critical"},
	{Name: "PortSaturated", Expr: "rate(if_in_octets_total, 5m) > 1e10", Severity: "warning"},
}

// switchPortMetrics are the per-port metrics of switchBatch.
var switchPortMetrics = []string{
	"if_admin_up", "if_oper_up", "if_speed_bits", "if_in_octets_total", "if_out_octets_total",
	"if_in_errors_total", "if_out_errors_total", "if_in_discards_total", "if_out_discards_total",
}

// switchBatch builds one poll of a 48-port switch as a collector hands it
// over: per row one label set of fresh strings, merged with the target's
// labels into a slice per sample (collectors.TargetLabels.Label), 445
// samples. round moves the counters and the temperatures.
func switchBatch(target string, round int, at time.Time) model.Batch {
	base := model.L("target", target, "class", "switch")
	var out []model.Sample
	add := func(name string, v float64, row model.Labels) {
		out = append(out, model.Sample{Name: name, Labels: model.Merge(base, row), Value: v, Time: at})
	}
	for p := 1; p <= 48; p++ {
		alias := ""
		if p <= 2 {
			alias = "uplink"
		}
		row := model.L("ifindex", strconv.Itoa(p), "ifname", fmt.Sprintf("Ethernet1/%d", p), "ifalias", alias)
		for i, m := range switchPortMetrics {
			v := float64(1)
			switch {
			case i == 2:
				v = 1e10
			case strings.Contains(m, "errors"):
				v = float64(p) // no errors in the steady state
			case i > 2:
				v = float64(round*(1000+p*i) + p)
			}
			add(m, v, row)
		}
	}
	for i := 1; i <= 4; i++ {
		add("psu_ok", 1, model.L("name", fmt.Sprintf("PSU%d", i)))
	}
	for i := 1; i <= 6; i++ {
		add("fan_ok", 1, model.L("name", fmt.Sprintf("Fan%d", i)))
	}
	for i := 1; i <= 3; i++ {
		add("sensor_temperature_celsius", float64(30+i)+float64(round%3)/10, model.L("sensor", fmt.Sprintf("temp%d", i)))
	}
	return model.Batch{Target: target, Samples: out, Start: at}
}

// ingestBench is an engine with switchRules that has seen a few polls of
// one switch, and the next batches to give it: two label sets of their own
// per sample (equal to the stored ones, other slices, as each poll makes
// them), so a lookup has to compare labels, not pointers.
type ingestBench struct {
	e       *Engine
	now     time.Time
	batches [2]model.Batch
	round   int
}

func newIngestBench(tb testing.TB, rs []config.Rule) *ingestBench {
	tb.Helper()
	rules, errs := CompileRules(&config.Config{Rules: rs})
	if len(errs) > 0 {
		tb.Fatal(errs)
	}
	ib := &ingestBench{now: time.Unix(1_800_000_000, 0)}
	ib.e = New(Options{Rules: rules, Intervals: map[string]time.Duration{"sw1": 10 * time.Second},
		Now: func() time.Time { return ib.now }, Logger: discard(),
		OnChange: func(ch []model.Change) error {
			tb.Fatalf("%d changes in the steady state: %+v", len(ch), ch[0])
			return nil
		}})
	// Until the longest window is full (13 minutes at least): histories
	// at their size, series and boxes made.
	warm := 80
	for _, keep := range ib.e.keepFor {
		warm = max(warm, int(time.Duration(keep)/(10*time.Second))+10)
	}
	for ib.round < warm {
		ib.step()
	}
	ib.batches = [2]model.Batch{switchBatch("sw1", 0, ib.now), switchBatch("sw1", 0, ib.now)}
	ib.step()
	ib.step()
	return ib
}

// step ingests the next poll, 10 s after the last, with new values.
func (ib *ingestBench) step() {
	ib.now = ib.now.Add(10 * time.Second)
	ib.round++
	b := ib.batches[ib.round%2]
	if b.Samples == nil {
		b = switchBatch("sw1", ib.round, ib.now)
	} else {
		for i := range b.Samples {
			s := &b.Samples[i]
			s.Time = ib.now
			switch {
			case strings.HasSuffix(s.Name, "_total") && !strings.Contains(s.Name, "errors"):
				s.Value += float64(1000 + i) // counters move
			case s.Name == "sensor_temperature_celsius":
				s.Value = 30 + float64(i%3+ib.round%3)/10 // temperatures too
			}
		}
	}
	ib.e.Ingest(b)
}

// BenchmarkIngestSteadyState is one poll of a 48-port switch (445 samples
// of series that exist) ingested with new values and evaluated by
// switchRules: the per-sample cost of Engine.Ingest (issue 13).
func BenchmarkIngestSteadyState(b *testing.B) {
	ib := newIngestBench(b, switchRules)
	n := len(ib.batches[0].Samples)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ib.step()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/sample")
}

// BenchmarkIngestShippedRules is BenchmarkIngestSteadyState with the
// shipped rules for SNMP devices (configs/rules.d/snmp.yaml), whose port
// rule joins two metrics: the general evaluation path.
func BenchmarkIngestShippedRules(b *testing.B) {
	ib := newIngestBench(b, shippedRules(b, "snmp.yaml"))
	n := len(ib.batches[0].Samples)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ib.step()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/sample")
}

// shippedRules reads one of the rule files in configs/rules.d.
func shippedRules(tb testing.TB, file string) []config.Rule {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "configs", "rules.d", file))
	if err != nil {
		tb.Fatal(err)
	}
	var doc struct {
		Rules []config.Rule `yaml:"rules"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil || len(doc.Rules) == 0 {
		tb.Fatalf("%s: %d rules, %v", file, len(doc.Rules), err)
	}
	return doc.Rules
}

// BenchmarkSeriesMemory reports the live heap per series (bytes/series):
// 100 switches (44,500 series) polled every 10 s for 25 minutes (the
// histories of the 10-minute windows in their steady state), the batches
// dropped, the heap measured after a collection.
func BenchmarkSeriesMemory(b *testing.B) {
	const switches, rounds = 100, 150
	rules, errs := CompileRules(&config.Config{Rules: switchRules})
	if len(errs) > 0 {
		b.Fatal(errs)
	}
	for i := 0; i < b.N; i++ {
		now := time.Unix(1_800_000_000, 0)
		intervals := map[string]time.Duration{}
		names := make([]string, switches)
		for t := range names {
			names[t] = fmt.Sprintf("sw%03d", t)
			intervals[names[t]] = 10 * time.Second
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		e := New(Options{Rules: rules, Intervals: intervals, Now: func() time.Time { return now }, Logger: discard()})
		for r := 0; r < rounds; r++ {
			for _, t := range names {
				e.Ingest(switchBatch(t, r, now))
			}
			now = now.Add(10 * time.Second)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		n, hist := 0, 0
		for _, ts := range e.targets {
			n += ts.count()
			for s := range ts.all() {
				if s.history != nil {
					hist += int(unsafe.Sizeof(point{})) * cap(s.ts)
				}
			}
		}
		if n != switches*445 {
			b.Fatalf("%d series, want %d", n, switches*445)
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(n), "bytes/series")
		// Of which the points windows read (99 of a switch's 445 series).
		b.ReportMetric(float64(hist)/float64(n), "history-bytes/series")
		runtime.KeepAlive(e)
	}
}
