package dispatch

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vedetta-dc/vedetta/model"

	"github.com/vedetta-dc/vedetta/internal/store"
)

// Delivery is one notification in the durable outbox: written before the
// first attempt, so a crash never loses it.
type Delivery struct {
	Key string `json:"key"` // idempotency key, unique per event (see nextSeq)
	// Seq orders events: a delivery waits for every open delivery of the
	// same alarm to the same recipient with a lower Seq (a RESOLVED never
	// overtakes its FIRING).
	Seq uint64 `json:"seq"`
	// Seqs is, for a group, each alarm's own event number (by AlarmIDs).
	Seqs []uint64 `json:"seqs,omitempty"`
	// Events is, for a group, each alarm's event (by AlarmIDs).
	Events      []model.EventKind `json:"events,omitempty"`
	Ref         string            `json:"ref"`       // the id people quote: the alarm's, or the group's
	AlarmIDs    []string          `json:"alarm_ids"` // one, or several for a group
	Event       model.EventKind   `json:"event"`
	Severity    string            `json:"severity"`
	Receiver    string            `json:"receiver"`
	Channel     string            `json:"channel"`
	Recipient   string            `json:"recipient"`
	Subject     string            `json:"subject"`
	Body        string            `json:"body,omitempty"` // dropped once settled: the ledger does not need it
	State       string            `json:"state"`          // pending | sending | delivered | failed
	Attempts    int               `json:"attempts"`
	Created     time.Time         `json:"created"`
	NextAttempt time.Time         `json:"next_attempt"`
	LeaseUntil  time.Time         `json:"lease_until,omitzero"`
	// LeaseOwner is the dispatcher instance (host, pid, start) that claimed
	// the send: at start, a lease held by anyone else was held by a dead
	// process (the state file is locked to one), and is taken back at once.
	LeaseOwner string    `json:"lease_owner,omitempty"`
	Provider   string    `json:"provider,omitempty"`
	LastError  string    `json:"last_error,omitempty"`
	Done       time.Time `json:"done,omitzero"`
	DigestOf   []string  `json:"digest_of,omitempty"` // SMS keys carried by this one
	// Accepted names the provider that took the message while its send
	// still follows it (Twilio gave a message SID, AcceptedRef, and its
	// status is being polled). A node that takes the send over asks that
	// provider how the message fared before sending it anywhere again: a
	// second one would be a duplicate. Calls do not record it (a ringing
	// phone whose outcome nobody heard is called again).
	Accepted    string `json:"accepted,omitempty"`
	AcceptedRef string `json:"accepted_ref,omitempty"`
}

// Delivery states.
const (
	DeliveryPending   = "pending"
	DeliverySending   = "sending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

func (x *Delivery) open() bool { return x.State == DeliveryPending || x.State == DeliverySending }

// reclaimed: claimed before by a process that stopped. It has paid for its
// SMS, and it goes alone: a message a provider took (Accepted) is what it
// took, and no later SMS may ride in it as if sent.
func (x *Delivery) reclaimed() bool { return x.State == DeliverySending || x.Accepted != "" }

// keepDelivered is how long finished deliveries stay in the ledger, and
// maxLedger how many at most: a storm of 200 events a second must not
// grow the state file by gigabytes. The newest are kept.
const (
	keepDelivered = 24 * time.Hour
	maxLedger     = 50_000
)

// sendLease bounds how long a send may be "in flight" before another
// dispatcher takes it over. A send that was in flight when the process
// died is therefore repeated at most once, and only if it had not been
// recorded as delivered.
const sendLease = 3 * time.Minute

// openEntry is what the scheduler needs of a delivery still to send.
type openEntry struct {
	due       time.Time
	channel   string
	recipient string
	alarms    []string
	seqs      []uint64 // by alarms
}

// eventOf is the event of alarm i of x.
func (x *Delivery) eventOf(i int) model.EventKind {
	if i < len(x.Events) {
		return x.Events[i]
	}
	return x.Event
}

// seqOf is the event number of alarm i of x.
func (x *Delivery) seqOf(i int) uint64 {
	if i < len(x.Seqs) {
		return x.Seqs[i]
	}
	return x.Seq
}

// outbox is the typed view of the outbox bucket: the only code that reads
// or writes it. It keeps an in-memory index of the open deliveries (pending
// or sending), updated only when a transaction commits, so that finding due
// work never scans a day of delivered entries and a rolled-back write
// leaves no trace.
type outbox struct {
	mu   sync.Mutex
	open map[string]openEntry
	// held are the events waiting in a group for its flush, by group key:
	// not in the outbox yet, they hold back later events of their alarms
	// all the same (a grouped RESOLVED still waiting must not be overtaken
	// by the next FIRING, sent alone).
	held map[string][]openEntry
	// duplicates counts puts of a key that already existed: with keys
	// unique per event this is a bug, so it is counted and logged, never
	// silently skipped.
	duplicates int
}

func newOutbox() *outbox {
	return &outbox{open: map[string]openEntry{}, held: map[string][]openEntry{}}
}

// hold records the events of a group waiting for its flush.
func (o *outbox) hold(g group) {
	var es []openEntry
	for _, it := range g.Items {
		for _, r := range it.To {
			es = append(es, openEntry{channel: r.Channel, recipient: r.Address, alarms: []string{it.Alarm.ID}, seqs: []uint64{it.Seq}})
		}
	}
	o.mu.Lock()
	o.held[g.Key] = es
	o.mu.Unlock()
}

// holding says whether any group waits for its flush.
func (o *outbox) holding() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.held) > 0
}

