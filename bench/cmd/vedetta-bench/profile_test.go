package main

import (
	"math"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

// stack builds a sample from function names, leaf first; a name holding
// "+" is one location with inlined frames (innermost first).
func stack(value int64, names ...string) *profile.Sample {
	s := &profile.Sample{Value: []int64{value, value}}
	for _, n := range names {
		loc := &profile.Location{}
		for _, f := range strings.Split(n, "+") {
			loc.Line = append(loc.Line, profile.Line{Function: &profile.Function{Name: f}})
		}
		s.Location = append(s.Location, loc)
	}
	return s
}

const m = modulePath + "/"

func TestAttributeStack(t *testing.T) {
	for _, c := range []struct {
		name  string
		stack []string
		want  string
	}{
		{"decode leaf", []string{m + "internal/snmpwire.(*Message).Decode", m + "collectors/snmp.(*client).exchange"}, compSnmpwire},
		{"walks up to the first named frame", []string{"bytes.(*Buffer).Write", "strconv.AppendInt", m + "collectors/snmp.normalize", m + "collectors.(*Scheduler).collect"}, compSNMP},
		{"scheduler", []string{"sort.Slice", m + "collectors.(*Scheduler).collect"}, compCollectors},
		{"gosnmp", []string{"encoding/asn1.Marshal", "github.com/gosnmp/gosnmp.(*SnmpPacket).marshalMsg"}, compGosnmp},
		{"a socket under gosnmp is the socket's", []string{"syscall.Syscall6", "internal/poll.(*FD).Write", "net.(*conn).Write", "github.com/gosnmp/gosnmp.(*GoSNMP).send"}, compNet},
		{"net/http is not net", []string{"net/http.(*conn).serve"}, compOther},
		{"/metrics", []string{"strconv.AppendFloat", m + "internal/httpapi.writeMetrics", "net/http.HandlerFunc.ServeHTTP"}, compHTTPAPI},
		{"/metrics encoded by the Prometheus client", []string{"github.com/prometheus/client_model/go.(*LabelPair).GetValue", "github.com/prometheus/common/expfmt.MetricFamilyToText", "github.com/prometheus/client_golang/prometheus/promhttp.HandlerForTransactional.func1", "net/http.HandlerFunc.ServeHTTP"}, compHTTPAPI},
		{"rules and a subpackage", []string{m + "rules/rulestest.x"}, compRules},
		{"series store", []string{"maps.Copy", m + "rules.(*store).put", m + "rules.(*Engine).Ingest"}, compRules},
		{"dispatch", []string{m + "dispatch.(*Dispatcher).send"}, compNotify},
		{"notify/email", []string{"crypto/tls.(*Conn).Write", m + "notify/email.(*Sender).Send"}, compNotify},
		{"allocation is GC's", []string{"runtime.memclrNoHeapPointers", "runtime.mallocgc", m + "internal/snmpwire.(*Message).Decode"}, compGC},
		{"background marking", []string{"runtime.scanobject", "runtime.gcDrain", "runtime.gcBgMarkWorker"}, compGC},
		{"inlined: the innermost frame first", []string{m + "internal/snmpwire.readLen+" + m + "collectors/snmp.(*view).addVB"}, compSnmpwire},
		{"scheduler of goroutines", []string{"runtime.futex", "runtime.findRunnable", "runtime.schedule"}, compRuntime},
		{"nothing named", []string{"compress/flate.(*compressor).deflate", "main.main"}, compOther},
		{"empty", nil, compOther},
	} {
		var st []string
		for _, f := range c.stack {
			st = append(st, strings.Split(f, "+")...)
		}
		if got := attributeStack(st); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
		// The same through a profile sample: frames() reads the stack.
		if got := attributeStack(frames(stack(1, c.stack...))); got != c.want {
			t.Errorf("%s (sample): %q, want %q", c.name, got, c.want)
		}
	}
}

func TestAttribute(t *testing.T) {
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		Sample: []*profile.Sample{
			stack(3e9, m+"internal/snmpwire.(*Message).Decode", m+"collectors/snmp.(*client).exchange"),
			stack(1e9, m+"internal/snmpwire.readLen", m+"collectors/snmp.(*client).exchange"),
			stack(2e9, "runtime.scanobject", "runtime.gcBgMarkWorker"),
			stack(1e9, m+"collectors/snmp.normalize"),
			stack(1e9, m+"collectors/snmp.intern"),
			stack(1e9, m+"collectors/snmp.(*view).at"),
			stack(5e8, m+"collectors/snmp.(*view).addVB"),
			stack(5e8, "main.main"),
			stack(0, m+"rules.(*Engine).Eval"), // no value: no row
		},
	}
	tab, err := attribute(p, "cpu", "CPU s", 1e-9)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name       string
		value, pct float64
		top        []string
	}{
		{compSnmpwire, 4, 40, []string{"internal/snmpwire.(*Message).Decode", "internal/snmpwire.readLen"}},
		{compSNMP, 3.5, 35, []string{"collectors/snmp.(*view).at", "collectors/snmp.intern", "collectors/snmp.normalize"}},
		{compGC, 2, 20, []string{"runtime.scanobject"}},
		{compOther, 0.5, 5, []string{"main.main"}},
	}
	if len(tab.rows) != len(want) {
		t.Fatalf("rows %+v, want %d", tab.rows, len(want))
	}
	for i, w := range want {
		r := tab.rows[i]
		var top []string
		for _, f := range r.top {
			top = append(top, f.name)
		}
		if r.name != w.name || math.Abs(r.value-w.value) > 1e-9 || math.Abs(r.share-w.pct) > 1e-9 || strings.Join(top, ",") != strings.Join(w.top, ",") {
			t.Errorf("row %d = %s %.2f %.1f%% %v, want %s %.2f %.1f%% %v", i, r.name, r.value, r.share, top, w.name, w.value, w.pct, w.top)
		}
	}
	if tab.total != 10 || tab.samples != 8 {
		t.Errorf("total %.2f over %d samples, want 10 over 8", tab.total, tab.samples)
	}
	md := tab.markdown()
	if !strings.Contains(md, "| internal/snmpwire (decode) | 4.00 | 40.0 % | `internal/snmpwire.(*Message).Decode` 3.00, `internal/snmpwire.readLen` 1.00 |") {
		t.Errorf("markdown:\n%s", md)
	}
	if _, err := attribute(p, "inuse_space", "MB", 1); err == nil || !strings.Contains(err.Error(), "samples, cpu") {
		t.Errorf("a missing sample type: err %v", err)
	}
}

func TestPackageOf(t *testing.T) {
	for fn, want := range map[string]string{
		"runtime.mallocgc":                        "runtime",
		"net/http.(*conn).serve":                  "net/http",
		m + "collectors/snmp.(*client).exchange":  m + "collectors/snmp",
		"github.com/gosnmp/gosnmp.(*GoSNMP).send": "github.com/gosnmp/gosnmp",
		"gopkg.in/yaml%2ev3.(*parser).parse":      "gopkg.in/yaml%2ev3",
	} {
		if got := packageOf(fn); got != want {
			t.Errorf("packageOf(%q) = %q, want %q", fn, got, want)
		}
	}
}
