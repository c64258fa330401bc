package dispatch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/store"
	"github.com/vedetta-dc/vedetta/model"
	"github.com/vedetta-dc/vedetta/oncall"
)

// The inbox is how a cluster member that is not the dispatcher hands its
// alarm changes (and the acks and silences made on its API) to the one
// that is. A member writes an alarm's new state and its inbox entry in
// one transaction, exactly as Persist writes the state and the outbox
// entries on a single node: once the change is recorded, it is in the
// inbox, replicated. The dispatcher turns entries into notices and
// deliveries and deletes them in one (fenced) transaction: each is taken
// once, by the dispatcher in office, and a crash in between leaves it in
// the inbox for the next one.

// Entry is one inbox record: an alarm change, or a command from a
// member's API.
type Entry struct {
	From   string        `json:"from"` // the member that wrote it
	Change *model.Change `json:"change,omitempty"`
	Ack    *AckCommand   `json:"ack,omitempty"`
	// Unack withdraws the ack of that alarm (UnackBy says who).
	Unack   string `json:"unack,omitempty"`
	UnackBy string `json:"unack_by,omitempty"`
	// Escalate runs that alarm's next escalation step now (EscalateBy
	// asked, by an SMS reply).
	Escalate   string `json:"escalate,omitempty"`
	EscalateBy string `json:"escalate_by,omitempty"`
	// Silence is created with its ID; Expire ends the silence of that ID.
	Silence *Silence `json:"silence,omitempty"`
	Expire  string   `json:"expire,omitempty"`
	// Override is an on-call override, created with its ID; EndOverride
	// ends the override of that ID.
	Override    *oncall.Override `json:"override,omitempty"`
	EndOverride string           `json:"end_override,omitempty"`
}

// AckCommand is an ack made on a member's API.
type AckCommand struct {
	AlarmID string        `json:"alarm_id"`
	By      string        `json:"by"`
	Comment string        `json:"comment"`
	TTL     time.Duration `json:"ttl"`
}

// inboxSeq makes inbox keys of one process unique within a nanosecond.
var inboxSeq atomic.Uint64

// inboxKey orders entries by the time they were written (then by member):
// an alarm's changes come from the member that polls its target, in
// order; when the target moves, the old owner's last change was written
// seconds before the new owner's first.
func inboxKey(node string, now time.Time) string {
	return fmt.Sprintf("%020d-%s-%08d", now.UnixNano(), node, inboxSeq.Add(1)%1e8)
}

// PersistInbox records alarm changes and hands their events to the
// dispatcher through the inbox, in one transaction (a cluster member's
// Persist).
func PersistInbox(st store.Store, node string, changes []model.Change) error {
	now := time.Now()
	return st.Update(func(tx store.Tx) error { return PersistInboxTx(tx, node, now, changes) })
}

// PersistInboxTx is PersistInbox inside the caller's transaction.
func PersistInboxTx(tx store.Tx, node string, now time.Time, changes []model.Change) error {
	for i := range changes {
		c := changes[i]
		if kept, err := recordAlarm(tx, c); err != nil || !kept {
			if err != nil {
				return err
			}
			continue
		}
		if c.Event == "" {
			// A state without news (pending): the dispatcher's notices
			// read nothing of it.
			continue
		}
		if err := putEntry(tx, node, now, Entry{From: node, Change: &c}); err != nil {
			return err
		}
	}
	return nil
}

func putEntry(tx store.Tx, node string, now time.Time, e Entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return tx.Put(store.Inbox, inboxKey(node, now), b)
}

// SendCommand writes an API command into the inbox.
func SendCommand(st store.Store, node string, e Entry) error {
	e.From = node
	return st.Update(func(tx store.Tx) error { return putEntry(tx, node, time.Now(), e) })
}

