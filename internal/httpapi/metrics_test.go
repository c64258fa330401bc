package httpapi

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	pmodel "github.com/prometheus/common/model"
	"google.golang.org/protobuf/proto"

	"github.com/vedetta-dc/vedetta/internal/testclock"
	"github.com/vedetta-dc/vedetta/model"
	"github.com/vedetta-dc/vedetta/rules"
)

// engineSource is a Source whose samples come from a real rules engine,
// so that /metrics is tested against the engine's own filtering.
func engineSource(e *rules.Engine, help func(string) string) Source {
	return Source{
		Alarms:      func() []model.Alarm { return nil },
		Latest:      e.Latest,
		ExposeNames: e.ExposeNames,
		ExposeName:  e.ExposeName,
		Help:        help,
	}
}

// fakeSeries is a Source's samples without an engine (for values the
// engine does not store, NaN, and for the fuzzer's speed).
type fakeSeries struct {
	name string
	ls   model.Labels
	v    float64
}

func fakeSource(ss []fakeSeries, help func(string) string) Source {
	return Source{
		Help: help,
		ExposeNames: func(buf []string) []string {
			for _, s := range ss {
				if !slices.Contains(buf, s.name) {
					buf = append(buf, s.name)
				}
			}
			sort.Strings(buf)
			return buf
		},
		ExposeName: func(name string, fn func(model.Labels, float64)) {
			for _, s := range ss {
				if s.name == name {
					fn(s.ls, s.v)
				}
			}
		},
	}
}