// heldHas says whether the group key holds events.
func (o *outbox) heldHas(key string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.held[key]) > 0
}

func (o *outbox) unhold(key string) {
	o.mu.Lock()
	delete(o.held, key)
	o.mu.Unlock()
}

func decodeDelivery(v []byte) (Delivery, error) {
	var x Delivery
	err := json.Unmarshal(v, &x)
	return x, err
}

// get reads one delivery; ok is false if there is none or it is corrupt.
func (o *outbox) get(tx store.Tx, key string) (Delivery, bool) {
	v := tx.Get(store.Outbox, key)
	if v == nil {
		return Delivery{}, false
	}
	x, err := decodeDelivery(v)
	return x, err == nil
}

// save writes x and, once committed, updates the open index.
func (o *outbox) save(tx store.Tx, x Delivery) error {
	if !x.open() {
		x.Body = "" // settled: the ledger keeps who, what and when, not the text
	}
	b, err := json.Marshal(x)
	if err != nil {
		return err
	}
	if err := tx.Put(store.Outbox, x.Key, b); err != nil {
		return err
	}
	tx.OnCommit(func() { o.index(x) })
	return nil
}

// add queues a new delivery. It reports false if the key exists already.
func (o *outbox) add(tx store.Tx, x Delivery, now time.Time) (bool, error) {
	if tx.Get(store.Outbox, x.Key) != nil {
		o.mu.Lock()
		o.duplicates++
		o.mu.Unlock()
		return false, nil
	}
	x.State, x.Created, x.NextAttempt = DeliveryPending, now, now
	return true, o.save(tx, x)
}

func (o *outbox) index(x Delivery) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !x.open() {
		delete(o.open, x.Key)
		return
	}
	due := x.NextAttempt
	if x.State == DeliverySending {
		due = x.LeaseUntil
	}
	seqs := make([]uint64, len(x.AlarmIDs))
	for i := range seqs {
		seqs[i] = x.seqOf(i)
	}
	o.open[x.Key] = openEntry{due: due, channel: x.Channel, recipient: x.Recipient, alarms: x.AlarmIDs, seqs: seqs}
}

func (o *outbox) forget(key string) {
	o.mu.Lock()
	delete(o.open, key)
	o.mu.Unlock()
}

// load rebuilds the index at start, read-only. It returns the deliveries
// to write back: pending ones are due now (a restart is a good moment to
// retry), and sending ones whose lease is not ours were claimed by a
// process that is gone (the state file is locked to one process): due now
// too, rather than waiting out a lease nobody holds.
func (o *outbox) load(tx store.Tx, owner string, now time.Time) (retry []Delivery, corrupt int, err error) {
	err = tx.ForEach(store.Outbox, func(k string, v []byte) error {
		x, err := decodeDelivery(v)
		if err != nil {
			corrupt++ // dropped by the next prune
			return nil
		}
		// "Now" is the delivery's creation: due at once on any clock.
		switch {
		case x.State == DeliveryPending && x.NextAttempt.After(now):
			x.NextAttempt = x.Created
			retry = append(retry, x)
		case x.State == DeliverySending && x.LeaseOwner != owner && x.Accepted != "":
			x.State, x.NextAttempt, x.LeaseUntil, x.LeaseOwner = DeliveryPending, x.Created, time.Time{}, ""
			x.LastError = "in flight when the previous process stopped, taken by " + x.Accepted + ": asking it how it fared"
			retry = append(retry, x)
		case x.State == DeliverySending && x.LeaseOwner != owner:
			x.State, x.NextAttempt, x.LeaseUntil, x.LeaseOwner = DeliveryPending, x.Created, time.Time{}, ""
			x.LastError = "in flight when the previous process stopped; sent again"
			// A digest's members are pending on their own: they go again
			// by themselves, or in the next digest.
			x.Subject, x.DigestOf = stripDigest(x.Subject), nil
			retry = append(retry, x)
		}
		o.index(x)
		return nil
	})
	return retry, corrupt, err
}

