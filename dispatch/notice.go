package dispatch

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vedetta-dc/vedetta/model"

	"github.com/vedetta-dc/vedetta/internal/store"
)

// Notice is the notification state of one alarm episode (from firing to
// resolved): who was told, when, the escalation reached, the ack.
type Notice struct {
	AlarmID   string      `json:"alarm_id"`
	Alarm     model.Alarm `json:"alarm"`      // latest snapshot, for messages
	Firing    bool        `json:"firing"`     // firing or stale
	FirstTold time.Time   `json:"first_told"` // first firing notice of the episode
	LastTold  time.Time   `json:"last_told"`  // last firing/repeat notice
	Steps     int         `json:"steps"`      // escalation steps done
	Told      []Recipient `json:"told"`
	// Waiting says why an event is held back ("silenced", "depends on X"):
	// it goes out when that ends, if it still holds.
	Waiting      string          `json:"waiting,omitempty"`
	WaitingEvent model.EventKind `json:"waiting_event,omitempty"`
	// HeldResolved is who still has to hear that the previous episode
	// ended: its RESOLVED was held back (a silence) when the alarm fired
	// again. It goes out, before anything of the new episode, when the
	// hold ends.
	HeldResolved []Recipient `json:"held_resolved,omitempty"`
	Ack          *Ack        `json:"ack,omitempty"`
	// Unacked is what earlier acks of this episode said, once withdrawn
	// (Unack): the next ack carries it on in its Earlier.
	Unacked []AckNote `json:"unacked,omitempty"`
}

// Ack is an acknowledgement: it stops repeats and escalation until it
// expires, the episode ends or the severity rises.
type Ack struct {
	By       string    `json:"by"`
	Comment  string    `json:"comment"`
	At       time.Time `json:"at"`
	Expires  time.Time `json:"expires"`
	Severity string    `json:"severity"`
	// Earlier are the acks of this episode this one replaced, latest
	// first: a second ack does not wipe what the first one said.
	Earlier []AckNote `json:"earlier,omitempty"`
}

