package rules

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/model"
)

func TestRewriteDurations(t *testing.T) {
	for in, want := range map[string]string{
		"rate(m, 5m) > 1":              "rate(m, 300) > 1",
		"delta(t, 10m) > 5":            "delta(t, 600) > 5",
		"absent(x, 1.5h)":              "absent(x, 5400)",
		"host_load1 > 2":               "host_load1 > 2",
		`labels.name == "5m" && x > 1`: `labels.name == "5m" && x > 1`,
		"increase(a, 2d) > 500ms":      "increase(a, 172800) > 0.5",
		"v.5m > 1":                     "v.5m > 1",
	} {
		if got := rewriteDurations(in); got != want {
			t.Errorf("rewriteDurations(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	for src, want := range map[string]string{
		"x >":               "cannot parse expression",
		"rate(x) > 1":       "rate() takes a metric and a duration",
		"rate(1, 5m) > 1":   "first argument of rate() must be a metric",
		"rate(x, y) > 1":    "second argument of rate() must be a duration",
		"1 > 0":             "reads no metric",
		`x + "a"`:           "cannot parse expression",
		"absent(x, 0s)":     "must be a duration",
		"labels.a == \"b\"": "reads no metric",
	} {
		_, err := compile(src, true)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("compile(%q): %v, want %q", src, err, want)
		}
	}
}

func TestValueSource(t *testing.T) {
	for in, want := range map[string]string{
		"host_filesystem_used_ratio > 0.9":                   "host_filesystem_used_ratio",
		"host_load5 / host_cpus > 4":                         "host_load5 / host_cpus",
		`labels.mountpoint == "/" && used > 0.5`:             "used",
		"host_network_admin_up == 1 && host_network_up == 0": "host_network_admin_up",
		// A state test is not the number a message reports.
		"ups_on_battery == 1 && ups_battery_runtime_seconds < 600": "ups_battery_runtime_seconds",
		"ups_on_battery == 1":  "ups_on_battery",
		"a != 0 || b > 3":      "b",
		"delta(temp, 10m) > 5": `delta(temp, 600)`,
	} {
		if got := valueSource(in); got != want {
			t.Errorf("valueSource(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWindowFunctions(t *testing.T) {
	s := &series{}
	t0 := time.Unix(1000, 0)
	// A counter sampled every 10 s, reset once (50 -> 5).
	for i, v := range []float64{0, 10, 20, 50, 5, 15} {
		s.add(t0.Add(time.Duration(i)*10*time.Second).UnixNano(), v, int64(time.Hour))
	}
	now := t0.Add(50 * time.Second).UnixNano()
	from := func(d time.Duration) int64 { return now - int64(d) }
	cases := []struct {
		fn   string
		win  time.Duration
		want float64
	}{
		{"increase", time.Hour, 10 + 10 + 30 + 5 + 10},
		{"rate", time.Hour, 65.0 / 50},
		{"delta", 20 * time.Second, 15 - 50},
		{"max_over", time.Hour, 50},
		{"min_over", 25 * time.Second, 5},
		{"avg_over", 15 * time.Second, 10},
		{"count_over", 25 * time.Second, 3},
	}
	for _, c := range cases {
		if got := s.window(c.fn, from(c.win)); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("%s over %v = %v, want %v", c.fn, c.win, got, c.want)
		}
	}
	if !math.IsNaN((&series{}).window("rate", 0)) {
		t.Error("rate of an empty series is not NaN")
	}
}

func TestSeriesTrims(t *testing.T) {
	s := &series{}
	for i := 0; i < 10000; i++ {
		s.add(int64(i)*int64(time.Second), float64(i), int64(time.Minute))
	}
	if len(s.ts) > 130 {
		t.Fatalf("series keeps %d points for a 1-minute window at 1 s", len(s.ts))
	}
	if v := s.window("max_over", int64(9999-59)*int64(time.Second)); v != 9999 {
		t.Fatalf("max_over after trimming = %v", v)
	}
}

func TestJoinsAndLabels(t *testing.T) {
	// Two metrics joined on shared labels; a third label filters.
	ls := func(pairs ...string) model.Labels {
		return model.L(append([]string{"target", "h", "class", "host"}, pairs...)...)
	}
	b := map[string]*series{"a": {labelSet: &labelSet{labels: ls("mountpoint", "/")}}}
	if !compatibleWith(b, ls()) {
		t.Error("a target-level series does not join a per-mountpoint one")
	}
	if compatibleWith(b, ls("mountpoint", "/var")) {
		t.Error("different mountpoints joined")
	}
	if !compatibleWith(b, ls("mountpoint", "/", "device", "sda")) {
		t.Error("superset labels not joined")
	}
}
