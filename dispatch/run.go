package dispatch

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vedetta-dc/vedetta/internal/store"
	"github.com/vedetta-dc/vedetta/model"
	"github.com/vedetta-dc/vedetta/notify"
)

// The run loop: it only schedules. Due deliveries are claimed (leased to
// this process), sent through their channel, and settled.

// Run delivers until ctx ends; in-flight sends are cancelled and go back to
// the outbox for the next start.
func (d *Dispatcher) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	var running atomic.Int32
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	last := time.Time{}
	for {
		if time.Since(last) >= time.Second {
			d.housekeeping()
			last = time.Now()
		}
		for _, x := range d.dueN(maxParallelSends - int(running.Load())) {
			wg.Add(1)
			running.Add(1)
			go func() {
				defer wg.Done()
				var once sync.Once
				free := func() {
					once.Do(func() {
						running.Add(-1)
						d.Wake() // a slot is free
					})
				}
				defer free()
				d.send(ctx, x, free)
			}()
		}
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
			d.housekeeping() // flush groups with group_wait 0 at once
			last = time.Now()
		case <-t.C:
		}
	}
}

// due claims deliveries that should be attempted now: pending ones whose
// time has come, and "sending" ones whose lease ran out. SMS to one number
// are spaced by the SMS min_interval; what piles up meanwhile goes out as
// one digest ("+3 more, see e-mail"), never dropped.
func (d *Dispatcher) due() []Delivery { return d.dueN(1 << 30) }

// maxParallelSends bounds the sends in flight (SMTP connections, Twilio
// requests): a storm must not open a thousand connections to one relay.
// A send whose provider took the message (Twilio answered with a SID) and
// now only follows its status gives its slot back once that is recorded
// (Delivery.Accepted): 8 SMS followed for seconds each held up every
// e-mail behind them by a second or more. Calls keep theirs.
const maxParallelSends = 8

// maxFollowing bounds the sends that gave their slot back while they
// follow a status: past it, a send keeps its slot.
const maxFollowing = 64

func (d *Dispatcher) dueN(limit int) []Delivery {
	if limit <= 0 {
		return nil
	}
	d.saveUnsaved()
	now := d.now()
	keys := d.ob.candidates(now)
	if len(keys) == 0 {
		return nil
	}
	var out []Delivery
	var wasSending map[string]bool
	err := d.store.Update(func(tx store.Tx) error {
		out = out[:0]
		var ready []Delivery
		for _, k := range keys {
			if d.isInflight(k) {
				continue
			}
			x, ok := d.ob.get(tx, k)
			if !ok {
				if tx.Get(store.Outbox, k) != nil {
					d.log.Error("corrupt outbox entry dropped", "key", k)
					if err := tx.Delete(store.Outbox, k); err != nil {
						return err
					}
				}
				tx.OnCommit(func() { d.ob.forget(k) })
				continue
			}
			switch {
			case x.State == DeliveryPending && !x.NextAttempt.After(now):
				ready = append(ready, x)
			case x.State == DeliverySending && x.LeaseUntil.Before(now):
				ready = append(ready, x)
			case !x.open():
				tx.OnCommit(func() { d.ob.index(x) })
			}
		}
		sort.Slice(ready, func(i, j int) bool { return ready[i].Seq < ready[j].Seq })
		wasSending = map[string]bool{}
		for _, x := range ready {
			if x.reclaimed() {
				wasSending[x.Key] = true
			}
		}
		claim := d.oneCallPerNumber(d.throttleSMS(ready, now))
		if len(claim) > limit {
			claim = claim[:limit]
		}
		for _, x := range claim {
			x.State, x.LeaseUntil, x.LeaseOwner = DeliverySending, now.Add(sendLease), d.owner
			x.Attempts++
			if err := d.ob.save(tx, x); err != nil {
				return err
			}
			out = append(out, x)
		}
		return nil
	})
	if err != nil {
		d.log.Error("outbox scan failed", "err", err)
		return nil
	}
	d.spendSMS(out, wasSending, now)
	d.mu.Lock()
	for _, x := range out {
		if x.Channel == "voice" {
			d.calling[x.Recipient] = true
		}
		d.inflight[x.Key] = true
		for _, k := range x.DigestOf {
			d.inflight[k] = true
		}
	}
	d.mu.Unlock()
	return out
}

