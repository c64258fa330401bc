package alerting

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vedetta-dc/vedetta/alerting/notify"
	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/store"
)

// Delivery is one notification in the durable outbox: written before the
// first attempt, so a crash never loses it.
type Delivery struct {
	Key         string    `json:"key"`       // idempotency key
	Ref         string    `json:"ref"`       // the id people quote: the alarm's, or the group's
	AlarmIDs    []string  `json:"alarm_ids"` // one, or several for a group
	Event       EventKind `json:"event"`
	Severity    string    `json:"severity"`
	Receiver    string    `json:"receiver"`
	Channel     string    `json:"channel"`
	Recipient   string    `json:"recipient"`
	Subject     string    `json:"subject"`
	Body        string    `json:"body,omitempty"`
	State       string    `json:"state"` // pending | sending | delivered | failed
	Attempts    int       `json:"attempts"`
	Created     time.Time `json:"created"`
	NextAttempt time.Time `json:"next_attempt"`
	LeaseUntil  time.Time `json:"lease_until,omitzero"`
	Provider    string    `json:"provider,omitempty"`
	LastError   string    `json:"last_error,omitempty"`
	Done        time.Time `json:"done,omitzero"`
	DigestOf    []string  `json:"digest_of,omitempty"` // SMS keys carried by this one
}

type openEntry struct {
	due     time.Time
	channel string
}

func (d *Dispatcher) markOpen(x Delivery) {
	due := x.NextAttempt
	if x.State == DeliverySending {
		due = x.LeaseUntil
	}
	d.omu.Lock()
	if x.State == DeliveryPending || x.State == DeliverySending {
		d.open[x.Key] = openEntry{due, x.Channel}
	} else {
		delete(d.open, x.Key)
	}
	d.omu.Unlock()
}