// AckNote is an earlier ack of an episode.
type AckNote struct {
	By      string    `json:"by"`
	Comment string    `json:"comment,omitempty"`
	At      time.Time `json:"at"`
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

// loadNotice reads an alarm's notice in tx (which sees its own writes).
// A record that cannot be decoded counts as none: the episode is then
// treated as new, which errs on the side of telling people.
func (d *Dispatcher) loadNotice(tx store.Tx, id string) *Notice {
	b := tx.Get(store.Notices, id)
	if b == nil {
		return nil
	}
	var n Notice
	if err := json.Unmarshal(b, &n); err != nil {
		d.log.Error("corrupt notice record ignored", "alarm", id, "err", err)
		return nil
	}
	return &n
}

// saveNotice writes n; the in-memory copy follows when tx commits.
func (d *Dispatcher) saveNotice(tx store.Tx, n *Notice) error {
	b, err := json.Marshal(n)
	if err != nil {
		return err
	}
	if err := tx.Put(store.Notices, n.AlarmID, b); err != nil {
		return err
	}
	c := *n
	c.Told = slices.Clone(n.Told)
	tx.OnCommit(func() {
		d.mu.Lock()
		d.notices[c.AlarmID] = &c
		d.mu.Unlock()
	})
	return nil
}

// dropNotice ends an episode's notice; memory follows on commit.
func (d *Dispatcher) dropNotice(tx store.Tx, id string) error {
	if err := tx.Delete(store.Notices, id); err != nil {
		return err
	}
	tx.OnCommit(func() {
		d.mu.Lock()
		delete(d.notices, id)
		d.mu.Unlock()
	})
	return nil
}

// Update is called (inside the engine's transaction) for every alarm change
// with the event people should hear about, if any. It changes nothing in
// memory unless that transaction commits.
func (d *Dispatcher) Update(tx store.Tx, a model.Alarm, ev model.EventKind) error {
	now := d.now()
	if ev != "" {
		if err := historyOfAlarm(tx, a, ev, now); err != nil {
			return err
		}
	}
	d.noteStanding(tx, a)
	n := d.loadNotice(tx, a.ID)
	if n == nil {
		if ev == "" || ev == model.EventResolved || ev == model.EventStale {
			return nil // nobody was told about this alarm: nothing to say
		}
		n = &Notice{AlarmID: a.ID}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	prevSev := n.Alarm.Severity
	n.Alarm = a
	n.Firing = a.State == model.StateFiring || a.State == model.StateStale
	if ev == model.EventFiring && n.Waiting != "" && n.WaitingEvent != model.EventFiring {
		// The previous episode's end is still held back: its RESOLVED, or
		// a STOPPED FLAPPING or FLAPPING (a new FIRING means that flap
		// settled resolved). Keep who must hear it, apart from the new
		// episode.
		n.HeldResolved = mergeRecipients(n.HeldResolved, n.Told)
		n.Told = nil
	}
	if err := d.releaseHeld(tx, n, now); err != nil {
		return err
	}
	var err error
	switch ev {
	case model.EventFiring:
		// A new episode: nobody has been told about it yet.
		n.Told, n.Steps, n.Ack, n.Unacked, n.FirstTold, n.LastTold = nil, 0, nil, nil, time.Time{}, time.Time{}
		err = d.tell(tx, n, model.EventFiring, d.routeRecipients(n), now)
	case model.EventFlapping, model.EventFlapEnd:
		err = d.tell(tx, n, ev, d.routeRecipients(n), now)
	case model.EventStale:
		if len(n.Told) == 0 {
			break // never told (held back): the hold's own event stands
		}
		if n.Ack != nil && now.Before(n.Ack.Expires) {
			// Someone has it in hand; they hear when it resolves.
			d.log.Info("NO DATA not notified: the alarm is acknowledged", "alarm", n.AlarmID, "by", n.Ack.By)
			break
		}
		err = d.tell(tx, n, ev, d.toldRecipients(n), now)
	case model.EventResolved:
		if len(n.Told) == 0 && n.Waiting != "" && n.WaitingEvent != model.EventResolved && d.muted(n, now) == "" {
			// Held back, and the hold ended before housekeeping could let
			// the FIRING out (a full disk): the episode was real outside
			// the hold, so it is told, then its end.
			if err := d.tell(tx, n, model.EventFiring, d.routeRecipients(n), now); err != nil {
				return err
			}
		}
		if len(n.Told) == 0 && len(n.HeldResolved) == 0 {
			// Held back all along (silence, dependency): the episode ended
			// before anyone needed to hear of it.
			return d.dropNotice(tx, a.ID)
		}
		if n.Waiting != "" && n.WaitingEvent != model.EventResolved && len(n.Told) == 0 {
			// This episode was never told; only the held RESOLVED of the
			// previous one is owed, when the hold ends.
			n.WaitingEvent = model.EventResolved
			break
		}
		if err := d.tell(tx, n, ev, d.resolvedRecipients(n), now); err != nil {
			return err
		}
		if n.Waiting == "" {
			return d.dropNotice(tx, a.ID)
		}
	case "":
		if n.Ack != nil && severityRank(a.Severity) > severityRank(n.Ack.Severity) && prevSev != "" {
			// Worse than what was acknowledged: tell people again.
			n.Ack = nil
			err = d.tell(tx, n, model.EventFiring, d.routeRecipients(n), now)
		}
		if err == nil && !n.Firing && n.Waiting == "" && a.State != model.StateResolved {
			return d.dropNotice(tx, a.ID)
		}
	}
	if err != nil {
		return err
	}
	return d.saveNotice(tx, n)
}

// tell sends ev about n to recipients now, through their route's group, or
// holds it while the alarm is muted.
//
// A failure to queue is returned: the whole transaction is then retried,
// never half-applied.
func (d *Dispatcher) tell(tx store.Tx, n *Notice, ev model.EventKind, to []routed, now time.Time) error {
	if why := d.muted(n, now); why != "" {
		if n.Waiting == "" {
			d.log.Info("notification held back", "alarm", n.AlarmID, "event", ev, "why", why)
		}
		n.Waiting, n.WaitingEvent = why, ev
		return nil
	}
	n.Waiting, n.WaitingEvent = "", ""
	if len(to) == 0 {
		return nil
	}
	if ev == model.EventFiring || ev == model.EventFlapping || ev == model.EventRepeat || ev == model.EventEscalated {
		if n.FirstTold.IsZero() {
			n.FirstTold = now
		}
		n.LastTold = now
	}
	for _, r := range to {
		if !containsRecipient(n.Told, r.Recipient) && ev != model.EventResolved {
			n.Told = append(n.Told, r.Recipient)
		}
	}
	return d.deliver(tx, n, ev, to, now)
}

func containsRecipient(list []Recipient, r Recipient) bool {
	for _, x := range list {
		if x == r {
			return true
		}
	}
	return false
}

// releaseHeld sends the held RESOLVED of a previous episode once nothing
// mutes the alarm any more: before any event of the current one.
func (d *Dispatcher) releaseHeld(tx store.Tx, n *Notice, now time.Time) error {
	if len(n.HeldResolved) == 0 || d.muted(n, now) != "" {
		return nil
	}
	waiting, ev := n.Waiting, n.WaitingEvent
	if err := d.tell(tx, n, model.EventResolved, d.asRouted(n, n.HeldResolved), now); err != nil {
		return err
	}
	n.HeldResolved = nil
	n.Waiting, n.WaitingEvent = waiting, ev // the current episode's hold is its own
	return nil
}

func mergeRecipients(a, b []Recipient) []Recipient {
	for _, r := range b {
		if !containsRecipient(a, r) {
			a = append(a, r)
		}
	}
	return a
}

// resolvedRecipients is everyone owed a RESOLVED: those told of this
// episode and those of an earlier one whose RESOLVED was held back.
func (d *Dispatcher) resolvedRecipients(n *Notice) []routed {
	return d.asRouted(n, mergeRecipients(slices.Clone(n.HeldResolved), n.Told))
}

// routeRecipients is everyone the alarm's routes name.
func (d *Dispatcher) routeRecipients(n *Notice) []routed {
	var out []routed
	for _, i := range routesFor(d.routes, n.Alarm) {
		rt := d.routes[i]
		out = append(out, expand(d.receivers, d.schedules(), d.now(), rt.Receivers, rt.Channels, d.configured, i)...)
	}
	return out
}

// toldRecipients is everyone told about this episode: resolved notices go
// to all of them, escalation receivers included.
func (d *Dispatcher) toldRecipients(n *Notice) []routed { return d.asRouted(n, n.Told) }

func (d *Dispatcher) asRouted(_ *Notice, list []Recipient) []routed {
	out := make([]routed, 0, len(list))
	for _, r := range list {
		route := r.Route
		if route >= len(d.routes) {
			route = -1 // the config changed: no grouping
		}
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
		n := d.loadNotice(tx, id)
		if n == nil || !n.Firing {
			return ErrNoAlarm
		}
		now := d.now()
		ack := &Ack{By: by, Comment: comment, At: now, Expires: now.Add(ttl), Severity: n.Alarm.Severity}
		if prev := n.Ack; prev != nil {
			ack.Earlier = append([]AckNote{{By: prev.By, Comment: prev.Comment, At: prev.At}}, prev.Earlier...)
		} else {
			ack.Earlier = n.Unacked
		}
		n.Ack, n.Unacked = ack, nil
		d.mu.Lock() // tellAck reads the silences (muted) and the receivers
		err := d.tellAck(tx, n, now)
		d.mu.Unlock()
		if err != nil {
			return err
		}
		out = *n
		return d.saveNotice(tx, n)
	})
	if err != nil {
		return nil, err
	}
	d.log.Info("alarm acknowledged", "alarm", id, "by", by, "comment", comment, "until", out.Ack.Expires.Format(time.RFC3339))
	return &out, nil
}

// Unack withdraws the acknowledgement of a firing alarm: repeats and
// escalation go on from where they are (a step whose time has passed runs
// at the next housekeeping). The withdrawn ack stays in the history of
// the next one (Earlier). ErrNoAlarm when nothing is acknowledged.
func (d *Dispatcher) Unack(id, by string) (*Notice, error) {
	var out Notice
	var was Ack
	err := d.store.Update(func(tx store.Tx) error {
		n := d.loadNotice(tx, id)
		if n == nil || !n.Firing || n.Ack == nil {
			return ErrNoAlarm
		}
		was = *n.Ack
		n.Unacked = append([]AckNote{{By: by, Comment: "withdrew the ack of " + was.By, At: d.now()},
			{By: was.By, Comment: was.Comment, At: was.At}}, was.Earlier...)
		n.Ack = nil
		out = *n
		return d.saveNotice(tx, n)
	})
	if err != nil {
		return nil, err
	}
	d.log.Info("acknowledgement withdrawn", "alarm", id, "by", by, "ack_by", was.By)
	d.Wake()
	return &out, nil
}

// tellAck lets everyone told of the episode know that someone took it
// (the one who acknowledged excepted, when their address is in `by`: the
// SMS reply's confirmation already told them). Not while the alarm is
// muted: nothing about it goes out then. Caller holds d.mu.
func (d *Dispatcher) tellAck(tx store.Tx, n *Notice, now time.Time) error {
	if len(n.Told) == 0 || d.muted(n, now) != "" {
		return nil
	}
	var to []routed
	for _, r := range d.toldRecipients(n) {
		if !strings.Contains(n.Ack.By, r.Address) {
			to = append(to, r)
		}
	}
	if len(to) == 0 {
		return nil
	}
	c := *n
	what := "by " + n.Ack.By
	if n.Ack.Comment != "" {
		what += ": " + n.Ack.Comment
	}
	c.Alarm.Summary = fmt.Sprintf("%s, until %s. %s", what, n.Ack.Expires.UTC().Format("Jan 2 15:04 MST"), n.Alarm.Summary)
	return d.deliver(tx, &c, model.EventAcked, to, now)
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