// voiceRounds is how many rounds (each voice provider once) a call is
// tried before its delivery fails: calling the same phone every minute
// for ever is what escalation steps are for.
const voiceRounds = 3

// callNotNeeded says why a call would be pointless now ("" if it is
// needed): every alarm it is about is acknowledged or no longer firing.
func (d *Dispatcher) callNotNeeded(x Delivery) string {
	if x.Channel != "voice" || x.Event == model.EventTest {
		return ""
	}
	why := ""
	for _, id := range x.AlarmIDs {
		n := d.Notice(id)
		switch {
		case n == nil || !n.Firing:
			why = "no longer firing"
		case n.Ack != nil:
			why = "acknowledged by " + n.Ack.By
		default:
			return ""
		}
	}
	return why
}

// oneCallPerNumber keeps, of the voice deliveries, the first to each
// number that has no call in progress: a phone rings for one alarm at a
// time (a second call would find it busy); the others wait in the outbox
// for the next scan.
func (d *Dispatcher) oneCallPerNumber(claim []Delivery) []Delivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := claim[:0:0]
	taken := map[string]bool{}
	for _, x := range claim {
		if x.Channel == "voice" {
			if d.calling[x.Recipient] || taken[x.Recipient] {
				continue
			}
			taken[x.Recipient] = true
		}
		out = append(out, x)
	}
	return out
}

func (d *Dispatcher) isInflight(k string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.unsaved[k]; ok {
		return true
	}
	return d.inflight[k]
}