func startMetrics(t *testing.T, src Source, reg *prometheus.Registry) string {
	t.Helper()
	if src.Alarms == nil {
		src.Alarms = func() []model.Alarm { return nil }
	}
	s, err := New("127.0.0.1:0", src, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return "http://" + s.Addr()
}

// /metrics carries a real TYPE for collected samples (counter for *_total,
// gauge otherwise), the HELP its source gives (an SNMP profile's help:),
// and no explicit timestamp: a value polled every 10 minutes must not
// fall out of Prometheus' 5-minute lookback.
func TestMetricsTypesHelpNoTimestamps(t *testing.T) {
	clock := testclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	polled := clock.Now().Add(-10 * time.Minute)
	e := rules.New(rules.Options{Now: clock.Now, Logger: slog.New(slog.DiscardHandler),
		Intervals: map[string]time.Duration{"sw1": 10 * time.Minute, "ups1": 10 * time.Minute, "h1": 10 * time.Minute}})
	for _, s := range []model.Sample{
		{Name: "if_in_bytes_total", Labels: model.L("target", "sw1", "ifname", "eth0"), Value: 1802190559312, Time: polled},
		{Name: "ups_input_voltage_volts", Labels: model.L("target", "ups1", "line", "1"), Value: 231.3, Time: polled},
		{Name: "smart_temperature_celsius", Labels: model.L("target", "h1", "disk", "sda"), Value: 34, Time: polled},
	} {
		e.Ingest(model.Batch{Target: s.Labels.Get("target"), Samples: []model.Sample{s}})
	}
	src := engineSource(e, func(name string) string {
		if name == "ups_input_voltage_volts" {
			return "upsInputVoltage, per input line"
		}
		return ""
	})
	resp, err := http.Get(startMetrics(t, src, prometheus.NewRegistry()) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body := string(b)
	for _, want := range []string{
		"# TYPE if_in_bytes_total counter\n",
		`if_in_bytes_total{ifname="eth0",target="sw1"} 1.802190559312e+12` + "\n",
		"# HELP ups_input_voltage_volts upsInputVoltage, per input line\n",
		"# TYPE ups_input_voltage_volts gauge\n",
		`ups_input_voltage_volts{line="1",target="ups1"} 231.3` + "\n",
		"# HELP smart_temperature_celsius Collected by vedetta.\n",
		"# TYPE smart_temperature_celsius gauge\n",
		`smart_temperature_celsius{disk="sda",target="h1"} 34` + "\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "untyped") {
		t.Errorf("/metrics still has untyped families:\n%s", body)
	}
	if got := resp.Header.Get("Content-Type"); got != exposeContentType {
		t.Errorf("Content-Type %q, want %q", got, exposeContentType)
	}
}

// summary is a parsed family in a comparable form: HELP, TYPE and one
// `{labels} value` string per series, in the order served.
type summary struct {
	Help, Type string
	Series     []string
}

func summarize(fams map[string]*dto.MetricFamily) map[string]summary {
	out := map[string]summary{}
	for name, f := range fams {
		s := summary{Help: f.GetHelp(), Type: strings.ToLower(f.GetType().String())}
		for _, m := range f.GetMetric() {
			ls := make(model.Labels, 0, len(m.GetLabel()))
			for _, l := range m.GetLabel() {
				ls = append(ls, model.Label{Name: l.GetName(), Value: l.GetValue()})
			}
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue() + m.GetUntyped().GetValue()
			s.Series = append(s.Series, ls.String()+" "+strconv.FormatFloat(v, 'g', -1, 64))
		}
		out[name] = s
	}
	return out
}

func parseExposition(t testing.TB, body []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(pmodel.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("the exposition does not parse: %v\n%s", err, body)
	}
	return fams
}

// The writer's text, parsed back by Prometheus' own parser: escaping,
// infinities, stale series left out, the registry's families after the
// samples (winning a name both have), gzip.
func TestExposition(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	help := func(name string) string {
		if name == "odd_help_ratio" {
			return `a \ backslash` + "\nand a newline"
		}
		return ""
	}
	cases := []struct {
		name     string
		samples  []model.Sample // target "t1" (30 s interval: stale after 90 s) unless labelled otherwise
		register func(reg *prometheus.Registry)
		gzip     bool
		want     map[string]summary
	}{{
		name: "escaped label values and HELP",
		samples: []model.Sample{
			{Name: "odd_help_ratio", Labels: model.L("target", "t1", "descr", `C:\ "quoted"`+"\nnext"), Value: 0.5, Time: now},
		},
		want: map[string]summary{"odd_help_ratio": {Help: `a \ backslash` + "\nand a newline", Type: "gauge",
			Series: []string{`{descr="C:\\ \"quoted\"\nnext",target="t1"} 0.5`}}},
	}, {
		name: "infinities, signs and sorted series",
		samples: []model.Sample{
			{Name: "x_total", Labels: model.L("target", "t1", "i", "2"), Value: math.Inf(-1), Time: now},
			{Name: "x_total", Labels: model.L("target", "t1", "i", "1"), Value: math.Inf(1), Time: now},
			{Name: "x_total", Labels: model.L("target", "t1", "i", "3"), Value: -1e-300, Time: now},
			{Name: "y", Labels: model.L("target", "t1"), Value: 0, Time: now},
		},
		want: map[string]summary{
			"x_total": {Help: defaultHelp, Type: "counter",
				Series: []string{`{i="1",target="t1"} +Inf`, `{i="2",target="t1"} -Inf`, `{i="3",target="t1"} -1e-300`}},
			"y": {Help: defaultHelp, Type: "gauge", Series: []string{`{target="t1"} 0`}},
		},
	}, {
		name: "stale series and families left out",
		samples: []model.Sample{
			{Name: "temp_celsius", Labels: model.L("target", "t1", "s", "fresh"), Value: 20, Time: now.Add(-80 * time.Second)},
			{Name: "temp_celsius", Labels: model.L("target", "t1", "s", "old"), Value: 21, Time: now.Add(-100 * time.Second)},
			{Name: "gone_celsius", Labels: model.L("target", "t1"), Value: 1, Time: now.Add(-time.Hour)},
		},
		want: map[string]summary{"temp_celsius": {Help: defaultHelp, Type: "gauge", Series: []string{`{s="fresh",target="t1"} 20`}}},
	}, {
		name: "registry wins a name both have, and comes after the samples",
		samples: []model.Sample{
			{Name: "vedetta_clash", Labels: model.L("target", "t1"), Value: 7, Time: now},
			{Name: "a_gauge", Labels: model.L("target", "t1"), Value: 1, Time: now},
		},
		register: func(reg *prometheus.Registry) {
			g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "vedetta_clash", Help: "vedetta's own."})
			g.Set(3)
			reg.MustRegister(g)
		},
		want: map[string]summary{
			"vedetta_clash": {Help: "vedetta's own.", Type: "gauge", Series: []string{"{} 3"}},
			"a_gauge":       {Help: defaultHelp, Type: "gauge", Series: []string{`{target="t1"} 1`}},
		},
	}, {
		name: "gzip",
		gzip: true,
		samples: []model.Sample{
			{Name: "z_bytes", Labels: model.L("target", "t1"), Value: 1.5e9, Time: now},
		},
		want: map[string]summary{"z_bytes": {Help: defaultHelp, Type: "gauge", Series: []string{`{target="t1"} 1.5e+09`}}},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clock := testclock.New(now)
			e := rules.New(rules.Options{Now: clock.Now, Logger: slog.New(slog.DiscardHandler)})
			for _, s := range c.samples {
				e.Ingest(model.Batch{Target: "t1", Samples: []model.Sample{s}})
			}
			reg := prometheus.NewRegistry()
			if c.register != nil {
				c.register(reg)
			}
			url := startMetrics(t, engineSource(e, help), reg)
			body, enc := fetchMetrics(t, url+"/metrics", c.gzip)
			if wantEnc := map[bool]string{true: "gzip"}[c.gzip]; enc != wantEnc {
				t.Errorf("Content-Encoding %q, want %q", enc, wantEnc)
			}
			got := summarize(parseExposition(t, body))
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("families\n got %v\nwant %v\n%s", got, c.want, body)
			}
			if c.register != nil {
				if i, j := bytes.Index(body, []byte("a_gauge")), bytes.Index(body, []byte("vedetta_clash")); i < 0 || j < i {
					t.Errorf("the registry's families are not after the samples:\n%s", body)
				}
			}
		})
	}
}

