package alerting

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/vedetta-dc/vedetta/internal/store"
)

// Notice is the notification state of one alarm episode (from firing to
// resolved): who was told, when, the escalation reached, the ack.
type Notice struct {
	AlarmID   string      `json:"alarm_id"`
	Alarm     Alarm       `json:"alarm"`      // latest snapshot, for messages
	Firing    bool        `json:"firing"`     // firing or stale
	FirstTold time.Time   `json:"first_told"` // first firing notice of the episode
	LastTold  time.Time   `json:"last_told"`  // last firing/repeat notice
	Steps     int         `json:"steps"`      // escalation steps done
	Told      []Recipient `json:"told"`
	// Waiting says why an event is held back ("silenced", "depends on X"):
	// it goes out when that ends, if it still holds.
	Waiting      string    `json:"waiting,omitempty"`
	WaitingEvent EventKind `json:"waiting_event,omitempty"`
	N            int       `json:"n"` // notification counter: part of idempotency keys
	Ack          *Ack      `json:"ack,omitempty"`
}

// Ack is an acknowledgement: it stops repeats and escalation until it
// expires, the episode ends or the severity rises.
type Ack struct {
	By       string    `json:"by"`
	Comment  string    `json:"comment"`
	At       time.Time `json:"at"`
	Expires  time.Time `json:"expires"`
	Severity string    `json:"severity"`
}

// DefaultAckTTL is how long an ack holds when none is given.
const DefaultAckTTL = 4 * time.Hour

// ErrNoAlarm is returned for an unknown or not firing alarm.
var ErrNoAlarm = errors.New("no firing alarm with that id")

func severityRank(s string) int {
	switch s {
	case "critical":
		return 3
	case "warning":
		return 2
	case "info":
		return 1
	}
	return 0
}

func (d *Dispatcher) putNotice(tx store.Tx, n *Notice) error {
	b, err := json.Marshal(n)
	if err != nil {
		return err
	}
	return tx.Put(store.Notices, n.AlarmID, b)
}

// Update is called (inside the engine's transaction) for every alarm change
// with the event people should hear about, if any.
func (d *Dispatcher) Update(tx store.Tx, a Alarm, ev EventKind) error {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.notices[a.ID]
	if n == nil {
		if ev == "" || ev == EventResolved || ev == EventStale {
			return nil // nobody was told about this alarm: nothing to say
		}
		n = &Notice{AlarmID: a.ID}
		d.notices[a.ID] = n
	}
	prevSev := n.Alarm.Severity
	n.Alarm = a
	n.Firing = a.State == StateFiring || a.State == StateStale
	switch ev {
	case EventFiring:
		// A new episode: nobody has been told about it yet.
		n.Told, n.Steps, n.Ack, n.FirstTold, n.LastTold = nil, 0, nil, time.Time{}, time.Time{}
		d.tell(tx, n, EventFiring, d.routeRecipients(n), now)
	case EventFlapping, EventFlapEnd:
		d.tell(tx, n, ev, d.routeRecipients(n), now)
	case EventStale:
		d.tell(tx, n, ev, d.toldRecipients(n), now)
	case EventResolved:
		if len(n.Told) == 0 {
			// Held back all along (silence, dependency): the episode ended
			// before anyone needed to hear of it.
			delete(d.notices, a.ID)
			return tx.Delete(store.Notices, a.ID)
		}
		d.tell(tx, n, ev, d.toldRecipients(n), now)
		if n.Waiting == "" {
			delete(d.notices, a.ID)
			return tx.Delete(store.Notices, a.ID)
		}
	case "":
		if n.Ack != nil && severityRank(a.Severity) > severityRank(n.Ack.Severity) && prevSev != "" {
			// Worse than what was acknowledged: tell people again.
			n.Ack = nil
			d.tell(tx, n, EventFiring, d.routeRecipients(n), now)
		}
		if !n.Firing && n.Waiting == "" && a.State != StateResolved {
			delete(d.notices, a.ID)
			return tx.Delete(store.Notices, a.ID)
		}
	}
	return d.putNotice(tx, n)
}

// muted says why notices for n are held back now, or "".
func (d *Dispatcher) muted(n *Notice, now time.Time) string {
	for _, s := range d.silenceList() {
		if s.Active(now) && s.Matches(&n.Alarm) {
			if s.Comment != "" {
				return "silenced: " + s.Comment
			}
			return "silenced"
		}
	}
	if d.TargetUp != nil {
		for _, p := range d.parents[n.Alarm.Labels["target"]] {
			if up, known := d.TargetUp(p); known && !up {
				return "depends on " + p + ", which is down"
			}
		}
	}
	return ""
}

// tell sends ev about n to recipients now, through their route's group, or
// holds it while the alarm is muted.
func (d *Dispatcher) tell(tx store.Tx, n *Notice, ev EventKind, to []routed, now time.Time) {
	if why := d.muted(n, now); why != "" {
		if n.Waiting == "" {
			d.log.Info("notification held back", "alarm", n.AlarmID, "event", ev, "why", why)
		}
		n.Waiting, n.WaitingEvent = why, ev
		return
	}
	n.Waiting, n.WaitingEvent = "", ""
	if len(to) == 0 {
		return
	}
	n.N++
	if ev == EventFiring || ev == EventFlapping || ev == EventRepeat || ev == EventEscalated {
		if n.FirstTold.IsZero() {
			n.FirstTold = now
		}
		n.LastTold = now
	}
	for _, r := range to {
		if !containsRecipient(n.Told, r.Recipient) && ev != EventResolved {
			n.Told = append(n.Told, r.Recipient)
		}
	}
	if err := d.deliver(tx, n, ev, to, now); err != nil {
		d.log.Error("cannot queue notification", "alarm", n.AlarmID, "err", err)
	}
}