// Delivery states.
const (
	DeliveryPending   = "pending"
	DeliverySending   = "sending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// keepDelivered is how long finished deliveries stay in the ledger.
const keepDelivered = 24 * time.Hour

// sendLease bounds how long a send may be "in flight" before another
// dispatcher (or this one after a restart) takes it over. A send that was
// in flight when the process died is therefore repeated at most once, and
// only if it had not been recorded as delivered.
const sendLease = 3 * time.Minute

// Dispatcher turns alarm events into notifications: routes, silences,
// dependencies, grouping, repeats, escalation, acks; then delivers them from
// the durable outbox, retrying until a channel accepts them.
type Dispatcher struct {
	store     store.Store
	routes    []config.Route
	receivers map[string]config.Receiver
	channels  map[string]notify.Notifier
	parents   map[string][]string
	config    []*Silence // recurring windows from the config
	smsGap    time.Duration
	log       *slog.Logger
	now       func() time.Time
	wake      chan struct{}

	// open indexes the outbox entries still to send (pending or sending)
	// by key, so that finding due work never scans a day of delivered
	// entries.
	omu       sync.Mutex
	open      map[string]openEntry
	lastPrune time.Time

	mu       sync.Mutex
	notices  map[string]*Notice
	silences map[string]*Silence // run-time silences
	inflight map[string]bool
	lastSMS  map[string]time.Time

	// TargetUp says whether a target answered its last collection (for
	// depends_on); known is false before the first round.
	TargetUp func(target string) (up, known bool)
	// OnResult is told about every delivery attempt (metrics).
	OnResult func(channel string, err error)
	// OnChannel is told whether a channel delivered (any provider) or
	// failed on every provider: the NotificationChannelDown alarm.
	OnChannel func(channel string, up bool)
}

// NewDispatcher builds a dispatcher and loads its state from the store.
func NewDispatcher(st store.Store, cfg *config.Config, channels map[string]notify.Notifier, log *slog.Logger) (*Dispatcher, error) {
	d := &Dispatcher{
		store: st, routes: cfg.Routes, receivers: map[string]config.Receiver{}, channels: channels,
		parents: map[string][]string{}, smsGap: time.Minute,
		log: log, now: time.Now, wake: make(chan struct{}, 1),
		notices: map[string]*Notice{}, silences: map[string]*Silence{}, inflight: map[string]bool{}, lastSMS: map[string]time.Time{},
		open: map[string]openEntry{},
	}
	if cfg.Notify.SMS != nil && cfg.Notify.SMS.MinInterval != 0 {
		d.smsGap = cfg.Notify.SMS.MinInterval
	}
	for _, r := range cfg.Receivers {
		d.receivers[r.Name] = r
	}
	for _, t := range cfg.Targets {
		d.parents[t.Name] = t.DependsOn
	}
	for i, s := range cfg.Silences {
		sc, err := ParseSchedule(s.Schedule, nil)
		if err != nil {
			return nil, fmt.Errorf("silences[%d].schedule: %w", i, err)
		}
		d.config = append(d.config, &Silence{ID: fmt.Sprintf("config-%d", i), Match: s.Match, Comment: s.Comment, Schedule: sc, Source: "config"})
	}
	err := st.Update(func(tx store.Tx) error {
		// A (re)start is a good moment to retry: nothing waits out a backoff
		// computed before the restart.
		var retry []Delivery
		if err := tx.ForEach(store.Outbox, func(_ string, v []byte) error {
			var x Delivery
			if json.Unmarshal(v, &x) != nil {
				return nil
			}
			if x.State == DeliveryPending && x.NextAttempt.After(time.Now()) {
				x.NextAttempt = time.Now()
				retry = append(retry, x)
			}
			d.markOpen(x)
			return nil
		}); err != nil {
			return err
		}
		for _, x := range retry {
			if err := putDelivery(tx, x); err != nil {
				return err
			}
		}
		if err := tx.ForEach(store.Notices, func(k string, v []byte) error {
			var n Notice
			if json.Unmarshal(v, &n) == nil {
				d.notices[k] = &n
			}
			return nil
		}); err != nil {
			return err
		}
		if err := tx.ForEach(store.Silences, func(k string, v []byte) error {
			var s Silence
			if json.Unmarshal(v, &s) == nil {
				s.Source = "api"
				d.silences[k] = &s
			}
			return nil
		}); err != nil {
			return err
		}
		return tx.ForEach(store.Outbox, func(_ string, v []byte) error {
			var x Delivery
			if json.Unmarshal(v, &x) == nil && x.Channel == "sms" && x.State == DeliveryDelivered && x.Done.After(d.lastSMS[x.Recipient]) {
				d.lastSMS[x.Recipient] = x.Done
			}
			return nil
		})
	})
	return d, err
}

// put writes a new delivery unless one with the same key exists (the
// idempotency that makes retried evaluations and restarts harmless).
func (d *Dispatcher) put(tx store.Tx, x Delivery, now time.Time) error {
	if tx.Get(store.Outbox, x.Key) != nil {
		return nil
	}
	x.State, x.Created, x.NextAttempt = DeliveryPending, now, now
	if err := putDelivery(tx, x); err != nil {
		return err
	}
	d.markOpen(x) // a rolled-back key is dropped at its first lookup
	return nil
}

func putDelivery(tx store.Tx, x Delivery) error {
	b, err := json.Marshal(x)
	if err != nil {
		return err
	}
	return tx.Put(store.Outbox, x.Key, b)
}

// Wake makes the dispatcher look at the outbox now.
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

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
				defer running.Add(-1)
				d.send(ctx, x)
				d.Wake() // a slot is free
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
const maxParallelSends = 8

func (d *Dispatcher) dueN(limit int) []Delivery {
	if limit <= 0 {
		return nil
	}
	now := d.now()
	var out []Delivery
	var keys []string
	d.omu.Lock()
	for k, o := range d.open {
		if !o.due.After(now) {
			keys = append(keys, k)
		}
	}
	d.omu.Unlock()
	if len(keys) == 0 {
		return nil
	}
	err := d.store.Update(func(tx store.Tx) error {
		var ready []Delivery
		for _, k := range keys {
			v := tx.Get(store.Outbox, k)
			var x Delivery
			if v == nil || json.Unmarshal(v, &x) != nil {
				if v != nil {
					d.log.Error("corrupt outbox entry dropped", "key", k)
					if err := tx.Delete(store.Outbox, k); err != nil {
						return err
					}
				}
				d.omu.Lock()
				delete(d.open, k)
				d.omu.Unlock()
				continue
			}
			switch x.State {
			case DeliveryPending:
				if !x.NextAttempt.After(now) && !d.isInflight(k) {
					ready = append(ready, x)
				}
			case DeliverySending:
				if x.LeaseUntil.Before(now) && !d.isInflight(k) {
					ready = append(ready, x)
				}
			default:
				d.markOpen(x)
			}
		}
		sort.Slice(ready, func(i, j int) bool { return ready[i].Created.Before(ready[j].Created) })
		claim := d.throttleSMS(ready, now)
		if len(claim) > limit {
			claim = claim[:limit]
		}
		for _, x := range claim {
			x.State = DeliverySending
			x.LeaseUntil = now.Add(sendLease)
			x.Attempts++
			if err := putDelivery(tx, x); err != nil {
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
	for _, x := range out {
		d.markOpen(x)
	}
	d.mu.Lock()
	for _, x := range out {
		d.inflight[x.Key] = true
		for _, k := range x.DigestOf {
			d.inflight[k] = true
		}
	}
	d.mu.Unlock()
	return out
}

// throttleSMS keeps at most one SMS per number per smsGap: the first ready
// one carries the others as a digest.
func (d *Dispatcher) throttleSMS(ready []Delivery, now time.Time) []Delivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Delivery
	first := map[string]int{}
	for _, x := range ready {
		if x.Channel != "sms" {
			out = append(out, x)
			continue
		}
		if now.Sub(d.lastSMS[x.Recipient]) < d.smsGap && x.State == DeliveryPending {
			continue // its turn comes when the gap has passed
		}
		if i, ok := first[x.Recipient]; ok {
			out[i].DigestOf = append(out[i].DigestOf, x.Key)
			continue
		}
		first[x.Recipient] = len(out)
		out = append(out, x)
	}
	for i := range out {
		if n := len(out[i].DigestOf); n > 0 {
			out[i].Subject = fmt.Sprintf("%s (+%d more, see e-mail)", out[i].Subject, n)
		}
	}
	return out
}

func (d *Dispatcher) isInflight(k string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.inflight[k]
}

func (d *Dispatcher) send(ctx context.Context, x Delivery) {
	defer func() {
		d.mu.Lock()
		delete(d.inflight, x.Key)
		for _, k := range x.DigestOf {
			delete(d.inflight, k)
		}
		d.mu.Unlock()
	}()
	n := d.channels[x.Channel]
	var provider string
	var err error
	if n == nil {
		err = notify.Permanent(fmt.Errorf("channel %q is not configured", x.Channel))
	} else {
		sctx, cancel := context.WithTimeout(ctx, sendLease*2/3)
		provider, err = n.Notify(sctx, notify.Message{
			Key: x.Key, AlarmID: x.Ref, Event: string(x.Event), Severity: x.Severity,
			Recipient: x.Recipient, Subject: x.Subject, Body: x.Body,
		})
		cancel()
	}
	if d.OnResult != nil {
		d.OnResult(x.Channel, err)
	}
	now := d.now()
	if ctx.Err() == nil && d.OnChannel != nil && n != nil {
		d.OnChannel(x.Channel, err == nil)
	}
	switch {
	case err == nil:
		x.State, x.Provider, x.Done, x.LastError = DeliveryDelivered, provider, now, ""
		if x.Channel == "sms" {
			d.mu.Lock()
			d.lastSMS[x.Recipient] = now
			d.mu.Unlock()
		}
		d.log.Info("notification delivered", "key", x.Key, "channel", x.Channel, "to", x.Recipient, "via", provider, "attempts", x.Attempts)
		if x.Attempts > 1 {
			d.retrySoon(x.Channel) // the channel is back: don't let the others wait out their backoff
		}
	case ctx.Err() != nil:
		// Shutting down: back to the outbox for the next start.
		x.State, x.NextAttempt = DeliveryPending, now
		x.Attempts--
	case notify.IsPermanent(err):
		x.State, x.Done, x.LastError = DeliveryFailed, now, err.Error()
		d.log.Error("notification failed permanently", "key", x.Key, "channel", x.Channel, "to", x.Recipient, "err", err)
	default:
		x.State, x.LastError = DeliveryPending, err.Error()
		x.NextAttempt = now.Add(notify.Backoff(x.Attempts))
		d.log.Warn("notification not delivered yet; will retry", "key", x.Key, "channel", x.Channel, "to", x.Recipient,
			"attempt", x.Attempts, "retry_in", x.NextAttempt.Sub(now).Round(time.Millisecond), "err", err)
	}
	x.LeaseUntil = time.Time{}
	digest := x.DigestOf
	var members []Delivery
	err = d.store.Update(func(tx store.Tx) error {
		if err := putDelivery(tx, x); err != nil {
			return err
		}
		// The digest's members share its fate.
		for _, k := range digest {
			b := tx.Get(store.Outbox, k)
			if b == nil {
				continue
			}
			var m Delivery
			if json.Unmarshal(b, &m) != nil {
				continue
			}
			m.State, m.Provider, m.Done, m.LastError, m.NextAttempt = x.State, x.Provider, x.Done, x.LastError, x.NextAttempt
			m.Attempts++
			if x.State == DeliveryDelivered {
				m.LastError = "sent as part of the digest " + x.Key
			}
			if err := putDelivery(tx, m); err != nil {
				return err
			}
			members = append(members, m)
		}
		return nil
	})
	if err != nil {
		d.log.Error("cannot record delivery outcome", "key", x.Key, "err", err)
	} else {
		d.markOpen(x)
		for _, m := range members {
			d.markOpen(m)
		}
	}
	if x.State == DeliveryPending {
		d.Wake()
	}
}

// retrySoon pulls the next attempt of every pending delivery on channel
// forward to now.
func (d *Dispatcher) retrySoon(channel string) {
	now := d.now()
	d.omu.Lock()
	var keys []string
	for k, o := range d.open {
		if o.channel == channel && o.due.After(now) {
			keys = append(keys, k)
		}
	}
	d.omu.Unlock()
	err := d.store.Update(func(tx store.Tx) error {
		for _, k := range keys {
			var x Delivery
			if v := tx.Get(store.Outbox, k); v == nil || json.Unmarshal(v, &x) != nil || x.State != DeliveryPending {
				continue
			}
			x.NextAttempt = now
			if err := putDelivery(tx, x); err != nil {
				return err
			}
			d.markOpen(x)
		}
		return nil
	})
	if err != nil {
		d.log.Error("cannot reschedule deliveries", "err", err)
	}
	d.Wake()
}

// prune drops finished deliveries older than keepDelivered (once a minute).
func (d *Dispatcher) prune(now time.Time) {
	if now.Sub(d.lastPrune) < time.Minute {
		return
	}
	d.lastPrune = now
	err := d.store.Update(func(tx store.Tx) error {
		var del []string
		if err := tx.ForEach(store.Outbox, func(k string, v []byte) error {
			var x Delivery
			if json.Unmarshal(v, &x) != nil {
				del = append(del, k)
			} else if (x.State == DeliveryDelivered || x.State == DeliveryFailed) && now.Sub(x.Done) > keepDelivered {
				del = append(del, k)
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range del {
			if err := tx.Delete(store.Outbox, k); err != nil {
				return err
			}
		}
		return nil
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
		return tx.ForEach(store.Outbox, func(k string, v []byte) error {
			var x Delivery
			if json.Unmarshal(v, &x) != nil {
				return nil
			}
			if alarmID != "" {
				found := false
				for _, id := range x.AlarmIDs {
					found = found || id == alarmID
				}
				if !found {
					return nil
				}
			}
			x.Body = ""
			out = append(out, x)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, err
}
