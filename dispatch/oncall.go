package dispatch

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/store"
	"github.com/vedetta-dc/vedetta/oncall"
)

// On-call overrides made at run time (a swap tonight, someone ill): kept
// in the store like silences, so they survive a restart and, in a
// cluster, are the same on every member; the config's schedules are the
// rest. The dispatcher resolves `oncall:` receivers over both.

// OnCall is who is on call, run-time overrides included.
func (d *Dispatcher) OnCall() oncall.Schedules {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.schedules()
}

// schedules are the config's schedules with the run-time overrides that
// have not ended. Caller holds d.mu.
func (d *Dispatcher) schedules() oncall.Schedules {
	if len(d.overrides) == 0 {
		return d.oncall
	}
	now := d.now()
	extra := make([]oncall.Override, 0, len(d.overrides))
	for _, o := range d.overrides {
		if o.Until.After(now) {
			extra = append(extra, o)
		}
	}
	return d.oncall.With(extra)
}

// Overrides lists the run-time overrides not yet ended, by start.
func (d *Dispatcher) Overrides() []oncall.Override {
	d.mu.Lock()
	defer d.mu.Unlock()
	return liveOverrides(d.overrides, d.now())
}

func liveOverrides(m map[string]oncall.Override, now time.Time) []oncall.Override {
	out := []oncall.Override{}
	for _, o := range m {
		if o.Until.After(now) {
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].From.Before(out[j].From) || out[i].From.Equal(out[j].From) && out[i].ID < out[j].ID
	})
	return out
}

// NewOverride checks a run-time override against the schedules and the
// receivers and gives it an ID.
func (d *Dispatcher) NewOverride(o oncall.Override) (oncall.Override, error) {
	return newOverride(d.oncall, d.receivers, o)
}

func newOverride(ss oncall.Schedules, receivers map[string]config.Receiver, o oncall.Override) (oncall.Override, error) {
	switch {
	case ss[o.Schedule] == nil:
		return o, fmt.Errorf("no on-call schedule named %q (the config's schedules: %v)", o.Schedule, ss.Names())
	case receivers[o.Person].OnCall != "" || len(receivers[o.Person].Email)+len(receivers[o.Person].SMS)+len(receivers[o.Person].Webhooks) == 0:
		return o, fmt.Errorf("%q is not a receiver with contact points", o.Person)
	case !o.Until.After(o.From):
		return o, errors.New("an override must end after it starts")
	}
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	o.ID = "o" + hex.EncodeToString(b)
	return o, nil
}

// AddOverride records a run-time override (made here, or on a cluster
// member's API with its ID: applied twice, it is one override).
func (d *Dispatcher) AddOverride(o oncall.Override) (oncall.Override, error) {
	if o.ID == "" {
		var err error
		if o, err = d.NewOverride(o); err != nil {
			return o, err
		}
	}
	if err := d.putOverride(o); err != nil {
		return o, err
	}
	d.log.Info("on-call override added", "id", o.ID, "schedule", o.Schedule, "person", o.Person,
		"from", o.From.Format(time.RFC3339), "until", o.Until.Format(time.RFC3339), "by", o.By)
	return o, nil
}

func (d *Dispatcher) putOverride(o oncall.Override) error {
	err := d.store.Update(func(tx store.Tx) error {
		j, err := json.Marshal(o)
		if err != nil {
			return err
		}
		return tx.Put(store.Overrides, o.ID, j)
	})
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.overrides[o.ID] = o
	d.mu.Unlock()
	return nil
}

// RemoveOverride ends a run-time override now (kept, ended, so that the
// past stays readable until it is pruned).
func (d *Dispatcher) RemoveOverride(id string) error {
	d.mu.Lock()
	o, ok := d.overrides[id]
	d.mu.Unlock()
	now := d.now()
	if !ok || !o.Until.After(now) {
		return fmt.Errorf("no run-time on-call override %q (config overrides are changed in the config)", id)
	}
	o.Until = now
	if o.From.After(now) {
		o.From = now
	}
	if err := d.putOverride(o); err != nil {
		return err
	}
	d.log.Info("on-call override removed", "id", id)
	return nil
}

// loadOverrides reads the run-time overrides at start. Caller is in tx.
func (d *Dispatcher) loadOverrides(tx store.Tx) error {
	return tx.ForEach(store.Overrides, func(k string, v []byte) error {
		var o oncall.Override
		if json.Unmarshal(v, &o) != nil {
			d.corrupt++
			return nil
		}
		d.overrides[k] = o
		return nil
	})
}
