package alerting

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vedetta-dc/vedetta/alerting/notify"
	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/store"
)

// Dispatcher turns alarm events into notifications: routes, silences,
// dependencies, grouping, repeats, escalation, acks; then delivers them from
// the durable outbox, retrying until a channel accepts them.
//
// Every change of its state happens in a store transaction, and its
// in-memory copies (notices, the outbox index) follow only when that
// transaction commits: a write that fails leaves memory as the store is.
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
	owner     string // this instance, in the leases it takes
	backoff   func(attempt int) time.Duration

	ob        *outbox
	lastPrune time.Time

	mu       sync.Mutex
	notices  map[string]*Notice // committed notices, by alarm id
	silences map[string]*Silence
	inflight map[string]bool
	lastSMS  map[string]time.Time
	// unsaved holds outcomes of sends whose write failed (a full disk):
	// written again before anything else, so a delivered message is not
	// sent again when its lease runs out.
	unsaved map[string]Delivery
	// corrupt counts records that could not be decoded at start.
	corrupt int

	// TargetUp says whether a target answered its last collection (for
	// depends_on); known is false before the first round.
	TargetUp func(target string) (up, known bool)
	// OnResult is told about every delivery attempt (metrics).
	OnResult func(channel string, err error)
	// OnChannel is told whether a channel delivered (any provider) or
	// failed on every provider: the NotificationChannelDown alarm.
	OnChannel func(channel string, up bool)
}

// instance names this process in the leases it takes.
func instance() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%x", host, os.Getpid(), b)
}

// NewDispatcher builds a dispatcher and loads its state from the store.
func NewDispatcher(st store.Store, cfg *config.Config, channels map[string]notify.Notifier, log *slog.Logger) (*Dispatcher, error) {
	d := &Dispatcher{
		store: st, routes: cfg.Routes, receivers: map[string]config.Receiver{}, channels: channels,
		parents: map[string][]string{}, smsGap: time.Minute,
		log: log, now: time.Now, wake: make(chan struct{}, 1), owner: instance(), ob: newOutbox(),
		backoff: notify.Backoff,
		notices: map[string]*Notice{}, silences: map[string]*Silence{}, inflight: map[string]bool{},
		lastSMS: map[string]time.Time{}, unsaved: map[string]Delivery{},
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
	// Read-only: a full disk at start must not stop the dispatcher. What
	// needs writing back goes through the same retry as a failed outcome.
	var retry []Delivery
	err := st.View(func(tx store.Tx) error {
		var bad int
		var err error
		retry, bad, err = d.ob.load(tx, d.owner, time.Now())
		if err != nil {
			return err
		}
		d.corrupt += bad
		if err := tx.ForEach(store.Notices, func(k string, v []byte) error {
			var n Notice
			if json.Unmarshal(v, &n) != nil {
				d.corrupt++
				return nil
			}
			d.notices[k] = &n
			return nil
		}); err != nil {
			return err
		}
		if err := tx.ForEach(store.Groups, func(k string, v []byte) error {
			var g group
			if json.Unmarshal(v, &g) == nil {
				d.ob.hold(g)
			}
			return nil // a corrupt group is dropped, and logged, at its flush
		}); err != nil {
			return err
		}
		if err := tx.ForEach(store.Silences, func(k string, v []byte) error {
			var s Silence
			if json.Unmarshal(v, &s) != nil {
				d.corrupt++
				return nil
			}
			s.Source = "api"
			d.silences[k] = &s
			return nil
		}); err != nil {
			return err
		}
		d.lastSMS, err = d.ob.lastSMS(tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, x := range retry {
		d.unsaved[x.Key] = x
	}
	d.saveUnsaved()
	if d.corrupt > 0 {
		d.log.Error("records of the notification state could not be decoded and were dropped", "count", d.corrupt)
	}
	return d, err
}

// Corrupt is the number of outbox, notice and silence records that could
// not be decoded at start (reported as StateLost by the daemon).
func (d *Dispatcher) Corrupt() int { return d.corrupt }

// OpenDeliveries is the number of deliveries still to send.
func (d *Dispatcher) OpenDeliveries() int { return d.ob.openCount() }

// DuplicateKeys counts deliveries not queued because their key existed.
func (d *Dispatcher) DuplicateKeys() int {
	d.ob.mu.Lock()
	defer d.ob.mu.Unlock()
	return d.ob.duplicates
}

// put queues a new delivery. A key that exists already is not queued
// twice; keys are unique per event, so that is a bug, and it is logged.
func (d *Dispatcher) put(tx store.Tx, x Delivery, now time.Time) error {
	added, err := d.ob.add(tx, x, now)
	if err == nil && !added {
		d.log.Error("delivery key exists already; not queued twice", "key", x.Key)
	}
	return err
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
	d.saveUnsaved()
	now := d.now()
	keys := d.ob.candidates(now)
	if len(keys) == 0 {
		return nil
	}
	var out []Delivery
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
		claim := d.throttleSMS(ready, now)
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
		x.Subject, x.DigestOf = stripDigest(x.Subject), nil
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
			out[i].Subject = fmt.Sprintf("%s"+digestMark, out[i].Subject, n)
		}
	}
	return out
}

const digestMark = " (+%d more, see e-mail)"

// stripDigest removes a digest mark from a subject (a retried digest is
// built again from what is ready then).
func stripDigest(s string) string {
	if i := strings.LastIndex(s, " (+"); i >= 0 && strings.HasSuffix(s, " more, see e-mail)") {
		return s[:i]
	}
	return s
}

func (d *Dispatcher) isInflight(k string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.unsaved[k]; ok {
		return true
	}
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
			defer d.retrySoon(x.Channel) // the channel is back: don't let the others wait out their backoff
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
		x.NextAttempt = now.Add(d.backoff(x.Attempts))
		d.log.Warn("notification not delivered yet; will retry", "key", x.Key, "channel", x.Channel, "to", x.Recipient,
			"attempt", x.Attempts, "retry_in", x.NextAttempt.Sub(now).Round(time.Millisecond), "err", err)
	}
	x.LeaseUntil, x.LeaseOwner = time.Time{}, ""
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

// settle records a send's outcome; the members of a digest share it.
func (d *Dispatcher) settle(x Delivery) error {
	return d.store.Update(func(tx store.Tx) error {
		if err := d.ob.save(tx, x); err != nil {
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
				m.LastError = "sent as part of the digest " + x.Key
			}
			if err := d.ob.save(tx, m); err != nil {
				return err
			}
		}
		return nil
	})
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
		_, err := d.ob.prune(tx, now)
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
