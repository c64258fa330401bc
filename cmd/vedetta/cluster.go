package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vedetta-dc/vedetta/cluster"
	"github.com/vedetta-dc/vedetta/dispatch"
	"github.com/vedetta-dc/vedetta/internal/store"
	"github.com/vedetta-dc/vedetta/model"
	"github.com/vedetta-dc/vedetta/rules"
)

// clustered is the daemon's part in a cluster: the replicated store, this
// member's lease, the targets it polls, and the dispatcher's office when
// this member holds it. The data paths are the single node's; only where
// their state lives and who runs the second one change:
//
//   - every member polls the targets rendezvous hashing gives it (and its
//     own local ones: host, disks, logs), evaluates them, and writes each
//     alarm change with its inbox entry in one etcd transaction;
//   - the member elected dispatcher takes the inbox into notices and the
//     outbox, and sends; each of its writes is fenced by its leader key,
//     and it proves the office is still its own before every send.
type clustered struct {
	cfg   *cluster.Config
	etcd  *cluster.Etcd
	st    *cluster.Store
	log   *slog.Logger
	self  cluster.Member
	since time.Time

	// rebalancing serializes rebalances (membership, config, degraded
	// mode): a target is released and adopted in the order decided.
	rebalancing sync.Mutex

	mu      sync.Mutex
	members []cluster.Member
	owned   map[string]bool   // sharded targets this member polls
	zones   map[string]string // sharded target -> its zone ("" any)

	degraded    *degradedMode
	memberFence atomic.Pointer[cluster.Fence] // nil while not a member
	leader      atomic.Bool
	leaderName  atomic.Value // string: the dispatcher's node, as last seen
	changes     prometheus.Counter
	txnSeconds  prometheus.Histogram
	memberGauge prometheus.GaugeFunc
}

// errNotAMember: alarm changes wait (the engine offers them again) while
// this member has no membership lease.
var errNotAMember = errors.New("not a cluster member right now (no membership lease); will retry")

// localKinds read the machine they run on: every member polls its own,
// under "<name>@<node>", and none is shared out.
var localKinds = map[string]bool{"host": true, "smart": true, "raid": true, "authlog": true}

// clusterName is a local target's name on this member.
func clusterName(name, node string) string { return name + "@" + node }

// startCluster starts (or joins) the etcd cluster and this member's lease.
func (d *daemon) startCluster(ctx context.Context, cc *cluster.Config) error {
	log := d.log.With("component", "cluster")
	e, err := cluster.Start(ctx, cc, log)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	c := &clustered{cfg: cc, etcd: e, st: cluster.NewStore(e.Client, 3*time.Second), log: log,
		self: cluster.Member{Node: cc.Node, Zone: cc.Zone, Since: time.Now()}, since: time.Now(),
		owned: map[string]bool{}, zones: map[string]string{}}
	c.leaderName.Store("")
	c.changes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vedetta_cluster_leader_changes_total", Help: "Times this member saw the dispatcher's office change hands.",
	})
	c.txnSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "vedetta_cluster_txn_seconds", Help: "Latency of alarm-change transactions in the replicated store.",
		Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	})
	d.m.reg.MustRegister(c.changes, c.txnSeconds,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vedetta_cluster_members", Help: "Members holding their lease, as this member sees them.",
		}, func() float64 { return float64(len(c.live())) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vedetta_cluster_is_dispatcher", Help: "1 while this member holds the dispatcher's office.",
		}, func() float64 { return b2f(c.leader.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vedetta_cluster_quorum", Help: "1 while the replicated store answers (quorum), 0 when it does not.",
		}, func() float64 { return b2f(c.quorum(ctx)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vedetta_cluster_targets_owned", Help: "Shared targets this member polls.",
		}, func() float64 { c.mu.Lock(); defer c.mu.Unlock(); return float64(len(c.owned)) }),
	)
	d.cl = c
	d.st = c.st
	c.degraded = d.newDegraded()
	return nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *clustered) quorum(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, err := c.etcd.Client.Get(ctx, "/vedetta/quorum-probe")
	return err == nil
}

func (c *clustered) live() []cluster.Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]cluster.Member(nil), c.members...)
}