// candidates lists the open deliveries due at now that no earlier open
// (or still grouped) event of the same alarm to the same recipient holds
// back: per alarm and recipient, events go out in the order they happened.
//
// Should deliveries ever hold each other back in a circle (two groups
// whose alarms' events interleave, possible when one recipient is in two
// grouping routes), the earliest of the circle goes anyway: an alarm out
// of order is better than no alarm.
func (o *outbox) candidates(now time.Time) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	type stream struct{ alarm, channel, recipient string }
	type lowest struct {
		seq uint64
		key string // "" for a grouped event
	}
	first := map[stream]lowest{}
	note := func(key string, e openEntry) {
		for i, a := range e.alarms {
			s := stream{a, e.channel, e.recipient}
			if v, ok := first[s]; !ok || e.seqs[i] < v.seq {
				first[s] = lowest{e.seqs[i], key}
			}
		}
	}
	for k, e := range o.open {
		note(k, e)
	}
	for _, es := range o.held {
		for _, e := range es {
			note("", e)
		}
	}
	// blocker is the delivery holding k back, "" when a group does, or
	// k itself when nothing does.
	blocker := func(k string) string {
		e := o.open[k]
		for i, a := range e.alarms {
			if f := first[stream{a, e.channel, e.recipient}]; f.key != k && f.seq < e.seqs[i] {
				return f.key
			}
		}
		return k
	}
	var keys []string
	for k, e := range o.open {
		if e.due.After(now) {
			continue
		}
		b := blocker(k)
		if b == k {
			keys = append(keys, k)
			continue
		}
		// Follow who holds whom: a chain ends at a free delivery or a
		// group (it will move), or comes back on itself.
		seen := map[string]bool{k: true}
		for b != "" && !seen[b] {
			seen[b] = true
			next := blocker(b)
			if next == b {
				b = ""
				break
			}
			b = next
		}
		if b != "" && b == k {
			keys = append(keys, k) // a circle through k: k goes
		}
	}
	return keys
}

// dueOn lists the open deliveries on channel due later than now.
func (o *outbox) dueLater(channel string, now time.Time) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var keys []string
	for k, e := range o.open {
		if e.channel == channel && e.due.After(now) {
			keys = append(keys, k)
		}
	}
	return keys
}

// openCount is the number of deliveries still to send.
func (o *outbox) openCount() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.open)
}

// prune drops settled deliveries older than keepDelivered, and the oldest
// beyond maxLedger.
func (o *outbox) prune(tx store.Tx, now time.Time) (int, error) {
	type settled struct {
		key  string
		done time.Time
	}
	var del []string
	var kept []settled
	if err := tx.ForEach(store.Outbox, func(k string, v []byte) error {
		x, err := decodeDelivery(v)
		switch {
		case err != nil:
			del = append(del, k)
		case x.open():
		case now.Sub(x.Done) > keepDelivered:
			del = append(del, k)
		default:
			kept = append(kept, settled{k, x.Done})
		}
		return nil
	}); err != nil {
		return 0, err
	}
	if len(kept) > maxLedger {
		sort.Slice(kept, func(i, j int) bool { return kept[i].done.Before(kept[j].done) })
		for _, s := range kept[:len(kept)-maxLedger] {
			del = append(del, s.key)
		}
	}
	for _, k := range del {
		if err := tx.Delete(store.Outbox, k); err != nil {
			return 0, err
		}
	}
	return len(del), nil
}

// ledger lists the deliveries of one alarm (all for ""), oldest first,
// without their bodies.
func (o *outbox) ledger(tx store.Tx, alarmID string) ([]Delivery, error) {
	var out []Delivery
	err := tx.ForEach(store.Outbox, func(_ string, v []byte) error {
		x, err := decodeDelivery(v)
		if err != nil {
			return nil
		}
		if alarmID != "" && !slices.Contains(x.AlarmIDs, alarmID) {
			return nil
		}
		x.Body = ""
		out = append(out, x)
		return nil
	})
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].Seq < out[j].Seq
	})
	return out, err
}

// smsSent finds when each number got an SMS (for the throttle's buckets):
// the SMS that went, not the members of a digest riding in them.
func (o *outbox) smsSent(tx store.Tx) (map[string][]time.Time, error) {
	out := map[string][]time.Time{}
	err := tx.ForEach(store.Outbox, func(_ string, v []byte) error {
		x, err := decodeDelivery(v)
		if err == nil && x.Channel == "sms" && x.State == DeliveryDelivered && !strings.HasPrefix(x.LastError, digestMember) {
			out[x.Recipient] = append(out[x.Recipient], x.Done)
		}
		return nil
	})
	return out, err
}

// seqKey is where the event counter lives.
const seqKey = "event_seq"

// nextSeq hands out the next event number, durably, in tx. Delivery keys
// carry it, so that every event is its own delivery: an alarm that fires
// again is a new event even though its id, and the counters of its alarm
// and notice, start over (an alarm is forgotten 15 min after it resolves;
// a notice at the end of each episode). Only the store outlives both, and
// a rolled-back transaction hands the same number out again.
func nextSeq(tx store.Tx) (uint64, error) {
	var n uint64
	if b := tx.Get(store.Meta, seqKey); len(b) == 8 {
		n = binary.BigEndian.Uint64(b)
	}
	n++
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	if err := tx.Put(store.Meta, seqKey, b[:]); err != nil {
		return 0, fmt.Errorf("event counter: %w", err)
	}
	return n, nil
}
