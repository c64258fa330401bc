package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vedetta-dc/vedetta/dispatch"
	"github.com/vedetta-dc/vedetta/internal/store"
	"github.com/vedetta-dc/vedetta/model"
	"github.com/vedetta-dc/vedetta/rules"
)

// Degraded mode: a member that cannot reach a quorum of the cluster for
// cluster.quorum_timeout — two zones gone, exactly when alarms matter most
// — goes on alone. It polls every target, evaluates, and sends from an
// outbox of its own (a bbolt file in its state dir), each subject marked
// "[degraded: cluster quorum lost]", and raises ClusterQuorumLost. Every
// alarm change it records there is also kept in a replay journal; when the
// quorum is back it writes them to the cluster (alarm states merged by id,
// last writer wins) and the cluster's dispatcher carries on from there.
// Losses are not accepted in this mode, duplicates are: what was sent
// while degraded is sent again by the cluster's dispatcher when it replays
// (counted in vedetta_cluster_degraded_replayed_total).

// degradedTag starts the subject of every message sent while degraded.
const degradedTag = "[degraded: cluster quorum lost] "

type degradedMode struct {
	mu     sync.Mutex
	on     bool
	st     *store.Bolt
	disp   *dispatch.Dispatcher
	cancel context.CancelFunc
	wg     sync.WaitGroup

	entered, replayed prometheus.Counter
}

func (d *daemon) newDegraded() *degradedMode {
	g := &degradedMode{
		entered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vedetta_cluster_degraded_total", Help: "Times this member went degraded (no quorum for cluster.quorum_timeout).",
		}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vedetta_cluster_degraded_replayed_total",
			Help: "Alarm events recorded while degraded and written to the cluster when its quorum came back (their messages may come twice).",
		}),
	}
	d.m.reg.MustRegister(g.entered, g.replayed, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "vedetta_cluster_degraded", Help: "1 while this member runs alone, without the cluster's quorum.",
	}, func() float64 { return b2f(g.active()) }))
	return g
}

func (g *degradedMode) active() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.on
}

// quorumLoop watches the quorum once a second: degraded after
// quorum_timeout without it, back at the first answer (the longer it
// stays alone with the quorum back, the more targets are polled twice).
func (d *daemon) quorumLoop(ctx context.Context) {
	c := d.cl
	lastOK := time.Now()
	replayed := false
	every(ctx, time.Second, func() {
		ok := c.quorum(ctx)
		now := time.Now()
		switch {
		case ok:
			lastOK = now
			if !replayed {
				replayed = true
				d.replayLeftover()
			}
			if d.cl.degraded.active() {
				d.leaveDegraded()
			}
		default:
			if !d.cl.degraded.active() && now.Sub(lastOK) >= c.cfg.QuorumTimeout {
				d.enterDegraded(ctx, now.Sub(lastOK))
			}
		}
		d.selfSample(model.MetricClusterQuorum, b2f(ok), "node", c.self.Node)
	})
	d.leaveDegraded() // stopping: what was recorded alone stays in the journal
}

// enterDegraded starts the member's own dispatcher on its own outbox.
func (d *daemon) enterDegraded(ctx context.Context, without time.Duration) {
	g := d.cl.degraded
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.on {
		return
	}
	log := d.cl.log
	st, err := store.OpenBolt(filepath.Join(d.cfg.StateDir, "degraded"))
	if err != nil {
		log.Error("no quorum, and the local outbox cannot be opened: alarms wait for the cluster", "err", err)
		return
	}
	disp, err := dispatch.NewDispatcher(st, d.cfg, d.parts.channels, d.log.With("component", "dispatch", "mode", "degraded"))
	if err != nil {
		_ = st.Close()
		log.Error("no quorum, and the local dispatcher cannot start: alarms wait for the cluster", "err", err)
		return
	}
	disp.Tag = degradedTag
	disp.OnResult = d.m.notificationResult
	disp.TargetUp = d.engine.TargetUp
	dctx, cancel := context.WithCancel(ctx)
	g.st, g.disp, g.cancel, g.on = st, disp, cancel, true
	g.entered.Inc()
	g.wg.Go(func() { disp.Run(dctx) })
	g.wg.Go(func() {
		every(dctx, 250*time.Millisecond, func() {
			if _, err := disp.DrainInbox(200); err != nil {
				log.Warn("local inbox", "err", err)
			}
		})
	})
	// It polls every target now: it aggregates over its own series.
	d.engine.Adopt(rules.AggregateTarget, nil)
	g.wg.Go(func() { d.aggregateAlone(dctx) })
	log.Error("DEGRADED: no quorum of the cluster; this member polls every target and sends on its own until it is back",
		"without_quorum", without.Round(time.Second), "quorum_timeout", d.cl.cfg.QuorumTimeout)
	go d.rebalance() // every shared target is ours now
}

