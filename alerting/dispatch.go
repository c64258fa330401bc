package alerting

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/vedetta-dc/vedetta/alerting/notify"
	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/store"
)

// Delivery is one notification in the durable outbox: written before the
// first attempt, so a crash never loses it.
type Delivery struct {
	Key         string    `json:"key"` // idempotency key
	AlarmID     string    `json:"alarm_id"`
	Event       EventKind `json:"event"`
	Severity    string    `json:"severity"`
	Receiver    string    `json:"receiver"`
	Channel     string    `json:"channel"`
	Recipient   string    `json:"recipient"`
	Subject     string    `json:"subject"`
	Body        string    `json:"body"`
	State       string    `json:"state"` // pending | sending | delivered | failed
	Attempts    int       `json:"attempts"`
	Created     time.Time `json:"created"`
	NextAttempt time.Time `json:"next_attempt"`
	LeaseUntil  time.Time `json:"lease_until,omitzero"`
	Provider    string    `json:"provider,omitempty"`
	LastError   string    `json:"last_error,omitempty"`
	Done        time.Time `json:"done,omitzero"`
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
// dispatcher (or this one after a restart) takes it over.
const sendLease = 2 * time.Minute

// Dispatcher routes alarm events to receivers and delivers them from the
// outbox, retrying with backoff until a channel accepts them.
type Dispatcher struct {
	store     store.Store
	routes    []config.Route
	receivers map[string]config.Receiver
	channels  map[string]notify.Notifier
	log       *slog.Logger
	now       func() time.Time
	wake      chan struct{}

	mu       sync.Mutex
	inflight map[string]bool

	// OnResult is told about every attempt (for metrics).
	OnResult func(channel string, err error)
}

// NewDispatcher builds a dispatcher over the configured routes.
func NewDispatcher(st store.Store, cfg *config.Config, channels map[string]notify.Notifier, log *slog.Logger) *Dispatcher {
	d := &Dispatcher{
		store: st, routes: cfg.Routes, receivers: map[string]config.Receiver{}, channels: channels,
		log: log, now: time.Now, wake: make(chan struct{}, 1), inflight: map[string]bool{},
	}
	for _, r := range cfg.Receivers {
		d.receivers[r.Name] = r
	}
	return d
}

type recipient struct {
	receiver, channel, address string
}

// recipients applies the routes: the first matching route wins unless it
// says continue; a route without match matches everything.
func (d *Dispatcher) recipients(a Alarm) []recipient {
	var out []recipient
	seen := map[recipient]bool{}
	for _, rt := range d.routes {
		if !matches(rt.Match, a) {
			continue
		}
		for _, name := range rt.Receivers {
			rc := d.receivers[name]
			want := func(ch string) bool {
				if len(rt.Channels) == 0 {
					return true
				}
				for _, c := range rt.Channels {
					if c == ch {
						return true
					}
				}
				return false
			}
			if _, ok := d.channels["email"]; ok && want("email") {
				for _, addr := range rc.Email {
					r := recipient{name, "email", addr}
					if !seen[r] {
						seen[r] = true
						out = append(out, r)
					}
				}
			}
		}
		if !rt.Continue {
			break
		}
	}
	return out
}

func matches(m map[string]string, a Alarm) bool {
	for k, v := range m {
		var got string
		switch k {
		case "severity":
			got = a.Severity
		case "rule", "alertname":
			got = a.Rule
		default:
			got = a.Labels[k]
		}
		if got != v {
			return false
		}
	}
	return true
}

// Enqueue writes the deliveries for one event, inside the caller's
// transaction, so the alarm's new state and its notifications are kept
// together or not at all.
func (d *Dispatcher) Enqueue(tx store.Tx, a Alarm, ev EventKind) error {
	now := d.now()
	for _, r := range d.recipients(a) {
		key := fmt.Sprintf("%s/%d/%s/%s/%s/%s", a.ID, a.Seq, ev, r.receiver, r.channel, r.address)
		if tx.Get(store.Outbox, key) != nil {
			continue // already queued: idempotent
		}
		del := Delivery{
			Key: key, AlarmID: a.ID, Event: ev, Severity: a.Severity, Receiver: r.receiver, Channel: r.channel,
			Recipient: r.address, Subject: Subject(a, ev), Body: Body(a, ev), State: DeliveryPending,
			Created: now, NextAttempt: now,
		}
		b, err := json.Marshal(del)
		if err != nil {
			return err
		}
		if err := tx.Put(store.Outbox, key, b); err != nil {
			return err
		}
	}
	return nil
}

// Wake makes the dispatcher look at the outbox now.
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends; in-flight sends finish (bounded by their
// own timeout) before it returns.
func (d *Dispatcher) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		for _, del := range d.due() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d.send(ctx, del)
			}()
		}
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		case <-t.C:
		}
	}
}

