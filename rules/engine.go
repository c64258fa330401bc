// Package rules is vedetta's rules engine: it keeps the recent history
// of every series, evaluates each rule per label set, and moves each alarm
// through inactive → pending → firing → resolved (or stale when its data
// stops arriving: never silently resolved). It hands the alarms that moved
// to one callback and knows nothing of notification.
package rules

import (
	"log/slog"
	"sort"
	"sync"
	"text/template"
	"time"

	"github.com/vedetta-dc/vedetta/model"
)

// Options configure an Engine.
type Options struct {
	Site  string
	Rules []*Rule
	// Intervals per target decide when data counts as stale (3 intervals).
	Intervals map[string]time.Duration
	// OnChange persists and dispatches changes. It is called in order, never
	// concurrently; on error the changes are offered again next time, so a
	// full disk delays an alarm but does not lose it.
	OnChange func([]model.Change) error
	// OnEvalFailure is told of every rule that fails to evaluate for a
	// label set (a division by zero, a type error at run time): the
	// vedetta_rule_evaluation_failures_total metric.
	OnEvalFailure func(rule string)
	Now           func() time.Time
	Logger        *slog.Logger
	// ExternalAggregates: aggregation rules read what SetAggregateInput
	// gives (a cluster: the samples every member published) and are not
	// evaluated until it is called; false: this engine's own series.
	ExternalAggregates bool
}

// Engine keeps series and alarms. Safe for concurrent use: target
// goroutines call Ingest, a ticker calls Tick.
type Engine struct {
	mu       sync.Mutex
	opts     Options
	rules    []*Rule // evaluated per target
	ruleByN  map[string]*Rule
	aggRules []*Rule // aggregation rules (aggregate.go)
	aggByKey map[string]*Rule
	aggInput map[string]*targetState // SetAggregateInput
	keepFor  map[string]int64        // history kept per metric name, ns (absent: newest point only)
	targets  map[string]*targetState
	alarms   map[string]*alarm
	byTarget map[string]map[string]*alarm
	// ruleAlarms counts the alarms of each rule name in alarms: a join
	// whose rule has none needs no alarm id when its condition is false.
	ruleAlarms map[string]int
	queued     []model.Change // changes not yet accepted by OnChange
	startedAt  time.Time
	// adopted: when this engine took over a target from another cluster
	// member; its first polls get the same grace as after a start.
	adopted map[string]time.Time
	// bound holds each rule template cloned with metric/hasMetric bound to
	// this engine (related.go); cur is the alarm being rendered.
	bound map[*template.Template]*template.Template
	cur   rendering
	// pending links restored alarms of single-metric rules to their series
	// once it exists again (series key -> alarms).
	pending map[string][]*alarm
	keyBuf  []byte

	persistMu sync.Mutex
	// failLogged rate-limits the warning for a failing rule: once a
	// minute per rule, the metric counts every failure.
	failLogged map[string]time.Time
}

// ResolvedKeep is how long a resolved alarm stays visible in the API.
const ResolvedKeep = 15 * time.Minute

// New builds an engine.
func New(opts Options) *Engine {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	e := &Engine{
		opts:       opts,
		targets:    map[string]*targetState{},
		alarms:     map[string]*alarm{},
		byTarget:   map[string]map[string]*alarm{},
		pending:    map[string][]*alarm{},
		ruleAlarms: map[string]int{},
	}
	e.startedAt = opts.Now()
	e.setRules(opts.Rules, opts.Intervals, nil)
	return e
}

// Restore loads alarms saved before a restart. Call it before the first
// Ingest. Restored firing alarms are not notified again.
func (e *Engine) Restore(alarms []model.Alarm) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range alarms {
		a := &alarm{Alarm: alarms[i]}
		e.index(a)
		e.linkLater(a)
	}
}

// Adopt takes over a target's alarms (saved by the cluster member that
// polled it before): they go on from the state they were in, with their
// `for:` and flap timers, and the target's first polls get the grace of a
// start, so a move is never a resolve and a refire. Alarms already held
// are kept as they are.
func (e *Engine) Adopt(target string, alarms []model.Alarm) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.adopted == nil {
		e.adopted = map[string]time.Time{}
	}
	e.adopted[target] = e.opts.Now()
	for i := range alarms {
		if alarms[i].Labels["target"] != target || e.alarms[alarms[i].ID] != nil {
			continue
		}
		a := &alarm{Alarm: alarms[i].Clone()}
		e.index(a)
		e.linkLater(a)
	}
}

// Release forgets a target another member polls now: its series and its
// alarms leave memory with no change written (they live on, in the
// replicated store, with their new owner). Changes still queued for it
// are written as usual.
func (e *Engine) Release(target string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, a := range e.byTarget[target] {
		e.unindex(a)
	}
	delete(e.byTarget, target)
	delete(e.targets, target)
	delete(e.adopted, target)
	for key, as := range e.pending {
		kept := as[:0]
		for _, a := range as {
			if a.Labels["target"] != target {
				kept = append(kept, a)
			}
		}
		if len(kept) == 0 {
			delete(e.pending, key)
		} else {
			e.pending[key] = kept
		}
	}
}

// startOf is when the engine began watching target: its start, or the
// target's adoption from another member.
func (e *Engine) startOf(target string) time.Time {
	if t, ok := e.adopted[target]; ok && t.After(e.startedAt) {
		return t
	}
	return e.startedAt
}