// leaveDegraded stops the local dispatcher and replays the journal into
// the cluster.
func (d *daemon) leaveDegraded() {
	g := d.cl.degraded
	g.mu.Lock()
	if !g.on {
		g.mu.Unlock()
		return
	}
	g.cancel()
	g.wg.Wait()
	st := g.st
	g.on, g.disp, g.st = false, nil, nil
	g.mu.Unlock()
	defer st.Close()
	if !d.cl.leader.Load() {
		// The office holder adopts them from the replay below.
		d.engine.SetAggregateInput(nil)
		d.engine.Release(rules.AggregateTarget)
	}
	n, err := d.replay(st)
	g.replayed.Add(float64(n))
	if err != nil {
		// Kept in the journal: replayed when the member next leaves
		// degraded mode, or at its next start.
		d.cl.log.Error("quorum is back, but the changes recorded alone could not all be written to the cluster", "written", n, "err", err)
	}
	d.cl.log.Warn("quorum is back: this member is part of the cluster again", "replayed_events", n)
	d.rebalance()
}

// recordDegraded is onChange while degraded: the changes go to the local
// store, its inbox (the local dispatcher) and the replay journal, in one
// transaction.
func (d *daemon) recordDegraded(changes []model.Change) (bool, error) {
	g := d.cl.degraded
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.on {
		return false, nil
	}
	now := time.Now()
	err := g.st.Update(func(tx store.Tx) error {
		if err := dispatch.PersistInboxTx(tx, d.cl.self.Node, now, changes); err != nil {
			return err
		}
		for i, c := range changes {
			b, err := json.Marshal(c)
			if err != nil {
				return err
			}
			if err := tx.Put(store.Replay, fmt.Sprintf("%020d-%06d", now.UnixNano(), i), b); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		g.disp.Wake()
	}
	return true, err
}

// replay writes the journal to the cluster, oldest first, a batch per
// transaction; each batch leaves the journal once the cluster has it.
func (d *daemon) replay(st store.Store) (int, error) {
	total := 0
	for {
		var keys []string
		var batch []model.Change
		err := st.View(func(tx store.Tx) error {
			return tx.ForEach(store.Replay, func(k string, v []byte) error {
				if len(keys) >= 100 {
					return errEnoughReplay
				}
				var c model.Change
				if json.Unmarshal(v, &c) == nil {
					batch = append(batch, c)
				}
				keys = append(keys, k)
				return nil
			})
		})
		if err != nil && !errors.Is(err, errEnoughReplay) {
			return total, err
		}
		if len(keys) == 0 {
			return total, nil
		}
		if err := dispatch.PersistInbox(d.st, d.cl.self.Node, batch); err != nil {
			return total, err
		}
		if err := st.Update(func(tx store.Tx) error {
			for _, k := range keys {
				if err := tx.Delete(store.Replay, k); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return total, err
		}
		for _, c := range batch {
			if c.Event != "" {
				total++
			}
		}
	}
}

var errEnoughReplay = errors.New("enough for one batch")

// replayLeftover writes, at start, what a member recorded alone before it
// stopped (a crash while degraded): never lost.
func (d *daemon) replayLeftover() {
	path := filepath.Join(d.cfg.StateDir, "degraded")
	st, err := store.OpenBolt(path)
	if err != nil {
		d.cl.log.Error("cannot open the degraded-mode journal", "dir", path, "err", err)
		return
	}
	defer st.Close()
	n, err := d.replay(st)
	if err != nil {
		d.cl.log.Error("cannot replay the degraded-mode journal yet; it is kept", "err", err)
		return
	}
	if n > 0 {
		d.cl.degraded.replayed.Add(float64(n))
		d.cl.log.Warn("replayed the alarm events recorded alone before the last stop", "events", n)
	}
}