// owns says whether this member polls target now (the scheduler asks).
func (c *clustered) owns(target string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, shared := c.zones[target]; !shared {
		return true // a local target
	}
	return c.owned[target] || c.degraded.active()
}

// shareTargets sets the shared targets (from the running config) and
// recomputes what this member owns.
func (d *daemon) shareTargets(zones map[string]string) {
	c := d.cl
	c.mu.Lock()
	c.zones = zones
	c.mu.Unlock()
	d.rebalance()
}

// rebalance recomputes ownership over the live members: targets gained
// are adopted with their saved alarms and polled at once; targets lost
// are released with nothing written (their new owner carries on).
func (d *daemon) rebalance() {
	c := d.cl
	c.rebalancing.Lock()
	defer c.rebalancing.Unlock()
	c.mu.Lock()
	var gained, lost []string
	next := map[string]bool{}
	if c.degraded.active() {
		for t := range c.zones { // alone: every target, as nobody else may be left
			next[t] = true
		}
	} else if len(c.members) > 0 {
		for t, z := range c.zones {
			if cluster.Owner(t, z, c.members) == c.self.Node {
				next[t] = true
			}
		}
	}
	for t := range next {
		if !c.owned[t] {
			gained = append(gained, t)
		}
	}
	for t := range c.owned {
		if !next[t] {
			lost = append(lost, t)
		}
	}
	c.owned = next
	c.mu.Unlock()
	sort.Strings(gained)
	sort.Strings(lost)
	for _, t := range lost {
		d.engine.Release(t)
	}
	if len(gained) > 0 {
		d.adopt(gained...)
	}
	if len(gained)+len(lost) > 0 {
		c.log.Info("targets rebalanced", "gained", len(gained), "lost", len(lost), "owned", len(next))
	}
	if s := d.sched.Load(); s != nil {
		for _, t := range gained {
			s.Trigger(t)
		}
	}
}

// adopt loads the saved alarms of targets and hands them to the engine.
func (d *daemon) adopt(targets ...string) {
	saved, _, err := dispatch.LoadAlarms(d.st)
	if err != nil {
		// No quorum: the engine starts them afresh; the alarms in the
		// store are merged by id at the first change.
		d.cl.log.Error("cannot read the alarms of adopted targets", "err", err)
	}
	want := map[string][]model.Alarm{}
	for _, a := range saved {
		want[a.Labels["target"]] = append(want[a.Labels["target"]], a)
	}
	for _, t := range targets {
		d.engine.Adopt(t, want[t])
	}
}

// membership keeps this member's lease and follows the others'.
func (d *daemon) membership(ctx context.Context) {
	c := d.cl
	for ctx.Err() == nil {
		m, err := cluster.Join(ctx, c.etcd.Client, c.self, c.cfg.LeaseTTL)
		if err != nil {
			c.log.Warn("cannot register as a cluster member; retrying", "err", err)
			sleepCtx(ctx, time.Second)
			continue
		}
		f := m.Fence()
		c.memberFence.Store(&f)
		wctx, cancel := context.WithCancel(ctx)
		go func() {
			_ = cluster.WatchMembers(wctx, c.etcd.Client, func(ms []cluster.Member) {
				c.mu.Lock()
				c.members = ms
				c.mu.Unlock()
				d.rebalance()
			})
		}()
		select {
		case <-ctx.Done():
		case <-m.Done():
			// Cut off (or paused) for a lease: the others have shared out
			// our targets by now. Poll none until we are a member again,
			// and write none of what we saw meanwhile (ours drops it): a
			// stale FIRING or RESOLVED would go out a second time.
			c.log.Warn("cluster membership lease lost: polling no shared target until this member is back")
			c.memberFence.Store(nil)
			c.mu.Lock()
			c.members = nil
			c.mu.Unlock()
			d.rebalance()
		}
		cancel()
		m.Close()
	}
}

