package dispatch

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/vedetta-dc/vedetta/model"

	"github.com/vedetta-dc/vedetta/internal/store"
)

// A group collects the events of alarms that share a route's group_by
// labels for group_wait, then goes out as one message per recipient: a
// switch losing 40 ports is one SMS and one e-mail, not 40. Groups live in
// the store, so a crash during group_wait loses nothing.
//
// One group holds every kind of event (as Alertmanager's do): FIRING and
// RESOLVED of the same labels in separate groups could each hold an event
// the other must wait for, and neither would ever go out.
type group struct {
	Key   string          `json:"key"`
	Route int             `json:"route"`
	Event model.EventKind `json:"event,omitempty"` // of items written before items had their own
	First time.Time       `json:"first"`
	Items []groupItem     `json:"items"`
	// Until, when set, is when the group goes out whatever its route
	// says: the start digest's end (digest.go).
	Until time.Time `json:"until,omitzero"`
	// Digest marks the start digest: one message per receiver and
	// channel, whatever route each alarm came through.
	Digest bool `json:"digest,omitempty"`
}

type groupItem struct {
	Alarm model.Alarm     `json:"alarm"`
	To    []Recipient     `json:"to"`
	Seq   uint64          `json:"seq"` // the event's number
	Event model.EventKind `json:"event,omitempty"`
}

func (g *group) eventOf(it groupItem) model.EventKind {
	if it.Event != "" {
		return it.Event
	}
	return g.Event
}

// deliver queues ev about n for each recipient: grouped when the route
// groups, else at once.
//
// Every event gets its own number from the store's counter (nextSeq): the
// keys of its deliveries are unique for the life of the state, so
// "delivered" always means "this event was delivered".
func (d *Dispatcher) deliver(tx store.Tx, n *Notice, ev model.EventKind, to []routed, now time.Time) error {
	seq, err := nextSeq(tx)
	if err != nil {
		return err
	}
	byGroup := map[string][]Recipient{}
	var groupRoute = map[string]int{}
	digest := d.inDigest(tx, n.Alarm, ev, now)
	for _, r := range to {
		if r.Channel == "voice" && !CallsFor(ev) {
			continue
		}
		if digest {
			byGroup[digestKey] = append(byGroup[digestKey], r.Recipient)
			groupRoute[digestKey] = -1
			continue
		}
		if r.route >= 0 && r.route < len(d.routes) {
			rt := d.routes[r.route]
			if len(rt.GroupBy) > 0 && rt.GroupWait > 0 && ev != model.EventTest {
				k := groupKey(r.route, rt.GroupBy, n.Alarm)
				byGroup[k] = append(byGroup[k], r.Recipient)
				groupRoute[k] = r.route
				continue
			}
		}
		note := d.suppressedNote(n.Alarm)
		key := fmt.Sprintf("%s/%d/%s/%s/%s/%s", n.AlarmID, seq, ev, r.Receiver, r.Channel, r.Address)
		if err := d.put(tx, Delivery{
			Key: key, Seq: seq, Ref: n.AlarmID, AlarmIDs: []string{n.AlarmID}, Event: ev, Severity: n.Alarm.Severity,
			Receiver: r.Receiver, Channel: r.Channel, Recipient: r.Address,
			Subject: Subject(n.Alarm, ev) + note, Body: Body(n.Alarm, ev) + note,
		}, now); err != nil {
			return err
		}
	}
	keys := make([]string, 0, len(byGroup))
	for k := range byGroup {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		var g group
		if b := tx.Get(store.Groups, k); b == nil || json.Unmarshal(b, &g) != nil {
			if b != nil {
				d.log.Error("corrupt group record replaced", "key", k)
			}
			g = group{Key: k, Route: groupRoute[k], First: now}
			if k == digestKey {
				// A digest a crash left keeps its own end: a process that
				// restarts in a loop must not hold it for ever.
				g.Until, g.Digest = d.DigestUntil, true
			}
		}
		g.Items = append(g.Items, groupItem{Alarm: n.Alarm, To: byGroup[k], Seq: seq, Event: ev})
		b, err := json.Marshal(g)
		if err != nil {
			return err
		}
		if err := tx.Put(store.Groups, k, b); err != nil {
			return err
		}
		tx.OnCommit(func() { d.ob.hold(g) })
	}
	return nil
}

// groupRef is the id people quote for a group's messages.
func groupRef(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])[:10]
}

func groupKey(route int, by []string, a model.Alarm) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d", route)
	for _, l := range by {
		v := a.Labels[l]
		switch l {
		case "severity":
			v = a.Severity
		case "rule", "alertname":
			v = a.Rule
		case "site":
			v = a.Site
		}
		fmt.Fprintf(&b, "|%s=%s", l, v)
	}
	return b.String()
}

