package dispatch

import (
	"errors"
	"fmt"

	"github.com/vedetta-dc/vedetta/internal/store"
	"github.com/vedetta-dc/vedetta/model"
)

// Keys pressed on a phone call: 4 acknowledges what the call was about, 6
// runs the next escalation step at once. Only a call vedetta placed to
// that number counts, found in the ledger as AckByReply finds an SMS.

// ErrNoStep is EscalateNow on an alarm whose route has no step left.
var ErrNoStep = errors.New("no escalation step left")

// callAlarms are the alarms of the calls with ref placed to number.
func callAlarms(l ReplyLedger, number, ref string) ([]string, error) {
	ds, err := l.Deliveries("")
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	found := false
	var ids []string
	for _, x := range ds {
		if x.Channel != "voice" || x.Recipient != number || x.Ref != ref {
			continue
		}
		found = true
		for _, id := range x.AlarmIDs {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	if !found {
		return nil, fmt.Errorf("no call about %s was placed to %s", ref, number)
	}
	return ids, nil
}

// AckByCall acknowledges the alarms of the call with ref (the delivery's
// Ref: an alarm's or a group's id) placed to number, on behalf of by. It
// reports how many alarms were acknowledged (0: none was still firing).
func AckByCall(l ReplyLedger, number, ref, by string) (int, error) {
	ids, err := callAlarms(l, number, ref)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		switch _, err := l.Ack(id, by, "by phone call to "+number, 0); {
		case errors.Is(err, ErrNoAlarm):
			// resolved meanwhile
		case err != nil:
			return n, err
		default:
			n++
		}
	}
	return n, nil
}

// EscalateByCall runs the next escalation step of the alarms of the call
// with ref placed to number ("6" pressed); it reports how many alarms
// escalated (0: none had a step left, or was still firing and
// unacknowledged).
func EscalateByCall(d *Dispatcher, number, ref, by string) (int, error) {
	ids, err := callAlarms(d, number, ref)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		switch _, err := d.EscalateNow(id, by); {
		case errors.Is(err, ErrNoAlarm), errors.Is(err, ErrNoStep):
		case err != nil:
			return n, err
		default:
			n++
		}
	}
	return n, nil
}

// EscalateNow runs the alarm's next escalation step now rather than at its
// after:, and returns its number (1 for the first). An acknowledged,
// resolved or silenced alarm does not escalate (ErrNoAlarm, or an error
// saying why); the later steps keep their own after: from the first
// notification.
func (d *Dispatcher) EscalateNow(id, by string) (int, error) {
	step := 0
	err := d.store.Update(func(tx store.Tx) error {
		d.mu.Lock()
		defer d.mu.Unlock()
		n := d.loadNotice(tx, id)
		if n == nil || !n.Firing {
			return ErrNoAlarm
		}
		if n.Ack != nil {
			return fmt.Errorf("%s is acknowledged by %s: %w", id, n.Ack.By, ErrNoStep)
		}
		now := d.now()
		if why := d.muted(n, now); why != "" {
			return fmt.Errorf("%s is held back (%s): %w", id, why, ErrNoStep)
		}
		rs := routesFor(d.routes, n.Alarm)
		if len(rs) == 0 || n.Steps >= len(d.routes[rs[0]].Escalate) {
			return ErrNoStep
		}
		ri := rs[0]
		st := d.routes[ri].Escalate[n.Steps]
		to := expand(d.receivers, d.oncall, now, st.Receivers, nil, d.configured, ri)
		n.Steps++
		step = n.Steps
		d.log.Warn("escalating at once", "alarm", id, "step", step, "by", by, "receivers", fmt.Sprint(st.Receivers))
		if err := d.tell(tx, n, model.EventEscalated, to, now); err != nil {
			return err
		}
		return d.saveNotice(tx, n)
	})
	return step, err
}