// office campaigns for the dispatcher's office and, while this member
// holds it, runs the dispatcher of this generation on the fenced store.
func (d *daemon) office(ctx context.Context, p *parts) {
	c := d.cl
	for ctx.Err() == nil {
		lead, err := cluster.Campaign(ctx, c.etcd.Client, c.self.Node, c.cfg.LeaseTTL)
		if err != nil {
			if ctx.Err() == nil {
				c.log.Warn("campaign for the dispatcher's office failed; retrying", "err", err)
				sleepCtx(ctx, time.Second)
			}
			continue
		}
		d.serve(ctx, p, lead)
	}
}

// serve is one term in office.
func (d *daemon) serve(ctx context.Context, p *parts, lead *cluster.Leadership) {
	c := d.cl
	start := time.Now()
	fenced := c.st.Fenced(lead.Fence)
	disp, err := dispatch.NewDispatcher(fenced, d.cfg, p.channels, d.log.With("component", "dispatch"))
	if err != nil {
		c.log.Error("cannot start the dispatcher; resigning", "err", err)
		_ = lead.Resign(context.Background())
		sleepCtx(ctx, time.Second)
		return
	}
	// The start digest is this process's: a member taking office after
	// its own first moments opens none (the alarms it takes over are not
	// new to the cluster).
	disp.DigestUntil = d.digestEnd
	// A paused or cut-off member may not know it lost the office: before
	// a send it proves, within half a lease, that its fence still holds.
	ttl := c.cfg.LeaseTTL
	disp.MaySend = func(ctx context.Context) error {
		if time.Since(fenced.LastFenced()) < ttl/2 {
			return nil
		}
		cctx, cancel := context.WithTimeout(ctx, ttl/4)
		defer cancel()
		return fenced.Check(cctx)
	}
	disp.OnResult = d.m.notificationResult
	disp.TargetUp = d.engine.TargetUp
	disp.OnChannel = d.channelHealth
	d.disp.Store(disp)
	c.leader.Store(true)
	c.changes.Inc()
	d.adopt(model.ClusterTarget, rules.AggregateTarget)
	c.log.Info("this member is the dispatcher now", "node", c.self.Node, "took", time.Since(start).Round(time.Millisecond))
	if err := c.etcd.MoveLeaderAway(ctx); err != nil {
		c.log.Debug("raft leadership stays here", "err", err)
	}

	tctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { disp.Run(tctx) })
	wg.Go(func() { d.drain(tctx, disp) })
	wg.Go(func() { every(tctx, 2*time.Second, d.reportMembers) })
	wg.Go(func() { d.aggregateTerm(tctx, p) })
	select {
	case <-ctx.Done():
	case <-lead.Done():
		c.log.Warn("the dispatcher's office was lost (lease expired or fence gone): not sending any more")
	}
	cancel()
	wg.Wait()
	c.leader.Store(false)
	d.disp.CompareAndSwap(disp, nil)
	d.engine.Release(model.ClusterTarget)
	if ctx.Err() != nil {
		rctx, rcancel := context.WithTimeout(context.Background(), time.Second)
		_ = lead.Resign(rctx) // a clean stop: the next member takes over at once
		rcancel()
	}
}

// drain moves the inbox into the dispatcher, as fast as it fills.
func (d *daemon) drain(ctx context.Context, disp *dispatch.Dispatcher) {
	w := d.cl.st.Watch(ctx, store.Inbox)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for ctx.Err() == nil {
		for {
			n, err := disp.DrainInbox(200)
			if err != nil {
				if !errors.Is(err, cluster.ErrFenced) {
					d.cl.log.Warn("cannot take the inbox; retrying", "err", err)
				}
				break
			}
			if n < 200 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-w:
		case <-t.C:
		}
	}
}

// reportMembers writes the cluster's own samples: which members of the
// initial cluster hold their lease (ClusterMemberDown).
func (d *daemon) reportMembers() {
	c := d.cl
	up := map[string]bool{}
	for _, m := range c.live() {
		up[m.Node] = true
	}
	var ss []model.Sample
	now := time.Now()
	for _, p := range c.cfg.Peers {
		ss = append(ss, model.Sample{Name: model.MetricClusterMemberUp, Value: b2f(up[p.Node]), Time: now,
			Labels: model.L("target", model.ClusterTarget, "class", "self", "member", p.Node, "zone", p.Zone)})
	}
	d.ingest(model.Batch{Target: model.ClusterTarget, Samples: ss})
}