// DrainInbox takes up to limit inbox entries, oldest first. Alarm changes
// become notices and deliveries in the same transaction that deletes
// them; commands run on their own (an ack is its own transaction) and are
// deleted after. It returns how many entries were taken.
func (d *Dispatcher) DrainInbox(limit int) (int, error) {
	type command struct {
		key string
		e   Entry
	}
	var cmds []command
	var taken []string
	err := d.store.Update(func(tx store.Tx) error {
		cmds, taken = cmds[:0], taken[:0]
		err := tx.ForEach(store.Inbox, func(k string, v []byte) error {
			if len(taken)+len(cmds) >= limit {
				return errEnough
			}
			var e Entry
			if json.Unmarshal(v, &e) != nil {
				d.log.Error("undecodable inbox entry dropped", "key", k)
				taken = append(taken, k)
				return nil
			}
			if e.Change == nil {
				cmds = append(cmds, command{k, e}) // deleted once it has run
				return nil
			}
			taken = append(taken, k)
			return d.Update(tx, e.Change.Alarm, e.Change.Event)
		})
		if err != nil && !errors.Is(err, errEnough) {
			return err
		}
		// After the walk: a bucket must not change under its cursor.
		for _, k := range taken {
			if err := tx.Delete(store.Inbox, k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, c := range cmds {
		if err := d.apply(c.e); err != nil {
			d.log.Warn("command from a cluster member not applied", "from", c.e.From, "err", err)
		}
		if err := d.store.Update(func(tx store.Tx) error { return tx.Delete(store.Inbox, c.key) }); err != nil {
			return len(taken), err // applied again next time: acks and silences are idempotent
		}
	}
	n := len(taken) + len(cmds)
	if n > 0 {
		d.Wake()
	}
	return n, nil
}

var errEnough = errors.New("enough for one transaction")

func (d *Dispatcher) apply(e Entry) error {
	switch {
	case e.Ack != nil:
		_, err := d.Ack(e.Ack.AlarmID, e.Ack.By, e.Ack.Comment, e.Ack.TTL)
		return err
	case e.Escalate != "":
		if _, err := d.EscalateNow(e.Escalate, e.EscalateBy); err != nil && !errors.Is(err, ErrNoAlarm) && !errors.Is(err, ErrNoStep) {
			return err
		}
		// Not idempotent like acks: a dispatcher that dies between the
		// step and the entry's deletion runs one step more, once.
		return nil
	case e.Unack != "":
		_, err := d.Unack(e.Unack, e.UnackBy)
		if errors.Is(err, ErrNoAlarm) {
			return nil // already withdrawn (applied twice), or resolved
		}
		return err
	case e.Silence != nil:
		return d.putSilence(*e.Silence)
	case e.Expire != "":
		return d.ExpireSilence(e.Expire)
	case e.Override != nil:
		_, err := d.AddOverride(*e.Override)
		return err
	case e.EndOverride != "":
		if err := d.RemoveOverride(e.EndOverride); err != nil {
			d.log.Info("on-call override already ended", "id", e.EndOverride, "err", err)
		}
		return nil // applied twice, or ended meanwhile
	}
	return errors.New("an empty inbox entry")
}

// Relay is a cluster member's view of the notification state for its
// API, on a member that is not the dispatcher: it reads the replicated
// store, and hands writes (acks, silences) to the dispatcher through the
// inbox, waiting until they show.
type Relay struct {
	Store store.Store
	Node  string
	// Config silences, as the dispatcher has them.
	Config []*Silence
	// OnCallConfig and Receivers are the config's schedules and
	// receivers: who is on call, and which overrides are valid.
	OnCallConfig oncall.Schedules
	Receivers    map[string]config.Receiver
	Wait         time.Duration // how long a write may take to show (default 5s)
}

// Notice reads an alarm's notice.
func (r *Relay) Notice(id string) *Notice {
	var n *Notice
	_ = r.Store.View(func(tx store.Tx) error {
		if b := tx.Get(store.Notices, id); b != nil {
			var x Notice
			if json.Unmarshal(b, &x) == nil {
				n = &x
			}
		}
		return nil
	})
	return n
}

// Deliveries reads an alarm's ledger.
func (r *Relay) Deliveries(id string) ([]Delivery, error) {
	var out []Delivery
	err := r.Store.View(func(tx store.Tx) error {
		var err error
		out, err = newOutbox().ledger(tx, id)
		return err
	})
	return out, err
}

// Ack hands an ack to the dispatcher and waits until its notice shows it.
func (r *Relay) Ack(id, by, comment string, ttl time.Duration) (*Notice, error) {
	if n := r.Notice(id); n == nil || !n.Firing {
		return nil, ErrNoAlarm
	}
	if err := SendCommand(r.Store, r.Node, Entry{Ack: &AckCommand{AlarmID: id, By: by, Comment: comment, TTL: ttl}}); err != nil {
		return nil, err
	}
	var got *Notice
	err := r.wait(func() bool {
		got = r.Notice(id)
		return got != nil && got.Ack != nil && got.Ack.By == by && got.Ack.Comment == comment
	})
	return got, err
}

// EscalateNow hands "run the next escalation step now" to the dispatcher;
// it answers at once (0: the step's number is the dispatcher's to know).
func (r *Relay) EscalateNow(id, by string) (int, error) {
	n := r.Notice(id)
	switch {
	case n == nil || !n.Firing:
		return 0, ErrNoAlarm
	case n.Ack != nil:
		return 0, fmt.Errorf("%s is acknowledged by %s: %w", id, n.Ack.By, ErrNoStep)
	}
	return 0, SendCommand(r.Store, r.Node, Entry{Escalate: id, EscalateBy: by})
}

// Unack hands the withdrawal of an ack to the dispatcher and waits until
// the notice shows it.
func (r *Relay) Unack(id, by string) (*Notice, error) {
	if n := r.Notice(id); n == nil || !n.Firing || n.Ack == nil {
		return nil, ErrNoAlarm
	}
	if err := SendCommand(r.Store, r.Node, Entry{Unack: id, UnackBy: by}); err != nil {
		return nil, err
	}
	var got *Notice
	err := r.wait(func() bool {
		got = r.Notice(id)
		return got == nil || got.Ack == nil
	})
	return got, err
}

// Silences lists the config's silences and the run-time ones.
func (r *Relay) Silences() []Silence {
	now := time.Now()
	var out []Silence
	for _, s := range r.Config {
		out = append(out, *s)
	}
	_ = r.Store.View(func(tx store.Tx) error {
		return tx.ForEach(store.Silences, func(_ string, v []byte) error {
			var s Silence
			if json.Unmarshal(v, &s) == nil && now.Before(s.EndsAt) {
				s.Source = "api"
				out = append(out, s)
			}
			return nil
		})
	})
	return out
}

// AddSilence hands a new silence to the dispatcher and waits for it.
func (r *Relay) AddSilence(ms Matchers, starts, ends time.Time, comment, by string) (Silence, error) {
	s, err := newSilence(ms, starts, ends, comment, by)
	if err != nil {
		return Silence{}, err
	}
	if err := SendCommand(r.Store, r.Node, Entry{Silence: &s}); err != nil {
		return Silence{}, err
	}
	return s, r.wait(func() bool { return r.silence(s.ID) != nil })
}

// ExpireSilence hands the end of a silence to the dispatcher.
func (r *Relay) ExpireSilence(id string) error {
	if r.silence(id) == nil {
		return fmt.Errorf("no run-time silence %q (config silences are changed in the config)", id)
	}
	if err := SendCommand(r.Store, r.Node, Entry{Expire: id}); err != nil {
		return err
	}
	return r.wait(func() bool { s := r.silence(id); return s != nil && !time.Now().Before(s.EndsAt) })
}

func (r *Relay) silence(id string) *Silence {
	var out *Silence
	_ = r.Store.View(func(tx store.Tx) error {
		if b := tx.Get(store.Silences, id); b != nil {
			var s Silence
			if json.Unmarshal(b, &s) == nil {
				out = &s
			}
		}
		return nil
	})
	return out
}

// wait polls until done or the wait is over: the dispatcher takes the
// inbox within a fraction of a second when the cluster is healthy.
func (r *Relay) wait(done func() bool) error {
	w := r.Wait
	if w == 0 {
		w = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), w)
	defer cancel()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for !done() {
		select {
		case <-ctx.Done():
			return errors.New("handed to the cluster's dispatcher, which has not applied it yet (is there one? see vedetta cluster status)")
		case <-t.C:
		}
	}
	return nil
}

// newSilence checks and builds a run-time silence with a fresh ID.
func newSilence(ms Matchers, starts, ends time.Time, comment, by string) (Silence, error) {
	ms = ms.compiled()
	if len(ms) == 0 || ms.matchesEverything() {
		return Silence{}, errors.New("a silence needs a matcher that does not match everything, e.g. target=ups-b " +
			"(silencing everything is not a silence, it is an outage)")
	}
	if !ends.After(starts) {
		return Silence{}, errors.New("a silence must end after it starts")
	}
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return Silence{ID: "s" + hex.EncodeToString(b), Matchers: ms, Match: ms.equalities(), StartsAt: starts, EndsAt: ends,
		Comment: comment, CreatedBy: by, Source: "api"}, nil
}

// OnCall is who is on call, the run-time overrides in the store included.
func (r *Relay) OnCall() oncall.Schedules { return r.OnCallConfig.With(r.Overrides()) }

// Overrides reads the run-time on-call overrides not yet ended.
func (r *Relay) Overrides() []oncall.Override {
	m := map[string]oncall.Override{}
	_ = r.Store.View(func(tx store.Tx) error {
		return tx.ForEach(store.Overrides, func(k string, v []byte) error {
			var o oncall.Override
			if json.Unmarshal(v, &o) == nil {
				m[k] = o
			}
			return nil
		})
	})
	return liveOverrides(m, time.Now())
}

// AddOverride hands a new override to the dispatcher and waits for it.
func (r *Relay) AddOverride(o oncall.Override) (oncall.Override, error) {
	o, err := newOverride(r.OnCallConfig, r.Receivers, o)
	if err != nil {
		return o, err
	}
	if err := SendCommand(r.Store, r.Node, Entry{Override: &o}); err != nil {
		return o, err
	}
	return o, r.wait(func() bool { return r.override(o.ID) != nil })
}

// RemoveOverride hands the end of an override to the dispatcher.
func (r *Relay) RemoveOverride(id string) error {
	if o := r.override(id); o == nil || !o.Until.After(time.Now()) {
		return fmt.Errorf("no run-time on-call override %q (config overrides are changed in the config)", id)
	}
	if err := SendCommand(r.Store, r.Node, Entry{EndOverride: id}); err != nil {
		return err
	}
	return r.wait(func() bool { o := r.override(id); return o != nil && !o.Until.After(time.Now()) })
}

func (r *Relay) override(id string) *oncall.Override {
	var out *oncall.Override
	_ = r.Store.View(func(tx store.Tx) error {
		if b := tx.Get(store.Overrides, id); b != nil {
			var o oncall.Override
			if json.Unmarshal(b, &o) == nil {
				out = &o
			}
		}
		return nil
	})
	return out
}
