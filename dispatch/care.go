package dispatch

import (
	"fmt"
	"sort"
	"time"

	"github.com/vedetta-dc/vedetta/model"

	"github.com/vedetta-dc/vedetta/internal/store"
)

// Housekeeping: what time alone changes (held-back events whose reason
// ended, repeats, escalations, expired acks, due groups).

// needsCare says whether housekeeping has anything to do for n at now:
// an expired ack, a held-back event whose reason ended, a repeat or an
// escalation step due. Caller holds d.mu.
func (d *Dispatcher) needsCare(n *Notice, now time.Time) bool {
	if n.Ack != nil && now.After(n.Ack.Expires) {
		return true
	}
	if n.Waiting != "" {
		return d.muted(n, now) == ""
	}
	if !n.Firing || n.Ack != nil || n.FirstTold.IsZero() {
		return false
	}
	rs := routesFor(d.routes, n.Alarm)
	if len(rs) == 0 {
		return false
	}
	rt := d.routes[rs[0]]
	due := n.Steps < len(rt.Escalate) && now.Sub(n.FirstTold) >= rt.Escalate[n.Steps].After ||
		rt.Repeat > 0 && now.Sub(n.LastTold) >= rt.Repeat
	return due && d.muted(n, now) == ""
}

// housekeeping runs every second: held-back notices whose reason ended,
// repeats, escalations, expired acks, due groups.
func (d *Dispatcher) housekeeping() {
	now := d.now()
	d.mu.Lock()
	var ids []string
	for id, n := range d.notices {
		if d.needsCare(n, now) {
			ids = append(ids, id)
		}
	}
	d.mu.Unlock()
	if len(ids) == 0 && !d.ob.holding() {
		// Nothing to write: no empty transaction (a bbolt commit is a
		// meta page and two fsyncs, every second, on an idle daemon).
		d.prune(now)
		return
	}
	sort.Strings(ids)
	err := d.store.Update(func(tx store.Tx) error {
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, id := range ids {
			n := d.loadNotice(tx, id)
			if n == nil {
				continue
			}
			if err := d.care(tx, n, now); err != nil {
				return err
			}
		}
		return d.flushGroups(tx, now)
	})
	if err != nil {
		d.log.Error("notification housekeeping failed", "err", err)
	}
	d.prune(now)
}

// care does what needsCare found for one notice. Caller holds d.mu.
func (d *Dispatcher) care(tx store.Tx, n *Notice, now time.Time) error {
	if n.Ack != nil && now.After(n.Ack.Expires) {
		d.log.Info("acknowledgement expired", "alarm", n.AlarmID, "by", n.Ack.By)
		n.Ack = nil
	}
	if n.Waiting != "" && d.muted(n, now) == "" {
		ev := n.WaitingEvent
		if ev == model.EventResolved {
			if err := d.tell(tx, n, model.EventResolved, d.resolvedRecipients(n), now); err != nil {
				return err
			}
			return d.dropNotice(tx, n.AlarmID)
		}
		if err := d.releaseHeld(tx, n, now); err != nil { // the end of the previous episode first
			return err
		}
		switch {
		case n.Firing && (len(n.Told) == 0 || ev == model.EventFiring):
			// Still firing when the silence or the outage ended.
			if err := d.tell(tx, n, model.EventFiring, d.routeRecipients(n), now); err != nil {
				return err
			}
		case n.Firing:
			if err := d.tell(tx, n, ev, d.toldRecipients(n), now); err != nil {
				return err
			}
		case len(n.Told) > 0:
			// Settled while muted (a held FLAPPING or STOPPED FLAPPING)
			// and resolved now: whoever heard this episode's FIRING hears
			// its end, or would believe it still firing.
			if err := d.tell(tx, n, model.EventResolved, d.resolvedRecipients(n), now); err != nil {
				return err
			}
			return d.dropNotice(tx, n.AlarmID)
		default:
			n.Waiting, n.WaitingEvent = "", ""
		}
	}
	// No repeat or escalation while muted: they are due again, and go
	// out, when the silence ends (a muted repeat would take the place of
	// a held event).
	if n.Firing && n.Ack == nil && !n.FirstTold.IsZero() && n.Waiting == "" && d.muted(n, now) == "" {
		if err := d.repeatAndEscalate(tx, n, now); err != nil {
			return err
		}
	}
	return d.saveNotice(tx, n)
}

// repeatAndEscalate applies the alarm's first route's repeat and
// escalation steps.
func (d *Dispatcher) repeatAndEscalate(tx store.Tx, n *Notice, now time.Time) error {
	rs := routesFor(d.routes, n.Alarm)
	if len(rs) == 0 {
		return nil
	}
	ri := rs[0]
	rt := d.routes[ri]
	for i := n.Steps; i < len(rt.Escalate); i++ {
		step := rt.Escalate[i]
		if now.Sub(n.FirstTold) < step.After {
			break
		}
		// Escalation receivers are reached on every channel they have: the
		// route's channel list is for its own receivers.
		to := expand(d.receivers, d.schedules(), now, step.Receivers, nil, d.configured, ri)
		d.log.Warn("escalating unacknowledged alarm", "alarm", n.AlarmID, "step", i+1, "receivers", fmt.Sprint(step.Receivers))
		n.Steps = i + 1
		if err := d.tell(tx, n, model.EventEscalated, to, now); err != nil {
			return err
		}
	}
	if rt.Repeat > 0 && now.Sub(n.LastTold) >= rt.Repeat {
		return d.tell(tx, n, model.EventRepeat, d.toldRecipients(n), now)
	}
	return nil
}