// localAlarms keeps the saved alarms of this member's own targets (its
// machine, its health): those of shared targets are adopted with them.
func (d *daemon) localAlarms(saved []model.Alarm, p *parts) []model.Alarm {
	var out []model.Alarm
	for _, a := range saved {
		t := a.Labels["target"]
		if _, shared := p.shared[t]; shared || t == model.ClusterTarget {
			continue
		}
		if t == d.selfName() || p.intervals[t] != 0 {
			out = append(out, a) // this member's own (another's local targets are not in p)
		}
	}
	return out
}

// sameCluster says whether a reload left the cluster block as it was.
func sameCluster(a, b *cluster.Config) bool {
	return reflect.DeepEqual(a, b)
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// alarms are every alarm of the cluster (the replicated store), or this
// node's (the engine) on a single node or when the store does not answer.
func (d *daemon) alarms() []model.Alarm {
	if d.cl != nil {
		if as, _, err := dispatch.LoadAlarms(d.st); err == nil {
			sort.Slice(as, func(i, j int) bool { return as[i].ID < as[j].ID })
			return as
		}
	}
	return d.engine.Alarms()
}

// ClusterStatus is GET /api/v1/cluster and `vedetta cluster status`.
type ClusterStatus struct {
	Node       string            `json:"node"`
	Zone       string            `json:"zone"`
	Dispatcher string            `json:"dispatcher"`
	IsDispatch bool              `json:"is_dispatcher"`
	RaftLeader string            `json:"raft_leader"`
	Quorum     bool              `json:"quorum"`
	Members    []string          `json:"members"` // holding their lease
	Zones      map[string]string `json:"zones"`   // member -> zone
	Down       []string          `json:"down"`    // of the initial cluster, not holding a lease
	Owned      []string          `json:"owned"`   // shared targets this member polls
	Targets    map[string]int    `json:"targets_per_member"`
	Error      string            `json:"error,omitempty"`
}

func (d *daemon) clusterStatus() func(ctx context.Context) any {
	if d.cl == nil {
		return nil
	}
	return func(ctx context.Context) any {
		c := d.cl
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		s := ClusterStatus{Node: c.self.Node, Zone: c.self.Zone, IsDispatch: c.leader.Load(),
			Zones: map[string]string{}, Targets: map[string]int{}}
		if st, err := c.etcd.Status(ctx); err == nil {
			s.RaftLeader, s.Quorum = st.Leader, st.Quorum
		} else {
			s.Error = err.Error()
		}
		if name, err := cluster.Leader(ctx, c.etcd.Client); err == nil {
			s.Dispatcher = name
		}
		live := c.live()
		up := map[string]bool{}
		for _, m := range live {
			s.Members = append(s.Members, m.Node)
			s.Zones[m.Node] = m.Zone
			up[m.Node] = true
		}
		for _, p := range c.cfg.Peers {
			if !up[p.Node] {
				s.Down = append(s.Down, p.Node)
			}
		}
		c.mu.Lock()
		for t := range c.owned {
			s.Owned = append(s.Owned, t)
		}
		if len(live) > 0 {
			for t, z := range c.zones {
				s.Targets[cluster.Owner(t, z, live)]++
			}
		}
		c.mu.Unlock()
		sort.Strings(s.Owned)
		return s
	}
}

// ours drops the changes of shared targets this member no longer polls:
// seen while it was cut off or paused and still thought them its own,
// they would overwrite what their new owner has written since. Nothing is
// lost: the new owner adopted the alarms as they were stored and judges
// them on its own polls.
func (c *clustered) ours(changes []model.Change) []model.Change {
	kept := changes[:0:0]
	dropped := 0
	for _, ch := range changes {
		t := ch.Alarm.Labels["target"]
		officeOnly := t == model.ClusterTarget || t == rules.AggregateTarget && !c.degraded.active()
		if officeOnly && !c.leader.Load() || !officeOnly && !c.owns(t) {
			dropped++
			continue
		}
		kept = append(kept, ch)
	}
	if dropped > 0 {
		c.log.Info("alarm changes of targets another member polls now were not written", "count", dropped)
	}
	return kept
}
