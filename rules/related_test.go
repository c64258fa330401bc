package rules

import (
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/config"
)

// TestTemplateRelatedReadings: {{ metric }} reads the newest value of
// another metric of the alarm's target whose labels agree with the
// alarm's; what cannot be told for sure (none, two that fit, stale) is an
// error in the message, never a number from the wrong series.
func TestTemplateRelatedReadings(t *testing.T) {
	for _, tc := range []struct {
		name, summary, want string
		stale               bool
	}{
		{"a reading of the same device",
			`on battery, {{ metric "runtime" | duration }} left, charge {{ metric "charge" }} %`,
			"on battery, 7 min left, charge 96 %", false},
		{"the series of the alarm's own port, not the other's",
			`{{ metric "speed" }} bps`, "1000 bps", false},
		{"hasMetric words around a reading the device lacks",
			`{{ if hasMetric "load" }}load {{ metric "load" }}{{ else }}no load reading{{ end }}`, "no load reading", false},
		{"two series fit: an error, not a guess",
			`{{ metric "phase_volts" }} V`, `2 series fit the alarm on h`, false},
		{"none at all", `{{ metric "nothing" }}`, `metric "nothing": h reports none`, false},
		{"a stale reading", `charge {{ metric "charge" }} %`, `its newest value on h is`, true},
		{"the resolved wording and how long it lasted",
			`{{ if .Resolved }}back after {{ duration .Duration }}{{ else }}down{{ end }}`, "down", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, config.Rule{Name: "OnBattery", Expr: "on_battery == 1", Summary: tc.summary})
			h.feed(smp("on_battery", 1, "port", "1"), smp("runtime", 420), smp("charge", 96),
				smp("speed", 1000, "port", "1"), smp("speed", 10, "port", "2"),
				smp("phase_volts", 230, "phase", "1"), smp("phase_volts", 231, "phase", "2"))
			if tc.stale {
				// Later rounds lose the charge reading for longer than the
				// target's staleness (3 intervals).
				for range 5 {
					h.clock.Add(10 * time.Second)
					h.feed(smp("on_battery", 1, "port", "1"), smp("runtime", 420))
				}
			}
			as := h.e.Alarms()
			if len(as) != 1 {
				t.Fatalf("alarms %+v", as)
			}
			if !strings.Contains(as[0].Summary, tc.want) {
				t.Errorf("summary %q, want it to contain %q", as[0].Summary, tc.want)
			}
		})
	}
}

func TestTemplateResolvedSaysHowLong(t *testing.T) {
	h := newHarness(t, config.Rule{Name: "OnBattery", Expr: "on_battery == 1",
		Summary: `{{ if .Resolved }}back on mains after {{ duration .Duration }}{{ else }}on battery{{ end }}`})
	h.feed(smp("on_battery", 1))
	for range 24 {
		h.clock.Add(10 * time.Second)
		h.feed(smp("on_battery", 1))
	}
	h.clock.Add(10 * time.Second)
	h.feed(smp("on_battery", 0))
	h.want("firing:OnBattery", "resolved:OnBattery")
	if got := h.rec.events[1].Alarm.Summary; got != "back on mains after 4 min" {
		t.Errorf("RESOLVED summary %q, want %q", got, "back on mains after 4 min")
	}
	if got := h.rec.events[0].Alarm.Summary; got != "on battery" {
		t.Errorf("FIRING summary %q", got)
	}
}

// A rule's runbook is a template like its summary: where to read what to
// do, per device.
func TestRunbookRendered(t *testing.T) {
	h := newHarness(t, config.Rule{Name: "OnBattery", Expr: "on_battery == 1",
		Runbook: "https://wiki.example/runbooks/ups#{{ .Labels.target }}"})
	h.feed(smp("on_battery", 1))
	if as := h.e.Alarms(); len(as) != 1 || as[0].Runbook != "https://wiki.example/runbooks/ups#h" {
		t.Fatalf("alarms %+v, want the runbook https://wiki.example/runbooks/ups#h", as)
	}
	if _, errs := CompileRules(&config.Config{Rules: []config.Rule{{Name: "X", Expr: "a == 1", Runbook: "{{ .Nope }}"}}}); len(errs) == 0 ||
		!strings.Contains(errs[0].Error(), "runbook") {
		t.Errorf("a runbook naming a field that does not exist: errors %v, want one naming runbook", errs)
	}
}
