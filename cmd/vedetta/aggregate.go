package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vedetta-dc/vedetta/internal/store"
	"github.com/vedetta-dc/vedetta/model"
	"github.com/vedetta-dc/vedetta/rules"
)

// Aggregation rules in a cluster (rules/aggregate.go). Targets are shared
// out, so no member sees every target; the aggregation alarms live on
// target rules.AggregateTarget and, like the cluster's own, only the
// member holding the dispatcher's office evaluates them. Every member
// publishes the newest values of the metrics those rules read (only
// those) for the targets it polls, into the replicated bucket below; the
// office holder reads the bucket every second and evaluates over it, its
// own targets included, with each value's time, so a value its member
// stopped refreshing is stale (unknown) there as it would be here. A new
// office holder adopts the aggregation alarms with their state: a move of
// the office is never a resolve and a refire.
//
// On a single node the engine reads its own series and nothing is written;
// so does a member alone without quorum (degraded), which polls every
// target then.

// aggregateBucket holds, per target, its published values.
const aggregateBucket = "aggregate"

// published is one target's values as stored (JSON).
type published struct {
	Samples []publishedSample `json:"s"`
}

type publishedSample struct {
	Name   string            `json:"n"`
	Labels map[string]string `json:"l"`
	Value  float64           `json:"v"`
	Time   int64             `json:"t"` // unix ms
}

// decodePublished parses one target's entry, dropping what cannot be a
// sample (a name missing, a label set without its target, a value that is
// not a number): never a wrong number.
func decodePublished(target string, b []byte) ([]model.Sample, error) {
	var p published
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("published values of %s: %w", target, err)
	}
	var out []model.Sample
	for _, s := range p.Samples {
		if s.Name == "" || s.Labels["target"] != target || math.IsNaN(s.Value) || math.IsInf(s.Value, 0) || s.Time <= 0 {
			continue
		}
		out = append(out, model.Sample{Name: s.Name, Labels: model.FromMap(s.Labels), Value: s.Value, Time: time.UnixMilli(s.Time)})
	}
	return out, nil
}

// fingerprint is a target's values without their times: an entry is
// written again when it changes, or to keep its time fresh.
func fingerprint(ss []publishedSample) string {
	keys := make([]string, len(ss))
	for i, s := range ss {
		keys[i] = model.SeriesKey(s.Name, model.FromMap(s.Labels)) + "=" + strconv.FormatFloat(s.Value, 'g', -1, 64)
	}
	sort.Strings(keys)
	return strings.Join(keys, "\n")
}

// publishAggregates writes, every second, the values of this member's
// targets that changed, and the others once per interval (their time
// must stay within the stale window at the office holder).
func (d *daemon) publishAggregates(ctx context.Context, p *parts) {
	type sent struct {
		print string
		at    time.Time
	}
	last := map[string]sent{}
	every(ctx, time.Second, func() {
		metrics := d.engine.AggregateMetrics()
		f := d.cl.memberFence.Load()
		if len(metrics) == 0 || f == nil {
			return
		}
		per := map[string][]publishedSample{}
		for _, s := range d.engine.LatestOf(metrics) {
			t := s.Labels.Get("target")
			if t == "" || t == rules.AggregateTarget || t == model.ClusterTarget {
				continue
			}
			per[t] = append(per[t], publishedSample{Name: s.Name, Labels: s.Labels.Map(), Value: s.Value, Time: s.Time.UnixMilli()})
		}
		now := time.Now()
		writes := map[string][]byte{}
		for t, ss := range per {
			if !d.cl.owns(t) {
				continue
			}
			fp := fingerprint(ss)
			iv := p.intervals[t]
			if iv == 0 {
				iv = 30 * time.Second
			}
			if l, ok := last[t]; ok && l.print == fp && now.Sub(l.at) < iv {
				continue
			}
			b, err := json.Marshal(published{Samples: ss})
			if err != nil {
				continue
			}
			writes[t] = b
			last[t] = sent{fp, now}
		}
		if len(writes) == 0 {
			return
		}
		err := d.cl.st.Fenced(*f).Update(func(tx store.Tx) error {
			for t, b := range writes {
				if err := tx.Put(aggregateBucket, t, b); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			for t := range writes {
				delete(last, t) // written again next second
			}
			d.cl.log.Debug("cannot publish the values aggregation rules read; retrying", "err", err)
		}
	})
}

// readAggregates hands the office holder's engine what every member
// published, for the targets of this config.
func (d *daemon) readAggregates(p *parts) {
	var all []model.Sample
	bad := 0
	err := d.cl.st.View(func(tx store.Tx) error {
		return tx.ForEach(aggregateBucket, func(t string, b []byte) error {
			if _, shared := p.shared[t]; !shared && !strings.Contains(t, "@") {
				return nil // a target no longer in the config
			}
			ss, err := decodePublished(t, b)
			if err != nil {
				bad++
				return nil
			}
			all = append(all, ss...)
			return nil
		})
	})
	if err != nil {
		// No quorum: the last input stays; its times age, and members
		// turn unknown as they would without data.
		d.cl.log.Debug("cannot read the published values of other members", "err", err)
		return
	}
	if bad > 0 {
		d.cl.log.Warn("published values that cannot be decoded were ignored", "targets", bad)
	}
	if all == nil {
		all = []model.Sample{}
	}
	d.engine.SetAggregateInput(all)
}

// aggregateTerm runs, while this member holds the office, the reading of
// the published values; at its end the aggregation alarms are released
// to the next holder (written nowhere: they live on in the store).
func (d *daemon) aggregateTerm(ctx context.Context, p *parts) {
	d.readAggregates(p)
	every(ctx, time.Second, func() { d.readAggregates(p) })
	d.engine.SetAggregateInput(nil)
	d.engine.Release(rules.AggregateTarget)
}

// aggregateAlone feeds the engine its own series while this member is
// degraded (it polls every target); what it decides goes to its journal
// and is replayed into the cluster with the rest.
func (d *daemon) aggregateAlone(ctx context.Context) {
	every(ctx, time.Second, func() {
		if ms := d.engine.AggregateMetrics(); len(ms) > 0 {
			d.engine.SetAggregateInput(d.engine.LatestOf(ms))
		}
	})
}
