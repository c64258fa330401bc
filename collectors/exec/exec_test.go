package exec

import (
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/collectors/collectortest"
	"github.com/vedetta-dc/vedetta/model"
)

// renderSorted prints the samples one a line, sorted (unlike
// collectortest.Render, which keeps their order).
func renderSorted(samples []model.Sample) string {
	var lines []string
	for _, s := range samples {
		lines = append(lines, s.Name+s.Labels.String()+" "+strconv.FormatFloat(s.Value, 'g', -1, 64))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}

func TestNagiosPerfdataGolden(t *testing.T) {
	var got []model.Sample
	for _, f := range []string{"nagios.txt", "nagios_long.txt"} {
		b, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		parseNagiosPerfdata(string(b), func(s model.Sample) { got = append(got, s) })
	}
	collectortest.Golden(t, filepath.Join("testdata", "nagios.golden"), renderSorted(got))
}

func TestPrometheusGolden(t *testing.T) {
	b, _ := os.ReadFile(filepath.Join("testdata", "exposition.prom"))
	var got []model.Sample
	if err := parsePrometheus(b, func(s model.Sample) { got = append(got, s) }); err != nil {
		t.Fatal(err)
	}
	collectortest.Golden(t, filepath.Join("testdata", "exposition.golden"), renderSorted(got))
	if err := parsePrometheus([]byte("broken{ 1\n"), func(model.Sample) {}); err == nil {
		t.Error("malformed exposition accepted")
	}
}

func newCollector(t *testing.T, yaml map[string]any, timeout time.Duration) (collectors.Collector, error) {
	t.Helper()
	return New(collectors.Spec{Name: "x", Timeout: timeout, BaseDir: t.TempDir()}, func(out any) error {
		o := out.(*struct {
			Exec Options `yaml:"exec"`
		})
		o.Exec.Command, _ = yaml["command"].([]string)
		o.Exec.Format, _ = yaml["format"].(string)
		return nil
	})
}

func TestRunPlugins(t *testing.T) {
	cases := []struct {
		name    string
		script  string
		format  string
		status  float64 // -1: no check_status expected
		wantErr string
	}{
		{"ok", "echo 'OK|x=1'", "nagios", 0, ""},
		{"critical", "echo 'CRIT|x=1'; exit 2", "nagios", 2, ""},
		{"unknown", "exit 3", "nagios", 3, ""},
		{"outside the API", "exit 42", "nagios", 3, "exited 42"},
		{"prometheus exit code", "echo 'a 1'; exit 1", "prometheus", -1, "exited 1"},
		{"hangs", "sleep 30", "nagios", -1, "did not finish within"},
		{"forks a child that hangs", "sleep 30 & echo 'OK|x=1'; wait", "nagios", -1, "did not finish within"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			col, err := newCollector(t, map[string]any{"command": []string{"/bin/sh", "-c", c.script}, "format": c.format}, 500*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			got, err := collectortest.Collect(col, 0)
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %v with a 500ms timeout", d)
			}
			if !collectortest.ErrMatches(err, c.wantErr) {
				t.Fatalf("err %v, want %q", err, c.wantErr)
			}
			if c.status >= 0 {
				if len(got) == 0 || got[0].Name != "check_status" || got[0].Value != c.status {
					t.Fatalf("samples %v, want check_status %v", got, c.status)
				}
			}
		})
	}
}

func TestOptionsValidated(t *testing.T) {
	if _, err := newCollector(t, map[string]any{"format": "nagios"}, time.Second); err == nil || !strings.HasPrefix(err.Error(), "exec.command:") {
		t.Errorf("missing command: %v", err)
	}
	if _, err := newCollector(t, map[string]any{"command": []string{"/bin/true"}, "format": "xml"}, time.Second); err == nil || !strings.HasPrefix(err.Error(), "exec.format:") {
		t.Errorf("bad format: %v", err)
	}
}

// An exec target in format: prometheus is reported under its own target,
// class and labels: whatever its exposition says; a clashing label of the
// exposition is kept as exported_<name> when its value differs, dropped
// when it is the target's own.
func TestPrometheusExpositionKeepsItsTarget(t *testing.T) {
	cases := []struct {
		name   string
		line   string            // one sample of the exposition
		labels map[string]string // the target's labels:
		want   string            // the sample's labels after the scheduler
	}{
		{"no clash", `m{k="v"} 1`, nil,
			`{class="exec",k="v",target="pdu1"}`},
		{"foreign target", `m{target="other"} 1`, nil,
			`{class="exec",exported_target="other",target="pdu1"}`},
		{"foreign target and class", `m{target="other",class="x"} 1`, nil,
			`{class="exec",exported_class="x",exported_target="other",target="pdu1"}`},
		{"foreign target, class and a device label", `m{class="x",outlet="3",target="other"} 1`, map[string]string{"room": "r101"},
			`{class="exec",exported_class="x",exported_target="other",outlet="3",room="r101",target="pdu1"}`},
		{"labels: overlapping a device label", `m{outlet="3",room="r999"} 1`, map[string]string{"room": "r101"},
			`{class="exec",exported_room="r999",outlet="3",room="r101",target="pdu1"}`},
		{"labels: equal to a device label", `m{room="r101"} 1`, map[string]string{"room": "r101"},
			`{class="exec",room="r101",target="pdu1"}`},
		{"own target repeated", `m{target="pdu1"} 1`, nil,
			`{class="exec",target="pdu1"}`},
		{"exported_target already taken", `m{exported_target="a",target="b"} 1`, nil,
			`{class="exec",exported_exported_target="b",exported_target="a",target="pdu1"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			prom := filepath.Join(dir, "out.prom")
			if err := os.WriteFile(prom, []byte(c.line+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			spec := collectors.Spec{Name: "pdu1", Kind: "exec", Class: "exec", Interval: time.Minute, Timeout: 5 * time.Second,
				Labels: c.labels, BaseDir: dir}
			col, err := New(spec, func(out any) error {
				o := out.(*struct {
					Exec Options `yaml:"exec"`
				})
				o.Exec = Options{Command: []string{"cat", prom}, Format: "prometheus"}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			s := collectors.NewScheduler([]collectors.Target{{Spec: spec, Collector: col}}, 1, func(model.Batch) {}, slog.New(slog.DiscardHandler))
			b, err := s.CollectOnce(t.Context(), "pdu1")
			if err != nil || b.Err != nil {
				t.Fatalf("collect: %v, %v", err, b.Err)
			}
			var got []string
			for _, smp := range b.Samples {
				if smp.Name == "m" {
					got = append(got, smp.Labels.String())
				}
			}
			if len(got) != 1 || got[0] != c.want {
				t.Errorf("m%v, want m%s", got, c.want)
			}
		})
	}
}