// flushGroups sends the groups whose wait is over. Caller holds d.mu.
func (d *Dispatcher) flushGroups(tx store.Tx, now time.Time) error {
	var due []group
	err := tx.ForEach(store.Groups, func(k string, v []byte) error {
		var g group
		if err := json.Unmarshal(v, &g); err != nil {
			d.log.Error("corrupt group dropped", "key", k, "err", err)
			due = append(due, group{Key: k})
			return nil
		}
		wait := time.Duration(0)
		if g.Route >= 0 && g.Route < len(d.routes) {
			wait = d.routes[g.Route].GroupWait
		}
		end := g.First.Add(wait)
		if !g.Until.IsZero() {
			end = g.Until
		}
		if g.Digest && len(d.standing) > 0 && now.Before(g.Until.Add(DigestGrace)) {
			return nil // problems standing at the start are still pending
		}
		if !now.Before(end) {
			due = append(due, g)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, g := range due {
		if err := tx.Delete(store.Groups, g.Key); err != nil {
			return err
		}
		key := g.Key
		tx.OnCommit(func() { d.ob.unhold(key) })
		if len(g.Items) == 0 {
			continue
		}
		if err := d.flushGroup(tx, g, now); err != nil {
			return err
		}
	}
	return nil
}

func (d *Dispatcher) flushGroup(tx store.Tx, g group, now time.Time) error {
	// One message per recipient, listing the events that concern it in
	// the order they happened. Each alarm keeps its own event number in the
	// delivery: it waits, for each of its alarms, for what was queued
	// earlier for that alarm.
	type member struct {
		a   model.Alarm
		seq uint64
		ev  model.EventKind
	}
	per := map[Recipient][]member{}
	var order []Recipient
	var seq uint64 // the group's own number: the newest of its events
	type once struct {
		r   Recipient
		id  string
		seq uint64
	}
	seen := map[once]bool{}
	for _, it := range g.Items {
		seq = max(seq, it.Seq)
		for _, r := range it.To {
			if g.Digest {
				// One message per receiver and channel: the route an
				// alarm came through is in its notice, not the message;
				// an alarm two routes name is listed once.
				r.Route = 0
				k := once{r, it.Alarm.ID, it.Seq}
				if seen[k] {
					continue
				}
				seen[k] = true
			}
			if _, ok := per[r]; !ok {
				order = append(order, r)
			}
			per[r] = append(per[r], member{it.Alarm, it.Seq, g.eventOf(it)})
		}
	}
	gid := groupRef(g.Key)
	if g.Digest {
		gid = digestRef(g.Until)
	}
	for _, r := range order {
		ms := per[r]
		sort.SliceStable(ms, func(i, j int) bool { return ms[i].seq < ms[j].seq })
		alarms := make([]model.Alarm, len(ms))
		events := make([]model.EventKind, len(ms))
		ids := make([]string, len(ms))
		seqs := make([]uint64, len(ms))
		for i, m := range ms {
			alarms[i], events[i], ids[i], seqs[i] = m.a, m.ev, m.a.ID, m.seq
		}
		ev := mainEvent(events)
		x := Delivery{Seq: seq, Seqs: seqs, Events: events, Ref: gid, AlarmIDs: ids, Event: ev,
			Receiver: r.Receiver, Channel: r.Channel, Recipient: r.Address}
		if len(alarms) == 1 {
			x.Ref = alarms[0].ID
			note := d.suppressedNote(alarms[0])
			x.Subject, x.Body = Subject(alarms[0], ev)+note, Body(alarms[0], ev)+note
		} else if g.Digest {
			x.Subject, x.Body = DigestSubject(alarms, events), DigestBody(alarms, events, g.First)
		} else {
			x.Subject, x.Body = GroupSubject(alarms, events), GroupBody(alarms, events)
		}
		x.Severity = alarms[0].Severity
		for _, a := range alarms {
			if severityRank(a.Severity) > severityRank(x.Severity) {
				x.Severity = a.Severity
			}
		}
		x.Key = fmt.Sprintf("grp/%s/%d/%s/%s/%s", gid, seq, r.Receiver, r.Channel, r.Address)
		if err := d.put(tx, x, now); err != nil {
			return err
		}
	}
	return nil
}

// mainEvent is what a group's message is about, for its subject and the
// channels: FIRING if anything fires, else the first event.
func mainEvent(evs []model.EventKind) model.EventKind {
	for _, ev := range evs {
		if ev == model.EventFiring {
			return ev
		}
	}
	return evs[0]
}

// suppressedNote counts the alarms held back because they depend on the
// alarm's target: "; 37 dependent alarms suppressed".
func (d *Dispatcher) suppressedNote(a model.Alarm) string {
	t := a.Labels["target"]
	if t == "" {
		return ""
	}
	n := 0
	for _, x := range d.notices {
		if strings.HasPrefix(x.Waiting, "depends on "+t+",") {
			n++
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("; %d dependent alarms suppressed", n)
}
