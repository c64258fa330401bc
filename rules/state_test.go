package rules

import (
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/model"
)

// The state machine is a pure function: every transition is a table row.
func TestStep(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	min := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	type in struct {
		present, cond, clear, hasClear bool
		forDur                         time.Duration
		now                            time.Time
	}
	cases := []struct {
		name      string
		from      model.Alarm
		in        in
		wantState model.State
		wantEvent model.EventKind
	}{
		{"inactive stays", model.Alarm{}, in{present: true, now: min(0)}, "", ""},
		{"inactive to pending", model.Alarm{}, in{present: true, cond: true, forDur: 2 * time.Minute, now: min(0)}, model.StatePending, ""},
		{"inactive to firing with for 0", model.Alarm{}, in{present: true, cond: true, now: min(0)}, model.StateFiring, model.EventFiring},
		{"pending waits", model.Alarm{State: model.StatePending, ActiveAt: min(0)}, in{present: true, cond: true, forDur: 2 * time.Minute, now: min(1)}, model.StatePending, ""},
		{"pending fires after for", model.Alarm{State: model.StatePending, ActiveAt: min(0)}, in{present: true, cond: true, forDur: 2 * time.Minute, now: min(2)}, model.StateFiring, model.EventFiring},
		{"pending drops when false", model.Alarm{State: model.StatePending, ActiveAt: min(0)}, in{present: true, forDur: 2 * time.Minute, now: min(1)}, "", ""},
		{"pending drops without data", model.Alarm{State: model.StatePending, ActiveAt: min(0)}, in{now: min(1)}, "", ""},
		{"firing stays", model.Alarm{State: model.StateFiring}, in{present: true, cond: true, now: min(5)}, model.StateFiring, ""},
		{"firing resolves", model.Alarm{State: model.StateFiring}, in{present: true, now: min(5)}, model.StateResolved, model.EventResolved},
		{"hysteresis holds between thresholds", model.Alarm{State: model.StateFiring}, in{present: true, hasClear: true, now: min(5)}, model.StateFiring, ""},
		{"hysteresis clears", model.Alarm{State: model.StateFiring}, in{present: true, hasClear: true, clear: true, now: min(5)}, model.StateResolved, model.EventResolved},
		{"clear alone does not resolve while cond holds", model.Alarm{State: model.StateFiring}, in{present: true, cond: true, hasClear: true, clear: true, now: min(5)}, model.StateFiring, ""},
		{"firing without data goes stale, never resolved", model.Alarm{State: model.StateFiring}, in{now: min(5)}, model.StateStale, model.EventStale},
		{"stale stays stale silently", model.Alarm{State: model.StateStale}, in{now: min(6)}, model.StateStale, ""},
		{"stale back to firing", model.Alarm{State: model.StateStale}, in{present: true, cond: true, now: min(7)}, model.StateFiring, ""},
		{"stale resolves when data shows it is over", model.Alarm{State: model.StateStale}, in{present: true, now: min(7)}, model.StateResolved, model.EventResolved},
		{"resolved fires again", model.Alarm{State: model.StateResolved, ResolvedAt: min(1)}, in{present: true, cond: true, now: min(3)}, model.StateFiring, model.EventFiring},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := c.from
			ev := step(&a, c.in.present, c.in.cond, c.in.clear, c.in.hasClear, c.in.forDur, c.in.now)
			if a.State != c.wantState || ev != c.wantEvent {
				t.Fatalf("state %q event %q, want %q %q", a.State, ev, c.wantState, c.wantEvent)
			}
			if ev == model.EventFiring && !a.FiringAt.Equal(c.in.now) {
				t.Errorf("FiringAt %v", a.FiringAt)
			}
			if ev == model.EventResolved && !a.ResolvedAt.Equal(c.in.now) {
				t.Errorf("ResolvedAt %v", a.ResolvedAt)
			}
		})
	}
}

func TestAlarmIDStable(t *testing.T) {
	a := model.AlarmID("R", map[string]string{"target": "x", "mountpoint": "/"})
	b := model.AlarmID("R", map[string]string{"mountpoint": "/", "target": "x"})
	c := model.AlarmID("R", map[string]string{"mountpoint": "/var", "target": "x"})
	if a != b || a == c || len(a) != 10 {
		t.Fatalf("ids %s %s %s", a, b, c)
	}
}