// send delivers x through its channel and records the outcome. free (nil
// in tests) gives the send's slot back early: once a provider has taken the
// message and that is recorded, following its status needs no slot.
func (d *Dispatcher) send(ctx context.Context, x Delivery, free func()) {
	defer func() {
		d.mu.Lock()
		delete(d.inflight, x.Key)
		if x.Channel == "voice" {
			delete(d.calling, x.Recipient)
		}
		for _, k := range x.DigestOf {
			delete(d.inflight, k)
		}
		d.mu.Unlock()
	}()
	if d.MaySend != nil {
		if err := d.MaySend(ctx); err != nil {
			// Perhaps no longer the dispatcher (a paused or cut-off node):
			// sending now could page twice. Back to the outbox; a write
			// refused by the fence is fine, the new dispatcher takes it.
			d.log.Warn("not sending: this node cannot prove it is still the dispatcher", "key", x.Key, "err", err)
			x.State, x.NextAttempt, x.LeaseUntil, x.LeaseOwner = DeliveryPending, d.now(), time.Time{}, ""
			x.Attempts--
			_ = d.settle(x)
			return
		}
	}
	n := d.channels[x.Channel]
	var provider string
	var err error
	following := false // gave its slot back while its status is followed
	defer func() {
		if following {
			d.following.Add(-1)
		}
	}()
	if why := d.callNotNeeded(x); why != "" {
		// A call retried after no answer must not ring for an alarm
		// someone took meanwhile, or that ended.
		d.log.Info("call not placed", "key", x.Key, "to", x.Recipient, "why", why)
		x.State, x.Done, x.LastError = DeliveryFailed, d.now(), "not called: "+why
		x.LeaseUntil, x.LeaseOwner = time.Time{}, ""
		if err := d.settle(x); err != nil {
			d.mu.Lock()
			d.unsaved[x.Key] = x
			d.mu.Unlock()
		}
		return
	}
	if n == nil {
		err = notify.Permanent(fmt.Errorf("channel %q is not configured", x.Channel))
	} else {
		sctx, cancel := context.WithTimeout(ctx, sendLease*2/3)
		if x.Channel != "voice" {
			sctx = notify.OnAccepted(sctx, func(t *notify.Taken) {
				if !d.accepted(&x, t) || free == nil || following {
					return
				}
				if d.following.Add(1) > maxFollowing {
					d.following.Add(-1)
					return
				}
				following = true
				free()
			})
		}
		m := notify.Message{
			Key: x.Key, AlarmID: x.Ref, Event: string(x.Event), Severity: x.Severity,
			Recipient: x.Recipient, Subject: d.Tag + x.Subject, Body: x.Body,
		}
		if x.Accepted != "" {
			m.Taken = &notify.Taken{Provider: x.Accepted, Ref: x.AcceptedRef}
		}
		provider, err = n.Notify(sctx, m)
		cancel()
	}
	if d.OnResult != nil {
		d.OnResult(x.Channel, err)
	}
	d.mu.Lock()
	spent := d.spent[x.Key]
	delete(d.spent, x.Key)
	d.mu.Unlock()
	if spent && err != nil {
		d.refundSMS(x)
	}
	now := d.now()
	if ctx.Err() == nil && d.OnChannel != nil && n != nil {
		// A call that rang unanswered went through the channel.
		d.OnChannel(x.Channel, err == nil || errors.Is(err, notify.ErrUnanswered))
	}
	switch {
	case err == nil:
		x.State, x.Provider, x.Done, x.LastError = DeliveryDelivered, provider, now, ""
		d.log.Info("notification delivered", "key", x.Key, "channel", x.Channel, "to", x.Recipient, "via", provider, "attempts", x.Attempts)
		if x.Attempts > 1 {
			defer d.retrySoon(x.Channel) // the channel is back: don't let the others wait out their backoff
		}
	case ctx.Err() != nil:
		// Shutting down: back to the outbox for the next start.
		x.State, x.NextAttempt = DeliveryPending, now
		x.Attempts--
	case x.Channel == "voice" && x.Attempts >= voiceRounds:
		// Nobody answered in that many rounds of every voice provider:
		// the alarm's repeat: and escalation steps take it from here.
		x.State, x.Done, x.LastError = DeliveryFailed, now, fmt.Sprintf("not answered in %d rounds of calls: %v", x.Attempts, err)
		d.log.Error("call not answered; giving up on this call", "key", x.Key, "to", x.Recipient, "rounds", x.Attempts, "err", err)
	case notify.IsPermanent(err):
		x.State, x.Done, x.LastError = DeliveryFailed, now, err.Error()
		d.log.Error("notification failed permanently", "key", x.Key, "channel", x.Channel, "to", x.Recipient, "err", err)
	default:
		x.State, x.LastError = DeliveryPending, err.Error()
		x.NextAttempt = now.Add(d.backoff(x.Attempts))
		d.log.Warn("notification not delivered yet; will retry", "key", x.Key, "channel", x.Channel, "to", x.Recipient,
			"attempt", x.Attempts, "retry_in", x.NextAttempt.Sub(now).Round(time.Millisecond), "err", err)
	}
	x.LeaseUntil, x.LeaseOwner, x.Accepted, x.AcceptedRef = time.Time{}, "", "", ""
	if err := d.settle(x); err != nil {
		d.log.Error("cannot record delivery outcome; will write it again", "key", x.Key, "err", err)
		d.mu.Lock()
		d.unsaved[x.Key] = x
		d.mu.Unlock()
	}
	if x.State == DeliveryPending {
		d.Wake()
	}
}

// digestMember starts the LastError of an SMS sent inside another.
const digestMember = "sent as part of the digest "

