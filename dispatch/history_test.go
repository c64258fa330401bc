package dispatch

import (
	"errors"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/store"
	"github.com/vedetta-dc/vedetta/model"
)

// The history holds each alarm event and each notification's outcome,
// newest first, filtered by target or alarm, and forgets what is older
// than the retention.
func TestHistory(t *testing.T) {
	x := newDTest(t, baseConfig())
	a := firing("u1", "critical", "target", "ups-a")
	x.event(a, model.EventFiring)
	x.run()
	x.clock.Add(time.Minute)
	b := firing("p1", "warning", "target", "pdu-1")
	x.event(b, model.EventFiring)
	x.event(resolved(a), model.EventResolved)
	x.advance(2 * time.Minute)
	all, err := x.d.History(x.clock.Now().Add(-time.Hour), "", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var alarms, delivered int
	for i, e := range all {
		if i > 0 && e.At.After(all[i-1].At) {
			t.Errorf("not newest first: %v after %v", e.At, all[i-1].At)
		}
		switch {
		case e.Kind == "alarm":
			alarms++
		case e.Kind == "notification" && e.Outcome == DeliveryDelivered && e.Provider != "":
			delivered++
		}
	}
	// u1 firing, resolved; p1 firing. u1: FIRING and RESOLVED by SMS and
	// e-mail to oncall; p1: e-mail to fac.
	if alarms != 3 || delivered != 5 {
		t.Errorf("%d alarm events, %d delivered notifications; want 3 and 5: %+v", alarms, delivered, all)
	}
	ups, _ := x.d.History(x.clock.Now().Add(-time.Hour), "ups-a", "", 100)
	for _, e := range ups {
		if e.Kind == "alarm" && e.Target != "ups-a" {
			t.Errorf("target filter let through %+v", e)
		}
	}
	if len(ups) != 6 {
		t.Errorf("%d entries for ups-a, want 6 (2 events, 4 notifications)", len(ups))
	}
	one, _ := x.d.History(x.clock.Now().Add(-time.Hour), "", "p1", 100)
	if len(one) != 2 {
		t.Errorf("%d entries for alarm p1, want 2", len(one))
	}
	// Past the retention: pruned.
	x.clock.Add(8 * 24 * time.Hour)
	x.d.lastPrune = time.Time{}
	x.d.prune(x.clock.Now())
	if left, _ := x.d.History(time.Time{}, "", "", 100); len(left) != 0 {
		t.Errorf("%d entries left after the retention", len(left))
	}
}

// A history write that fails fails the transaction: the alarm change is
// retried whole, never recorded without its history or the reverse.
func TestHistoryWriteIsPartOfTheChange(t *testing.T) {
	x := newDTest(t, baseConfig())
	err := x.st.Update(func(tx store.Tx) error {
		if err := x.d.Update(tx, firing("u1", "critical", "target", "ups-a"), model.EventFiring); err != nil {
			return err
		}
		return errors.New("disk full")
	})
	if err == nil {
		t.Fatal("no error")
	}
	if h, _ := x.d.History(time.Time{}, "", "", 10); len(h) != 0 {
		t.Errorf("history of a change that was not recorded: %+v", h)
	}
}
