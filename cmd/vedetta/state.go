package main

import (
	"context"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vedetta-dc/vedetta/dispatch"
	"github.com/vedetta-dc/vedetta/model"
)

// lostState is what could not be read at start. It is an alarm
// (StateLost, through every route like any other), never only a log line:
// acks, silences and queued notifications from before may be gone, and
// alarms that were firing are notified again.
type lostState struct {
	reasons []string
	kept    string // where the unreadable file (or a copy) is kept for inspection
	corrupt bool   // records failed to decode: keep a copy before they are dropped
}

func (l *lostState) add(reason string) { l.reasons = append(l.reasons, reason) }

// stateLostHold is how long StateLost fires after a start that lost state:
// long enough to be seen and acknowledged, then it resolves by itself.
const stateLostHold = time.Hour

// noteCorrupt records undecodable records; the daemon goes on with what it
// could read.
func (d *daemon) noteCorrupt(reason string) {
	d.lost.add(reason)
	d.lost.corrupt = true
}

// reportLost keeps a copy of a state file with undecodable records (once)
// and logs what was lost; stateLostLoop raises the alarm.
func (d *daemon) reportLost() {
	if len(d.lost.reasons) == 0 {
		return
	}
	if d.lost.corrupt && d.lost.kept == "" && d.bolt != nil {
		kept, err := d.bolt.KeepCopy()
		if err != nil {
			d.log.Error("cannot keep a copy of the state file", "err", err)
		}
		d.lost.kept = kept
		if err == nil {
			if _, err := dispatch.DropUndecodable(d.st); err != nil {
				d.log.Error("cannot drop the undecodable records", "err", err)
			}
		}
	}
	d.log.Error("saved state was lost (StateLost alarm raised)", "reason", strings.Join(d.lost.reasons, "; "), "kept", d.lost.kept)
}

// stateLostLoop keeps the StateLost sample fresh for stateLostHold, then
// sets it to 0 so that the alarm resolves.
func (d *daemon) stateLostLoop(ctx context.Context) {
	if len(d.lost.reasons) == 0 {
		// A StateLost of an earlier start, restored firing: this start
		// lost nothing, so it resolves (else it would go stale, for ever).
		for _, a := range d.engine.Alarms() {
			if a.Rule == "StateLost" && a.State != model.StateResolved {
				d.selfSample(model.MetricStateLost, 0, "reason", a.Labels["reason"], "kept", a.Labels["kept"])
			}
		}
		return
	}
	reason, kept := strings.Join(d.lost.reasons, "; "), d.lost.kept
	if kept == "" {
		kept = "(no copy could be made)"
	}
	start := time.Now()
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		v := 1.0
		if time.Since(start) >= stateLostHold {
			v = 0
		}
		d.selfSample(model.MetricStateLost, v, "reason", reason, "kept", kept)
		if v == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// compactEvery is how often the state file's free space is looked at; it
// is compacted when more than half of a file over compactMin is free
// (bbolt reuses freed pages but never gives them back: after a storm the
// file would stay at its peak for ever).
const (
	compactEvery = 10 * time.Minute
	compactMin   = 16 << 20
)

func (d *daemon) compactLoop(ctx context.Context) { every(ctx, compactEvery, d.compactIfWorth) }

func (d *daemon) compactIfWorth() {
	s := d.bolt.Stats()
	if s.FileBytes < compactMin || s.FreeBytes*2 < s.FileBytes {
		return
	}
	start := time.Now()
	if err := d.bolt.Compact(); err != nil {
		d.log.Error("state file compaction failed", "err", err)
		return
	}
	d.log.Info("state file compacted", "before_bytes", s.FileBytes, "after_bytes", d.bolt.Stats().FileBytes,
		"took", time.Since(start).Round(time.Millisecond))
}

// watchState serves the state file's size and the outbox's backlog.
func (d *daemon) watchState() {
	if d.bolt != nil {
		d.m.reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "vedetta_state_bytes", Help: "Size of the state file (vedetta.db).",
			}, func() float64 { return float64(d.bolt.Stats().FileBytes) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "vedetta_state_free_bytes", Help: "Free pages in the state file, given back by the periodic compaction.",
			}, func() float64 { return float64(d.bolt.Stats().FreeBytes) }),
		)
	}
	d.m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vedetta_outbox_open_deliveries", Help: "Notifications queued or in flight, not yet delivered or failed.",
		}, func() float64 {
			if disp := d.disp.Load(); disp != nil {
				return float64(disp.OpenDeliveries())
			}
			return 0
		}),
	)
}