// due claims deliveries that should be attempted now: pending ones whose
// time has come, and "sending" ones whose lease ran out (the process died
// mid-send: at most that one send may be repeated).
func (d *Dispatcher) due() []Delivery {
	now := d.now()
	var out []Delivery
	err := d.store.Update(func(tx store.Tx) error {
		var del []string
		var claim []Delivery
		err := tx.ForEach(store.Outbox, func(k string, v []byte) error {
			var x Delivery
			if err := json.Unmarshal(v, &x); err != nil {
				d.log.Error("corrupt outbox entry dropped", "key", k, "err", err)
				del = append(del, k)
				return nil
			}
			switch x.State {
			case DeliveryDelivered, DeliveryFailed:
				if now.Sub(x.Done) > keepDelivered {
					del = append(del, k)
				}
			case DeliveryPending:
				if !x.NextAttempt.After(now) && !d.isInflight(k) {
					claim = append(claim, x)
				}
			case DeliverySending:
				if x.LeaseUntil.Before(now) && !d.isInflight(k) {
					claim = append(claim, x)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range del {
			if err := tx.Delete(store.Outbox, k); err != nil {
				return err
			}
		}
		sort.Slice(claim, func(i, j int) bool { return claim[i].Created.Before(claim[j].Created) })
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
	d.mu.Lock()
	for _, x := range out {
		d.inflight[x.Key] = true
	}
	d.mu.Unlock()
	return out
}

func (d *Dispatcher) isInflight(k string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.inflight[k]
}

func putDelivery(tx store.Tx, x Delivery) error {
	b, err := json.Marshal(x)
	if err != nil {
		return err
	}
	return tx.Put(store.Outbox, x.Key, b)
}

func (d *Dispatcher) send(ctx context.Context, x Delivery) {
	defer func() {
		d.mu.Lock()
		delete(d.inflight, x.Key)
		d.mu.Unlock()
	}()
	n := d.channels[x.Channel]
	var provider string
	var err error
	if n == nil {
		err = notify.Permanent(fmt.Errorf("channel %q is not configured", x.Channel))
	} else {
		sctx, cancel := context.WithTimeout(ctx, sendLease/2)
		provider, err = n.Notify(sctx, notify.Message{
			Key: x.Key, AlarmID: x.AlarmID, Event: string(x.Event), Severity: x.Severity,
			Recipient: x.Recipient, Subject: x.Subject, Body: x.Body,
		})
		cancel()
	}
	if d.OnResult != nil {
		d.OnResult(x.Channel, err)
	}
	now := d.now()
	switch {
	case err == nil:
		x.State, x.Provider, x.Done, x.LastError = DeliveryDelivered, provider, now, ""
		d.log.Info("notification delivered", "key", x.Key, "channel", x.Channel, "to", x.Recipient, "via", provider, "attempts", x.Attempts)
	case ctx.Err() != nil:
		// Shutting down: leave it for the next start, not counted as tried.
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
	if err := d.store.Update(func(tx store.Tx) error { return putDelivery(tx, x) }); err != nil {
		d.log.Error("cannot record delivery outcome", "key", x.Key, "err", err)
	}
	if x.State == DeliveryPending {
		d.Wake()
	}
}

// Deliveries returns the ledger of one alarm (every queued or finished
// notification), oldest first.
func (d *Dispatcher) Deliveries(alarmID string) ([]Delivery, error) {
	var out []Delivery
	err := d.store.View(func(tx store.Tx) error {
		return tx.ForEach(store.Outbox, func(k string, v []byte) error {
			var x Delivery
			if json.Unmarshal(v, &x) == nil && (alarmID == "" || x.AlarmID == alarmID) {
				x.Body = ""
				out = append(out, x)
			}
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, err
}
