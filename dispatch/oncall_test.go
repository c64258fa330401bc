package dispatch

import (
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/model"
	"github.com/vedetta-dc/vedetta/oncall"
)

// A receiver with oncall: is whoever the rotation has on call when the
// alarm is notified; its RESOLVED goes to the person who was told, even
// after the hand-off; an escalation to "next" reaches the person after.
func TestOnCallResolvedAtNotifyTime(t *testing.T) {
	var node yaml.Node
	if err := yaml.Unmarshal([]byte(`
- name: primary
  every: 12h
  start: 2026-11-28 00:00
  people: [alice, bob, carol]
`), &node); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{
		Schedules: node.Content[0],
		Receivers: []config.Receiver{
			{Name: "alice", Email: []string{"alice@x.example"}},
			{Name: "bob", Email: []string{"bob@x.example"}},
			{Name: "carol", Email: []string{"carol@x.example"}},
			{Name: "primary", OnCall: "primary"},
			{Name: "secondary", OnCall: "primary", Next: 1},
		},
		Routes: []config.Route{{Receivers: []string{"primary"}, Escalate: []config.Escalation{{After: 10 * time.Minute, Receivers: []string{"secondary"}}}}},
	}
	x := newDTest(t, cfg) // 2026-11-28 12:00 UTC: bob's shift (12:00-24:00)
	a := firing("a1", "critical", "target", "ups-a")
	x.event(a, model.EventFiring)
	x.run()
	x.want("email:firing>bob@x.example")
	x.advance(11 * time.Minute) // not acknowledged: the next person in the rotation
	x.want("email:firing>bob@x.example", "email:escalated>carol@x.example")

	x.clock.Add(time.Date(2026, 11, 29, 0, 30, 0, 0, time.UTC).Sub(x.clock.Now())) // carol's shift now
	x.event(resolved(a), model.EventResolved)
	x.run()
	// The RESOLVED goes to those told, not to whoever is on call now.
	x.want("email:firing>bob@x.example", "email:escalated>carol@x.example",
		"email:resolved>bob@x.example", "email:resolved>carol@x.example")

	b := firing("b1", "warning", "target", "pdu-3")
	x.event(b, model.EventFiring)
	x.run()
	x.clock.Add(time.Date(2026, 11, 29, 12, 30, 0, 0, time.UTC).Sub(x.clock.Now())) // alice's
	c := firing("c1", "warning", "target", "pdu-4")
	x.event(c, model.EventFiring)
	x.run()
	got := x.sink.got()
	// b1, unacknowledged for 12 h, escalates to the person after the one
	// on call at that moment (alice, then bob).
	if len(got) != 7 || got[4] != "email:firing>carol@x.example" || got[5] != "email:firing>alice@x.example" ||
		got[6] != "email:escalated>bob@x.example" {
		t.Fatalf("after the hand-offs: %v", got)
	}
}

// A run-time override wins over the rotation while it lasts, survives a
// restart (it is in the store), and ends when removed; a bad one is
// refused.
func TestOnCallRuntimeOverride(t *testing.T) {
	var node yaml.Node
	if err := yaml.Unmarshal([]byte("- {name: primary, every: week, start: 2026-11-23 09:00, people: [alice, bob]}\n"), &node); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{
		Schedules: node.Content[0],
		Receivers: []config.Receiver{
			{Name: "alice", Email: []string{"alice@x.example"}}, {Name: "bob", Email: []string{"bob@x.example"}},
			{Name: "carol", Email: []string{"carol@x.example"}}, {Name: "primary", OnCall: "primary"},
		},
		Routes: []config.Route{{Receivers: []string{"primary"}}},
	}
	x := newDTest(t, cfg) // 2026-11-28 12:00: alice's week
	now := x.clock.Now()
	if _, err := x.d.AddOverride(oncall.Override{Schedule: "primary", Person: "mallory", From: now, Until: now.Add(time.Hour)}); err == nil {
		t.Error("an override for someone who is no receiver was accepted")
	}
	if _, err := x.d.AddOverride(oncall.Override{Schedule: "backup", Person: "carol", From: now, Until: now.Add(time.Hour)}); err == nil {
		t.Error("an override of a schedule that does not exist was accepted")
	}
	o, err := x.d.AddOverride(oncall.Override{Schedule: "primary", Person: "carol", From: now, Until: now.Add(2 * time.Hour), By: "anna"})
	if err != nil {
		t.Fatal(err)
	}
	d2, err := NewDispatcher(x.st, cfg, nil, discard()) // a restart
	if err != nil {
		t.Fatal(err)
	}
	d2.now = x.clock.Now
	if who, _ := d2.OnCall().Who("primary", 0, now.Add(time.Minute)); who != "carol" {
		t.Errorf("after a restart %s is on call, want carol (the override)", who)
	}
	x.event(firing("a1", "critical", "target", "ups-a"), model.EventFiring)
	x.run()
	x.want("email:firing>carol@x.example")
	if err := x.d.RemoveOverride(o.ID); err != nil {
		t.Fatal(err)
	}
	if who, _ := x.d.OnCall().Who("primary", 0, x.clock.Now()); who != "alice" {
		t.Errorf("after removing the override %s is on call, want alice", who)
	}
	if err := x.d.RemoveOverride(o.ID); err == nil {
		t.Error("an override removed twice")
	}
}
