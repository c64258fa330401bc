// Package dispatch turns alarm changes into deliveries, the second data
// path: route → mute (silences, depends_on) → notice (who was told, ack,
// repeat, escalation) → group → SMS throttle → the typed outbox (claim,
// lease, settle, ledger). Every change is made in a store transaction and
// memory follows on commit; Run only schedules.
package dispatch

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/store"
	"github.com/vedetta-dc/vedetta/notify"
	"github.com/vedetta-dc/vedetta/oncall"
)

// Dispatcher turns alarm events into notifications: routes, silences,
// dependencies, grouping, repeats, escalation, acks; then delivers them from
// the durable outbox, retrying until a channel accepts them.
//
// Every change of its state happens in a store transaction, and its
// in-memory copies (notices, the outbox index) follow only when that
// transaction commits: a write that fails leaves memory as the store is.
type Dispatcher struct {
	// following counts the sends that gave their slot back while they
	// follow a status (maxFollowing).
	following atomic.Int32
	store     store.Store
	routes    []config.Route
	receivers map[string]config.Receiver
	oncall    oncall.Schedules // on-call rotations receivers name (the config's)
	channels  map[string]notify.Notifier
	parents   map[string][]string
	config    []*Silence // recurring windows from the config
	smsLimits smsLimits
	log       *slog.Logger
	now       func() time.Time
	wake      chan struct{}
	owner     string // this instance, in the leases it takes
	backoff   func(attempt int) time.Duration

	ob        *outbox
	lastPrune time.Time
	// historyKeep is how long the history is kept (history_retention).
	historyKeep time.Duration

	mu       sync.Mutex
	notices  map[string]*Notice // committed notices, by alarm id
	silences map[string]*Silence
	// overrides are the run-time on-call overrides (oncall.go).
	overrides map[string]oncall.Override
	inflight  map[string]bool
	calling   map[string]bool      // voice numbers with a call in progress: one at a time
	buckets   map[string]smsBucket // the SMS throttle, per number
	spent     map[string]bool      // SMS in flight that spent a token (refunded if not sent)
	// unsaved holds outcomes of sends whose write failed (a full disk):
	// written again before anything else, so a delivered message is not
	// sent again when its lease runs out.
	unsaved map[string]Delivery
	// corrupt counts records that could not be decoded at start.
	corrupt int
	// standing are the alarms pending since before DigestUntil: the
	// start digest waits for them to fire or clear (digest.go).
	standing map[string]bool

	// TargetUp says whether a target answered its last collection (for
	// depends_on); known is false before the first round.
	TargetUp func(target string) (up, known bool)
	// Tag starts every subject this dispatcher sends ("[degraded: cluster
	// quorum lost] "): the reader knows the message did not come from the
	// cluster.
	Tag string
	// MaySend, when set, is asked before every send (a cluster's
	// dispatcher proves it still holds its office); an error puts the
	// delivery back.
	MaySend func(ctx context.Context) error
	// OnResult is told about every delivery attempt (metrics).
	OnResult func(channel string, err error)
	// OnChannel is told whether a channel delivered (any provider) or
	// failed on every provider: the NotificationChannelDown alarm.
	OnChannel func(channel string, up bool)
	// DigestUntil, when in the future, is the end of the start digest
	// (digest.go): until then every notification is held and goes out as
	// one message per receiver and channel. Set before the dispatcher is
	// used; StartDigestEnd computes it.
	DigestUntil time.Time
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
		parents: map[string][]string{}, smsLimits: smsLimits{Burst: 3, Every: time.Minute},
		log: log, now: time.Now, wake: make(chan struct{}, 1), owner: instance(), ob: newOutbox(),
		backoff: notify.Backoff,
		notices: map[string]*Notice{}, silences: map[string]*Silence{}, inflight: map[string]bool{}, overrides: map[string]oncall.Override{},
		calling: map[string]bool{}, standing: map[string]bool{},
		buckets: map[string]smsBucket{}, spent: map[string]bool{}, unsaved: map[string]Delivery{},
	}
	d.historyKeep = cfg.HistoryRetention
	if d.historyKeep <= 0 {
		d.historyKeep = 7 * 24 * time.Hour
	}
	if s := cfg.Notify.SMS; s != nil {
		if s.MinInterval != 0 {
			d.smsLimits.Every = s.MinInterval
		}
		if s.Burst != 0 {
			d.smsLimits.Burst = s.Burst
		}
	}
	for _, r := range cfg.Receivers {
		d.receivers[r.Name] = r
	}
	if cfg.Schedules != nil {
		sched, err := oncall.Parse(cfg.Block(cfg.Schedules, "schedules"), func(string) bool { return true })
		if err != nil {
			return nil, fmt.Errorf("schedules: %w", err)
		}
		d.oncall = sched
	}
	for _, t := range cfg.Targets {
		d.parents[t.Name] = t.DependsOn
	}
	for i, s := range cfg.Silences {
		sc, err := ParseSchedule(s.Schedule, nil)
		if err != nil {
			return nil, fmt.Errorf("silences[%d].schedule: %w", i, err)
		}
		ms := Equal(s.Match)
		for _, x := range s.Matchers {
			m, err := ParseMatcher(x)
			if err != nil {
				return nil, fmt.Errorf("silences[%d].matchers: %w", i, err)
			}
			ms = append(ms, m)
		}
		d.config = append(d.config, &Silence{ID: fmt.Sprintf("config-%d", i), Matchers: ms, Match: s.Match, Comment: s.Comment, Schedule: sc, Source: "config"})
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
			if json.Unmarshal(v, &g) != nil {
				g = group{Key: k} // held empty, so that housekeeping's flush drops it
			}
			d.ob.hold(g)
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
			s = s.prepared()
			d.silences[k] = &s
			return nil
		}); err != nil {
			return err
		}
		if err := d.loadOverrides(tx); err != nil {
			return err
		}
		sent, err := d.ob.smsSent(tx)
		d.buckets = d.smsLimits.replaySMS(sent)
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