// settle records a send's outcome; the members of a digest share it.
func (d *Dispatcher) settle(x Delivery) error {
	return d.store.Update(func(tx store.Tx) error {
		if err := d.ob.save(tx, x); err != nil {
			return err
		}
		if err := historyOfDelivery(tx, x); err != nil {
			return err
		}
		for _, k := range x.DigestOf {
			m, ok := d.ob.get(tx, k)
			if !ok {
				continue
			}
			m.State, m.Provider, m.Done, m.LastError, m.NextAttempt = x.State, x.Provider, x.Done, x.LastError, x.NextAttempt
			m.LeaseUntil, m.LeaseOwner = time.Time{}, ""
			m.Attempts++
			if x.State == DeliveryDelivered {
				m.LastError = digestMember + x.Key
			}
			if err := d.ob.save(tx, m); err != nil {
				return err
			}
		}
		return nil
	})
}

// accepted records that t.Provider took x (t.Ref its id there) or, t nil,
// after all, did not. It reports whether x is now recorded as taken: a
// record that cannot be written leaves the send as any other in flight
// (repeated by a node taking over, within the duplicate bound).
func (d *Dispatcher) accepted(x *Delivery, t *notify.Taken) bool {
	if t == nil && x.Accepted == "" {
		return false
	}
	was, wasRef := x.Accepted, x.AcceptedRef
	x.Accepted, x.AcceptedRef = "", ""
	if t != nil {
		x.Accepted, x.AcceptedRef = t.Provider, t.Ref
	}
	y := *x
	if err := d.store.Update(func(tx store.Tx) error { return d.ob.save(tx, y) }); err != nil {
		d.log.Warn("cannot record whether the provider took the message", "key", x.Key, "taken", t != nil, "err", err)
		// What the store holds: a node taking over acts on that.
		x.Accepted, x.AcceptedRef = was, wasRef
		return false
	}
	return t != nil
}

// saveUnsaved writes outcomes a failed write left in memory.
func (d *Dispatcher) saveUnsaved() {
	d.mu.Lock()
	if len(d.unsaved) == 0 {
		d.mu.Unlock()
		return
	}
	list := make([]Delivery, 0, len(d.unsaved))
	for _, x := range d.unsaved {
		list = append(list, x)
	}
	d.mu.Unlock()
	for _, x := range list {
		if err := d.settle(x); err != nil {
			return // still failing: next time
		}
		d.mu.Lock()
		delete(d.unsaved, x.Key)
		d.mu.Unlock()
	}
}

// retrySoon pulls the next attempt of every pending delivery on channel
// forward to now.
func (d *Dispatcher) retrySoon(channel string) {
	now := d.now()
	keys := d.ob.dueLater(channel, now)
	err := d.store.Update(func(tx store.Tx) error {
		for _, k := range keys {
			x, ok := d.ob.get(tx, k)
			if !ok || x.State != DeliveryPending {
				continue
			}
			x.NextAttempt = now
			if err := d.ob.save(tx, x); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		d.log.Error("cannot reschedule deliveries", "err", err)
	}
	d.Wake()
}

// prune drops finished deliveries older than keepDelivered, and the oldest
// beyond maxLedger (once a minute).
func (d *Dispatcher) prune(now time.Time) {
	if now.Sub(d.lastPrune) < time.Minute {
		return
	}
	d.lastPrune = now
	err := d.store.Update(func(tx store.Tx) error {
		if _, err := d.ob.prune(tx, now); err != nil {
			return err
		}
		_, err := pruneHistory(tx, now, d.historyKeep, 5000)
		return err
	})
	if err != nil {
		d.log.Error("outbox pruning failed", "err", err)
	}
}

// Deliveries returns the ledger of one alarm (or all, for ""): every queued
// or finished notification, oldest first.
func (d *Dispatcher) Deliveries(alarmID string) ([]Delivery, error) {
	var out []Delivery
	err := d.store.View(func(tx store.Tx) error {
		var err error
		out, err = d.ob.ledger(tx, alarmID)
		return err
	})
	return out, err
}