func containsRecipient(list []Recipient, r Recipient) bool {
	for _, x := range list {
		if x == r {
			return true
		}
	}
	return false
}

// routeRecipients is everyone the alarm's routes name.
func (d *Dispatcher) routeRecipients(n *Notice) []routed {
	var out []routed
	for _, i := range routesFor(d.routes, n.Alarm) {
		rt := d.routes[i]
		out = append(out, expand(d.receivers, rt.Receivers, rt.Channels, d.configured, i)...)
	}
	return out
}

// toldRecipients is everyone told about this episode: resolved notices go
// to all of them, escalation receivers included.
func (d *Dispatcher) toldRecipients(n *Notice) []routed {
	rs := routesFor(d.routes, n.Alarm)
	route := -1
	if len(rs) > 0 {
		route = rs[0]
	}
	out := make([]routed, 0, len(n.Told))
	for _, r := range n.Told {
		out = append(out, routed{route, r})
	}
	return out
}

func (d *Dispatcher) configured(ch string) bool {
	_, ok := d.channels[ch]
	return ok
}

// Ack acknowledges a firing alarm.
func (d *Dispatcher) Ack(id, by, comment string, ttl time.Duration) (*Notice, error) {
	if ttl <= 0 {
		ttl = DefaultAckTTL
	}
	var out Notice
	err := d.store.Update(func(tx store.Tx) error {
		d.mu.Lock()
		defer d.mu.Unlock()
		n := d.notices[id]
		if n == nil || !n.Firing {
			return ErrNoAlarm
		}
		now := d.now()
		n.Ack = &Ack{By: by, Comment: comment, At: now, Expires: now.Add(ttl), Severity: n.Alarm.Severity}
		out = *n
		return d.putNotice(tx, n)
	})
	if err != nil {
		return nil, err
	}
	d.log.Info("alarm acknowledged", "alarm", id, "by", by, "comment", comment, "until", out.Ack.Expires.Format(time.RFC3339))
	return &out, nil
}

// Notice returns the notification state of one alarm (nil if none).
func (d *Dispatcher) Notice(id string) *Notice {
	d.mu.Lock()
	defer d.mu.Unlock()
	if n := d.notices[id]; n != nil {
		c := *n
		return &c
	}
	return nil
}

// housekeeping runs every second: held-back notices whose reason ended,
// repeats, escalations, expired acks, due groups.
func (d *Dispatcher) housekeeping() {
	now := d.now()
	err := d.store.Update(func(tx store.Tx) error {
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, n := range d.notices {
			changed := false
			if n.Ack != nil && now.After(n.Ack.Expires) {
				d.log.Info("acknowledgement expired", "alarm", n.AlarmID, "by", n.Ack.By)
				n.Ack, changed = nil, true
			}
			if n.Waiting != "" && d.muted(n, now) == "" {
				ev := n.WaitingEvent
				if ev == EventResolved {
					d.tell(tx, n, ev, d.toldRecipients(n), now)
					delete(d.notices, n.AlarmID)
					if err := tx.Delete(store.Notices, n.AlarmID); err != nil {
						return err
					}
					continue
				}
				if n.Firing {
					// Still firing when the silence or the outage ended.
					d.tell(tx, n, EventFiring, d.routeRecipients(n), now)
				} else {
					n.Waiting, n.WaitingEvent = "", ""
				}
				changed = true
			}
			if n.Firing && n.Ack == nil && !n.FirstTold.IsZero() && n.Waiting == "" {
				changed = d.repeatAndEscalate(tx, n, now) || changed
			}
			if changed {
				if err := d.putNotice(tx, n); err != nil {
					return err
				}
			}
		}
		return d.flushGroups(tx, now)
	})
	if err != nil {
		d.log.Error("notification housekeeping failed", "err", err)
	}
	d.prune(now)
}

// repeatAndEscalate applies the alarm's first route's repeat and
// escalation steps.
func (d *Dispatcher) repeatAndEscalate(tx store.Tx, n *Notice, now time.Time) bool {
	rs := routesFor(d.routes, n.Alarm)
	if len(rs) == 0 {
		return false
	}
	ri := rs[0]
	rt := d.routes[ri]
	changed := false
	for i := n.Steps; i < len(rt.Escalate); i++ {
		step := rt.Escalate[i]
		if now.Sub(n.FirstTold) < step.After {
			break
		}
		// Escalation receivers are reached on every channel they have: the
		// route's channel list is for its own receivers.
		to := expand(d.receivers, step.Receivers, nil, d.configured, ri)
		d.log.Warn("escalating unacknowledged alarm", "alarm", n.AlarmID, "step", i+1, "receivers", fmt.Sprint(step.Receivers))
		n.Steps = i + 1
		d.tell(tx, n, EventEscalated, to, now)
		changed = true
	}
	if rt.Repeat > 0 && now.Sub(n.LastTold) >= rt.Repeat {
		d.tell(tx, n, EventRepeat, d.toldRecipients(n), now)
		changed = true
	}
	return changed
}