// fetchMetrics fetches url, asking for gzip or not, and returns the decompressed
// body and its Content-Encoding.
func fetchMetrics(t *testing.T, url string, gz bool) ([]byte, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if gz {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r io.Reader = resp.Body
	enc := resp.Header.Get("Content-Encoding")
	if enc == "gzip" {
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b, enc
}

func TestAcceptsGzip(t *testing.T) {
	for _, c := range []struct {
		header string
		want   bool
	}{
		{"", false},
		{"gzip", true},
		{"deflate, gzip;q=1.0, *;q=0.5", true},
		{"GZIP", true},
		{"gzip;q=0", false},
		{"identity", false},
		{"xgzip", false},
	} {
		h := http.Header{}
		if c.header != "" {
			h.Set("Accept-Encoding", c.header)
		}
		if got := acceptsGzip(h); got != c.want {
			t.Errorf("Accept-Encoding %q: gzip %v, want %v", c.header, got, c.want)
		}
	}
}

// failingWriter is a client that went away: every write fails. It counts
// the writes, and checks in each one that the engine's lock is free.
type failingWriter struct {
	header http.Header
	writes int
	locked func() bool
	t      *testing.T
}

func (w *failingWriter) Header() http.Header { return w.header }
func (w *failingWriter) WriteHeader(int)     {}
func (w *failingWriter) Write(p []byte) (int, error) {
	w.writes++
	if w.locked() {
		w.t.Error("/metrics writes to the network holding the engine's lock")
	}
	return 0, errors.New("broken pipe")
}

// A client that goes away ends the scrape at the first failed write, and
// no write to the client happens under the engine's lock.
func TestMetricsStopsWhenClientGoes(t *testing.T) {
	clock := testclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	e := rules.New(rules.Options{Now: clock.Now, Logger: slog.New(slog.DiscardHandler)})
	var b model.Batch
	b.Target = "t1"
	for i := range 5000 { // several bufio buffers' worth, in many families
		b.Samples = append(b.Samples, model.Sample{Name: fmt.Sprintf("m%03d_bytes", i%100),
			Labels: model.L("target", "t1", "i", strconv.Itoa(i)), Value: float64(i), Time: clock.Now()})
	}
	e.Ingest(b)
	locked := func() bool { // TargetUp takes the lock: from another goroutine, it waits while it is held
		done := make(chan struct{})
		go func() { e.TargetUp("t1"); close(done) }()
		select {
		case <-done:
			return false
		case <-time.After(5 * time.Second):
			return true
		}
	}
	w := &failingWriter{header: http.Header{}, locked: locked, t: t}
	x := newExposer(engineSource(e, nil), prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	x.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if w.writes != 1 {
		t.Errorf("%d writes to a client that went away, want 1", w.writes)
	}
}

// FuzzExposition: whatever the names, label values, HELP and values, the
// output parses, and carries back the value, label value and HELP of a
// series whose names the text format can carry; other series are left out.
func FuzzExposition(f *testing.F) {
	f.Add("if_in_bytes_total", "ifname", "eth0", "help", 1.5)
	f.Add("x", "le", "a\\\"\n\xff", "h\\\n\"", math.Inf(-1))
	f.Add("bad-name", "0bad", "", "", math.NaN())
	f.Add("y:colon", "__name", "\u00e9\u0000", "\t", -0.0)
	f.Fuzz(func(t *testing.T, name, lname, lval, help string, v float64) {
		ls := model.L("target", "t1", lname, lval)
		src := fakeSource([]fakeSeries{{name, ls, v}}, func(string) string { return help })
		x := newExposer(src, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
		w := httptest.NewRecorder()
		x.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		fams := parseExposition(t, w.Body.Bytes())
		carried := pmodel.LegacyValidation.IsValidMetricName(name) && pmodel.LegacyValidation.IsValidLabelName(lname) &&
			lname != "target" && utf8Valid(lval)
		f := fams[name]
		if !carried {
			if f != nil {
				t.Fatalf("a series the format cannot carry is served:\n%s", w.Body.Bytes())
			}
			return
		}
		if f == nil || len(f.GetMetric()) != 1 {
			t.Fatalf("the series of %q is not served once:\n%s", name, w.Body.Bytes())
		}
		m := f.GetMetric()[0]
		got := m.GetGauge().GetValue() + m.GetCounter().GetValue()
		if math.Float64bits(got) != math.Float64bits(v) && !(math.IsNaN(got) && math.IsNaN(v)) && got != v {
			t.Errorf("value %v served as %v", v, got)
		}
		want := model.L("target", "t1", lname, lval)
		var gotLs model.Labels
		for _, l := range m.GetLabel() {
			gotLs = append(gotLs, model.Label{Name: l.GetName(), Value: l.GetValue()})
		}
		if gotLs.String() != want.String() {
			t.Errorf("labels %s served as %s", want, gotLs)
		}
		if wantHelp := cmpHelp(help); f.GetHelp() != wantHelp {
			t.Errorf("HELP %q served as %q", wantHelp, f.GetHelp())
		}
	})
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\ufffd") == s }

// cmpHelp is the HELP the parser reads back: it skips the blanks after
// "# HELP name".
func cmpHelp(h string) string {
	if h == "" {
		return defaultHelp
	}
	return strings.TrimLeft(h, " \t")
}

// sampleGatherer is the old /metrics path (a dto.MetricFamily per family
// and a dto.Metric per series, merged by promhttp's Gatherers), kept for
// BenchmarkMetricsScrape's "before".
func sampleGatherer(latest func(fn func(string, model.Labels, float64, time.Time)), help func(string) string) prometheus.GathererFunc {
	return func() ([]*dto.MetricFamily, error) {
		fams := map[string]*dto.MetricFamily{}
		latest(func(name string, ls model.Labels, v float64, _ time.Time) {
			f := fams[name]
			counter := strings.HasSuffix(name, "_total")
			if f == nil {
				h := help(name)
				if h == "" {
					h = defaultHelp
				}
				typ := dto.MetricType_GAUGE
				if counter {
					typ = dto.MetricType_COUNTER
				}
				f = &dto.MetricFamily{Name: proto.String(name), Help: proto.String(h), Type: typ.Enum()}
				fams[name] = f
			}
			m := &dto.Metric{}
			if counter {
				m.Counter = &dto.Counter{Value: proto.Float64(v)}
			} else {
				m.Gauge = &dto.Gauge{Value: proto.Float64(v)}
			}
			for _, l := range ls {
				m.Label = append(m.Label, &dto.LabelPair{Name: proto.String(l.Name), Value: proto.String(l.Value)})
			}
			f.Metric = append(f.Metric, m)
		})
		out := make([]*dto.MetricFamily, 0, len(fams))
		for _, f := range fams {
			out = append(out, f)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
		return out, nil
	}
}

// discardWriter is a client that reads everything and keeps nothing.
type discardWriter struct {
	header http.Header
	n      int
}

func (w *discardWriter) Header() http.Header         { return w.header }
func (w *discardWriter) WriteHeader(int)             {}
func (w *discardWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

// BenchmarkMetricsScrape: one scrape of 100k series (100 targets of 1,000
// series in 40 families), the old Gatherer path against the stream.
func BenchmarkMetricsScrape(b *testing.B) {
	clock := testclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	e := rules.New(rules.Options{Now: clock.Now, Logger: slog.New(slog.DiscardHandler)})
	for tg := range 100 {
		batch := model.Batch{Target: fmt.Sprintf("switch-%d", tg)}
		for i := range 1000 {
			batch.Samples = append(batch.Samples, model.Sample{Name: fmt.Sprintf("if_metric_%02d_total", i%40),
				Labels: model.L("target", batch.Target, "ifname", fmt.Sprintf("Ethernet1/%d", i/40), "class", "switch"),
				Value:  float64(i) * 1234.5, Time: clock.Now()})
		}
		e.Ingest(batch)
	}
	help := func(string) string { return "" }
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGoCollector())
	for _, h := range []struct {
		name string
		h    http.Handler
	}{
		{"gatherer", promhttp.HandlerFor(prometheus.Gatherers{reg, sampleGatherer(e.Latest, help)}, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})},
		{"stream", newExposer(engineSource(e, help), reg, slog.New(slog.DiscardHandler))},
	} {
		b.Run(h.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			b.ReportAllocs()
			for b.Loop() {
				w := &discardWriter{header: http.Header{}}
				h.h.ServeHTTP(w, req)
				if w.n < 100000*40 {
					b.Fatalf("scrape of %d bytes", w.n)
				}
			}
		})
	}
}