// SetRules replaces the rules and target intervals (a reload). Alarms of a
// rule that no longer exists are resolved and said so.
func (e *Engine) SetRules(rules []*Rule, intervals map[string]time.Duration) {
	var changes []model.Change
	e.mu.Lock()
	e.setRules(rules, intervals, &changes)
	e.mu.Unlock()
	e.persist(changes)
}

func (e *Engine) setRules(rules []*Rule, intervals map[string]time.Duration, changes *[]model.Change) {
	e.rules, e.aggRules = nil, nil
	e.bound = nil // the old rules' templates
	e.opts.Intervals = intervals
	e.ruleByN = map[string]*Rule{}
	e.aggByKey = map[string]*Rule{}
	for _, r := range rules {
		e.ruleByN[r.Name] = r
		if r.agg != nil {
			e.aggRules = append(e.aggRules, r)
			e.aggByKey[aggKey(r.Name, r.Labels)] = r
		} else {
			e.rules = append(e.rules, r)
		}
	}
	// History is kept only for metrics a window function reads, as long as
	// its longest window (plus a minute); the rest keep their newest point.
	e.keepFor = map[string]int64{}
	for _, r := range rules {
		for _, p := range []*program{r.cond, r.clear, r.value} {
			if p == nil {
				continue
			}
			for _, w := range p.windows {
				if w.fn == "absent" {
					continue // reads only the newest point's time
				}
				e.keepFor[w.metric] = max(e.keepFor[w.metric], int64(w.secs*1e9)+int64(time.Minute))
			}
		}
	}
	// Rule pointers changed: re-link single-metric alarms to their series.
	for _, ts := range e.targets {
		for s := range ts.all() {
			s.alarms = nil
		}
	}
	e.pending = map[string][]*alarm{}
	for _, a := range e.alarms {
		a.src, a.rule = nil, nil
		e.linkLater(a)
	}
	if changes == nil {
		return
	}
	now := e.opts.Now()
	for _, a := range e.alarms {
		if _, ok := e.ruleByN[a.Rule]; ok {
			continue
		}
		if a.State == model.StateFiring || a.State == model.StateStale {
			a.State = model.StateResolved
			a.ResolvedAt = now
			a.Summary += " (rule removed from the configuration)"
			a.Seq++
			*changes = append(*changes, model.Change{Alarm: snapshot(a), Event: model.EventResolved})
		} else {
			e.unindex(a)
			*changes = append(*changes, model.Change{Alarm: snapshot(a), Deleted: true})
		}
	}
}

// staleAfter is how old an instant value may be before it counts as
// missing: three intervals, so one lost poll is not an outage.
func (e *Engine) staleAfter(target string) time.Duration {
	iv := e.opts.Intervals[target]
	if iv == 0 {
		iv = 30 * time.Second
	}
	return max(3*iv, 5*time.Second)
}

// Ingest stores a batch and evaluates every rule for its target.
func (e *Engine) Ingest(b model.Batch) {
	e.mu.Lock()
	now := e.opts.Now()
	ts := e.store(b)
	if now.Sub(ts.lastGC) > time.Minute {
		ts.gc(now)
	}
	var changes []model.Change
	e.evalTarget(b.Target, ts, now, &changes)
	e.mu.Unlock()
	e.persist(changes)
}

// Tick re-evaluates targets that have alarms, so pending alarms fire when
// their `for` has passed and silent data turns alarms stale even when no
// batch arrives. Call it every second or so.
func (e *Engine) Tick() {
	e.mu.Lock()
	now := e.opts.Now()
	var changes []model.Change
	for t, as := range e.byTarget {
		if len(as) == 0 || t == AggregateTarget {
			continue
		}
		e.evalTarget(t, e.target(t), now, &changes)
	}
	e.evalAggregates(now, &changes)
	e.mu.Unlock()
	e.persist(changes)
}

// persist hands changes to OnChange in order; failures are retried with
// the next call.
func (e *Engine) persist(changes []model.Change) {
	e.persistMu.Lock()
	defer e.persistMu.Unlock()
	e.mu.Lock()
	all := append(e.queued, changes...)
	e.queued = nil
	e.mu.Unlock()
	if len(all) == 0 || e.opts.OnChange == nil {
		return
	}
	if err := e.opts.OnChange(all); err != nil {
		e.opts.Logger.Error("cannot record alarm changes; will retry", "err", err, "changes", len(all))
		e.mu.Lock()
		e.queued = append(all, e.queued...)
		e.mu.Unlock()
	}
}

// Flush offers the changes a failed OnChange left queued once more (at
// shutdown).
func (e *Engine) Flush() { e.persist(nil) }

// Alarms returns a copy of every current alarm, sorted by id.
func (e *Engine) Alarms() []model.Alarm {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]model.Alarm, 0, len(e.alarms))
	for _, a := range e.alarms {
		out = append(out, snapshot(a))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// evalFailLogEvery is how often a failing rule is logged.
const evalFailLogEvery = time.Minute

// evalFailed counts a rule that failed to evaluate and warns, at most once
// a minute per rule: a broken rule is an alarm nobody will get. Caller
// holds e.mu.
func (e *Engine) evalFailed(rl *Rule, target string, err error) {
	if e.opts.OnEvalFailure != nil {
		e.opts.OnEvalFailure(rl.Name)
	}
	now := e.opts.Now()
	if now.Sub(e.failLogged[rl.Name]) < evalFailLogEvery {
		return
	}
	if e.failLogged == nil {
		e.failLogged = map[string]time.Time{}
	}
	e.failLogged[rl.Name] = now
	e.opts.Logger.Warn("rule evaluation failed: this rule cannot fire", "rule", rl.Name, "target", target, "err", err)
}
