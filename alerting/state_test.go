package alerting

import (
	"testing"
	"time"
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
		from      Alarm
		in        in
		wantState State
		wantEvent EventKind
	}{
		{"inactive stays", Alarm{}, in{present: true, now: min(0)}, "", ""},
		{"inactive to pending", Alarm{}, in{present: true, cond: true, forDur: 2 * time.Minute, now: min(0)}, StatePending, ""},
		{"inactive to firing with for 0", Alarm{}, in{present: true, cond: true, now: min(0)}, StateFiring, EventFiring},
		{"pending waits", Alarm{State: StatePending, ActiveAt: min(0)}, in{present: true, cond: true, forDur: 2 * time.Minute, now: min(1)}, StatePending, ""},
		{"pending fires after for", Alarm{State: StatePending, ActiveAt: min(0)}, in{present: true, cond: true, forDur: 2 * time.Minute, now: min(2)}, StateFiring, EventFiring},
		{"pending drops when false", Alarm{State: StatePending, ActiveAt: min(0)}, in{present: true, forDur: 2 * time.Minute, now: min(1)}, "", ""},
		{"pending drops without data", Alarm{State: StatePending, ActiveAt: min(0)}, in{now: min(1)}, "", ""},
		{"firing stays", Alarm{State: StateFiring}, in{present: true, cond: true, now: min(5)}, StateFiring, ""},
		{"firing resolves", Alarm{State: StateFiring}, in{present: true, now: min(5)}, StateResolved, EventResolved},
		{"hysteresis holds between thresholds", Alarm{State: StateFiring}, in{present: true, hasClear: true, now: min(5)}, StateFiring, ""},
		{"hysteresis clears", Alarm{State: StateFiring}, in{present: true, hasClear: true, clear: true, now: min(5)}, StateResolved, EventResolved},
		{"clear alone does not resolve while cond holds", Alarm{State: StateFiring}, in{present: true, cond: true, hasClear: true, clear: true, now: min(5)}, StateFiring, ""},
		{"firing without data goes stale, never resolved", Alarm{State: StateFiring}, in{now: min(5)}, StateStale, EventStale},
		{"stale stays stale silently", Alarm{State: StateStale}, in{now: min(6)}, StateStale, ""},
		{"stale back to firing", Alarm{State: StateStale}, in{present: true, cond: true, now: min(7)}, StateFiring, ""},
		{"stale resolves when data shows it is over", Alarm{State: StateStale}, in{present: true, now: min(7)}, StateResolved, EventResolved},
		{"resolved fires again", Alarm{State: StateResolved, ResolvedAt: min(1)}, in{present: true, cond: true, now: min(3)}, StateFiring, EventFiring},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := c.from
			ev := step(&a, c.in.present, c.in.cond, c.in.clear, c.in.hasClear, c.in.forDur, c.in.now)
			if a.State != c.wantState || ev != c.wantEvent {
				t.Fatalf("state %q event %q, want %q %q", a.State, ev, c.wantState, c.wantEvent)
			}
			if ev == EventFiring && !a.FiringAt.Equal(c.in.now) {
				t.Errorf("FiringAt %v", a.FiringAt)
			}
			if ev == EventResolved && !a.ResolvedAt.Equal(c.in.now) {
				t.Errorf("ResolvedAt %v", a.ResolvedAt)
			}
		})
	}
}

func TestAlarmIDStable(t *testing.T) {
	a := alarmID("R", map[string]string{"target": "x", "mountpoint": "/"})
	b := alarmID("R", map[string]string{"mountpoint": "/", "target": "x"})
	c := alarmID("R", map[string]string{"mountpoint": "/var", "target": "x"})
	if a != b || a == c || len(a) != 10 {
		t.Fatalf("ids %s %s %s", a, b, c)
	}
}
