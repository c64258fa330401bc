package alerting

import (
	"log/slog"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vedetta-dc/vedetta/collectors"
)

// Change is one alarm that moved, for the store and the dispatcher: Event
// is set when people must be told.
type Change struct {
	Alarm   Alarm
	Event   EventKind
	Deleted bool
}

// Options configure an Engine.
type Options struct {
	Site  string
	Rules []*Rule
	// Intervals per target decide when data counts as stale (3 intervals).
	Intervals map[string]time.Duration
	// OnChange persists and dispatches changes. It is called in order, never
	// concurrently; on error the changes are offered again next time, so a
	// full disk delays an alarm but does not lose it.
	OnChange func([]Change) error
	// OnEvalFailure is told of every rule that fails to evaluate for a
	// label set (a division by zero, a type error at run time): the
	// vedetta_rule_evaluation_failures_total metric.
	OnEvalFailure func(rule string)
	Now      func() time.Time
	Logger   *slog.Logger
}

// Engine keeps series and alarms. Safe for concurrent use: target
// goroutines call Ingest, a ticker calls Tick.
type Engine struct {
	mu        sync.Mutex
	opts      Options
	rules     []*Rule
	ruleByN   map[string]*Rule
	keepFor   map[string]int64 // history kept per metric name, ns (absent: newest point only)
	targets   map[string]*targetState
	alarms    map[string]*Alarm
	byTarget  map[string]map[string]*Alarm
	queued    []Change // changes not yet accepted by OnChange
	startedAt time.Time
	// pending links restored alarms of single-metric rules to their series
	// once it exists again (series key -> alarms).
	pending map[string][]*Alarm
	keyBuf  []byte

	persistMu sync.Mutex
	// failLogged rate-limits the warning for a failing rule: once a
	// minute per rule, the metric counts every failure.
	failLogged map[string]time.Time
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

type targetState struct {
	byName  map[string][]*series
	byKey   map[string]*series
	lastGC  time.Time
	batches int
}

// ResolvedKeep is how long a resolved alarm stays visible in the API.
const ResolvedKeep = 15 * time.Minute

// seriesTTL drops series not updated for a day (a renamed port, a removed
// disk) so that memory does not grow for ever.
const seriesTTL = 24 * time.Hour

// New builds an engine.
func New(opts Options) *Engine {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	e := &Engine{
		opts:     opts,
		targets:  map[string]*targetState{},
		alarms:   map[string]*Alarm{},
		byTarget: map[string]map[string]*Alarm{},
		pending:  map[string][]*Alarm{},
	}
	e.startedAt = opts.Now()
	e.setRules(opts.Rules, opts.Intervals, nil)
	return e
}

// Restore loads alarms saved before a restart. Call it before the first
// Ingest. Restored firing alarms are not notified again.
func (e *Engine) Restore(alarms []Alarm) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range alarms {
		a := alarms[i]
		e.index(&a)
		e.linkLater(&a)
	}
}

// linkLater remembers which series a restored single-metric alarm belongs
// to, so the fast path finds it when that series' data comes back.
func (e *Engine) linkLater(a *Alarm) {
	rl := e.ruleByN[a.Rule]
	if rl == nil || !rl.single {
		return
	}
	ls := map[string]string{}
	for k, v := range a.Labels {
		if _, byRule := rl.Labels[k]; !byRule {
			ls[k] = v
		}
	}
	key := collectors.SeriesKey(rl.cond.metrics[0], collectors.FromMap(ls))
	if ts := e.targets[a.Labels["target"]]; ts != nil {
		if s := ts.byKey[key]; s != nil {
			link(s, rl, a)
			return
		}
	}
	e.pending[key] = append(e.pending[key], a)
}

func link(s *series, rl *Rule, a *Alarm) {
	if s.alarms == nil {
		s.alarms = map[*Rule]*Alarm{}
	}
	s.alarms[rl] = a
	a.src, a.rule = s, rl
}

func (e *Engine) index(a *Alarm) {
	e.alarms[a.ID] = a
	t := a.Labels["target"]
	if e.byTarget[t] == nil {
		e.byTarget[t] = map[string]*Alarm{}
	}
	e.byTarget[t][a.ID] = a
}

func (e *Engine) unindex(a *Alarm) {
	delete(e.alarms, a.ID)
	delete(e.byTarget[a.Labels["target"]], a.ID)
	if a.src != nil {
		delete(a.src.alarms, a.rule)
		a.src, a.rule = nil, nil
	}
}

// SetRules replaces the rules and target intervals (a reload). Alarms of a
// rule that no longer exists are resolved and said so.
func (e *Engine) SetRules(rules []*Rule, intervals map[string]time.Duration) {
	var changes []Change
	e.mu.Lock()
	e.setRules(rules, intervals, &changes)
	e.mu.Unlock()
	e.persist(changes)
}

func (e *Engine) setRules(rules []*Rule, intervals map[string]time.Duration, changes *[]Change) {
	e.rules = rules
	e.opts.Intervals = intervals
	e.ruleByN = map[string]*Rule{}
	for _, r := range rules {
		e.ruleByN[r.Name] = r
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
		for _, s := range ts.byKey {
			s.alarms = nil
		}
	}
	e.pending = map[string][]*Alarm{}
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
		if a.State == StateFiring || a.State == StateStale {
			a.State = StateResolved
			a.ResolvedAt = now
			a.Summary += " (rule removed from the configuration)"
			a.Seq++
			*changes = append(*changes, Change{Alarm: snapshot(a), Event: EventResolved})
		} else {
			e.unindex(a)
			*changes = append(*changes, Change{Alarm: snapshot(a), Deleted: true})
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
func (e *Engine) Ingest(b collectors.Batch) {
	e.mu.Lock()
	now := e.opts.Now()
	ts := e.store(b)
	if now.Sub(ts.lastGC) > time.Minute {
		ts.gc(now)
	}
	var changes []Change
	e.evalTarget(b.Target, ts, now, &changes)
	e.mu.Unlock()
	e.persist(changes)
}

// store adds a batch's samples to their series. Caller holds e.mu.
func (e *Engine) store(b collectors.Batch) *targetState {
	ts := e.target(b.Target)
	ts.batches++
	for i := range b.Samples {
		s := &b.Samples[i]
		if math.IsNaN(s.Value) {
			continue
		}
		e.keyBuf = collectors.AppendKey(e.keyBuf[:0], s.Name, s.Labels)
		sr := ts.byKey[string(e.keyBuf)] // no allocation for a known series
		if sr == nil {
			key := string(e.keyBuf)
			sr = &series{name: s.Name, key: key, labels: s.Labels}
			ts.byKey[key] = sr
			ts.byName[s.Name] = append(ts.byName[s.Name], sr)
			if as, ok := e.pending[key]; ok {
				for _, a := range as {
					if a.rule == nil && e.alarms[a.ID] == a {
						if rl := e.ruleByN[a.Rule]; rl != nil {
							link(sr, rl, a)
						}
					}
				}
				delete(e.pending, key)
			}
		}
		sr.add(s.Time.UnixNano(), s.Value, e.keepFor[s.Name])
	}
	return ts
}

func (e *Engine) target(name string) *targetState {
	ts := e.targets[name]
	if ts == nil {
		ts = &targetState{byName: map[string][]*series{}, byKey: map[string]*series{}}
		e.targets[name] = ts
	}
	return ts
}

func (ts *targetState) gc(now time.Time) {
	ts.lastGC = now
	cut := now.Add(-seriesTTL).UnixNano()
	for k, s := range ts.byKey {
		if s.lastTime() >= cut {
			continue
		}
		delete(ts.byKey, k)
		list := ts.byName[s.name]
		for i, x := range list {
			if x == s {
				ts.byName[s.name] = append(list[:i], list[i+1:]...)
				break
			}
		}
	}
}

// Tick re-evaluates targets that have alarms, so pending alarms fire when
// their `for` has passed and silent data turns alarms stale even when no
// batch arrives. Call it every second or so.
func (e *Engine) Tick() {
	e.mu.Lock()
	now := e.opts.Now()
	var changes []Change
	for t, as := range e.byTarget {
		if len(as) == 0 {
			continue
		}
		e.evalTarget(t, e.target(t), now, &changes)
	}
	e.mu.Unlock()
	e.persist(changes)
}

func (e *Engine) evalTarget(target string, ts *targetState, now time.Time, changes *[]Change) {
	seen := map[string]bool{}
	for _, r := range e.rules {
		e.evalRule(r, target, ts, now, seen, changes)
	}
	grace := e.staleAfter(target)
	for id, a := range e.byTarget[target] {
		if seen[id] {
			continue
		}
		if a.State == StateResolved {
			if now.Sub(a.ResolvedAt) > ResolvedKeep {
				e.unindex(a)
				*changes = append(*changes, Change{Alarm: snapshot(a), Deleted: true})
			}
			continue
		}
		// No fresh data for this label set. Right after a (re)start the
		// first polls have not come back yet: that is not an outage.
		if now.Sub(e.startedAt) <= grace {
			continue
		}
		e.transition(a, e.ruleByN[a.Rule], false, false, false, now, changes)
	}
}

// evalSingle is evalRule for a rule reading one metric: no joins, and in
// the steady state (condition false, no alarm) no allocation, no hashing.
func (e *Engine) evalSingle(rl *Rule, target string, ts *targetState, now time.Time, seen map[string]bool, changes *[]Change) {
	p := rl.cond
	m := p.metrics[0]
	nowNs := now.UnixNano()
	fresh := nowNs - int64(e.staleAfter(target))
	instant := p.instant[m] || rl.clear != nil && rl.clear.instant[m]
	env := rl.env
	bind := &rl.bind1
	bind.now = nowNs
	for _, s := range ts.byName[m] {
		if instant && s.lastTime() < fresh {
			continue
		}
		env[m] = s.value()
		if p.labels || rl.clear != nil && rl.clear.labels {
			env["labels"] = s.labelMap() // for computed keys: labels[x]
		}
		bind.series[m] = s
		bind.labels = s
		out, err := p.run(env, bind)
		if err != nil {
			e.evalFailed(rl, target, err)
			continue
		}
		cond, _ := out.(bool)
		a := s.alarms[rl]
		if !cond && a == nil {
			continue
		}
		if a == nil {
			labels := maps.Clone(s.labelMap())
			maps.Copy(labels, rl.Labels)
			id := alarmID(rl.Name, labels)
			if a = e.alarms[id]; a == nil {
				a = &Alarm{ID: id, Rule: rl.Name, Labels: labels, Severity: rl.Severity, Site: e.opts.Site}
				e.index(a)
			}
			link(s, rl, a)
		}
		seen[a.ID] = true
		e.judge(rl, a, env, bind, s.lastTime(), cond, now, changes)
	}
}

// judge computes an active alarm's clear condition and value, records
// the result for flap detection, and moves its state.
func (e *Engine) judge(rl *Rule, a *Alarm, env map[string]any, bind *binding, newest int64, cond bool, now time.Time, changes *[]Change) {
	clear := false
	if rl.clear != nil && (a.State == StateFiring || a.State == StateStale) {
		if out, err := rl.clear.run(env, bind); err == nil {
			clear, _ = out.(bool)
		}
	}
	a.Value = 1
	if rl.value != nil {
		if out, err := rl.value.run(env, bind); err == nil {
			if v, ok := out.(float64); ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
				a.Value = v
			}
		}
	}
	if newest > a.LastSample {
		a.LastSample = newest
		a.record(cond)
	}
	e.transition(a, rl, true, cond, clear, now, changes)
}

// evalRule evaluates one rule over every label set of one target.
func (e *Engine) evalRule(rl *Rule, target string, ts *targetState, now time.Time, seen map[string]bool, changes *[]Change) {
	if rl.single {
		e.evalSingle(rl, target, ts, now, seen, changes)
		return
	}
	p := rl.cond
	nowNs := now.UnixNano()
	fresh := nowNs - int64(e.staleAfter(target))
	usable := func(m string, s *series) bool {
		if !p.instant[m] && (rl.clear == nil || !rl.clear.instant[m]) {
			return true
		}
		return s.lastTime() >= fresh
	}
	// Bind the first metric's series, then join each other metric on the
	// labels they share (same target, same mountpoint...).
	var binds []map[string]*series
	for _, s := range ts.byName[p.metrics[0]] {
		if usable(p.metrics[0], s) {
			binds = append(binds, map[string]*series{p.metrics[0]: s})
		}
	}
	metrics := p.metrics[1:]
	if rl.clear != nil {
		for _, m := range rl.clear.metrics {
			if !contains(p.metrics, m) {
				metrics = append(metrics, m)
			}
		}
	}
	for _, m := range metrics {
		var cands []*series
		for _, s := range ts.byName[m] {
			if usable(m, s) {
				cands = append(cands, s)
			}
		}
		var next []map[string]*series
		j := joiner{cands: cands}
		for _, b := range binds {
			for _, s := range j.matches(b) {
				nb := make(map[string]*series, len(b)+1)
				for k, v := range b {
					nb[k] = v
				}
				nb[m] = s
				next = append(next, nb)
			}
		}
		binds = next
	}
	for _, b := range binds {
		labels := map[string]string{}
		for _, s := range b {
			for _, l := range s.labels {
				labels[l.Name] = l.Value
			}
		}
		for k, v := range rl.Labels {
			labels[k] = v
		}
		env := map[string]any{"labels": labels}
		for m, s := range b {
			if _, v, ok := s.last(); ok {
				env[m] = v
			}
		}
		bind := &binding{series: b, now: nowNs}
		if len(b) == 1 {
			for _, s := range b {
				bind.labels = s
			}
		}
		out, err := p.run(env, bind)
		if err != nil {
			e.evalFailed(rl, target, err)
			continue
		}
		cond, _ := out.(bool)
		id := alarmID(rl.Name, labels)
		a := e.alarms[id]
		if !cond && a == nil {
			continue // nothing to do
		}
		seen[id] = true
		if a == nil {
			a = &Alarm{ID: id, Rule: rl.Name, Labels: labels, Severity: rl.Severity, Site: e.opts.Site}
			e.index(a)
		}
		var newest int64
		for _, s := range bind.series {
			newest = max(newest, s.lastTime())
		}
		e.judge(rl, a, env, bind, newest, cond, now, changes)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// joiner finds, for a binding, the candidate series that agree with it on
// the labels they share. Candidates are indexed by the values of those
// labels, so joining two metrics of a 48-port switch costs 96 lookups, not
// 48×48 comparisons.
type joiner struct {
	cands []*series
	names []string // the shared label names the index is built on
	index map[string][]*series
	scan  bool // candidates do not all carry the shared names: compare one by one
}

func (j *joiner) matches(b map[string]*series) []*series {
	if len(j.cands) == 0 {
		return nil
	}
	names := sharedNames(b, j.cands[0].labels)
	if j.index == nil && !j.scan || !slices.Equal(names, j.names) {
		j.build(names)
	}
	if j.scan {
		var out []*series
		for _, s := range j.cands {
			if compatibleWith(b, s.labels) {
				out = append(out, s)
			}
		}
		return out
	}
	var key strings.Builder
	for _, n := range names {
		for _, s := range b {
			if v, ok := labelValue(s.labels, n); ok {
				key.WriteString(v)
				break
			}
		}
		key.WriteByte(0xff)
	}
	// The index holds the names of the first candidate; a candidate with
	// more labels in common with b is checked in full.
	var out []*series
	for _, s := range j.index[key.String()] {
		if compatibleWith(b, s.labels) {
			out = append(out, s)
		}
	}
	return out
}

func (j *joiner) build(names []string) {
	j.names, j.index, j.scan = names, map[string][]*series{}, false
	for _, c := range j.cands {
		var key strings.Builder
		for _, n := range names {
			v, ok := labelValue(c.labels, n)
			if !ok {
				j.scan, j.index = true, nil
				return
			}
			key.WriteString(v)
			key.WriteByte(0xff)
		}
		k := key.String()
		j.index[k] = append(j.index[k], c)
	}
}

// sharedNames: the label names of ls that some bound series also has.
func sharedNames(b map[string]*series, ls collectors.Labels) []string {
	var out []string
	for _, l := range ls {
		for _, s := range b {
			if _, ok := labelValue(s.labels, l.Name); ok {
				out = append(out, l.Name)
				break
			}
		}
	}
	return out
}

func labelValue(ls collectors.Labels, name string) (string, bool) {
	for _, l := range ls {
		if l.Name == name {
			return l.Value, true
		}
	}
	return "", false
}

// compatibleWith: ls agrees with every bound series on the labels they share.
func compatibleWith(b map[string]*series, ls collectors.Labels) bool {
	for _, s := range b {
		i, j := 0, 0
		for i < len(s.labels) && j < len(ls) {
			switch {
			case s.labels[i].Name < ls[j].Name:
				i++
			case s.labels[i].Name > ls[j].Name:
				j++
			default:
				if s.labels[i].Value != ls[j].Value {
					return false
				}
				i++
				j++
			}
		}
	}
	return true
}

func (e *Engine) transition(a *Alarm, rl *Rule, present, cond, clear bool, now time.Time, changes *[]Change) {
	before := a.State
	forDur, hasClear := time.Duration(0), false
	if rl != nil {
		forDur, hasClear = rl.For, rl.clear != nil
		a.Severity = rl.Severity
	}
	ev := a.flap(step(a, present, cond, clear, hasClear, forDur, now))
	switch ev {
	case EventFiring, EventResolved:
		a.Told = a.State
	case EventFlapEnd:
		a.Told = a.State
	}
	if a.State == "" && a.Flapping {
		// Keep a flapping alarm (as resolved) so its history survives the
		// moments its condition is false.
		a.State = StateResolved
		a.ResolvedAt = now
	}
	if rl != nil && (ev != "" || a.Summary == "" || a.State == StateFiring) {
		d := templateData{Labels: a.Labels, Value: a.Value, Rule: a.Rule, Severity: a.Severity, Site: a.Site}
		a.Summary = render(rl.summary, d, a.Rule+" "+labelsText(a.Labels))
		a.Description = render(rl.descr, d, "")
	}
	if ev != "" {
		a.Seq++
		e.opts.Logger.Debug("alarm event", "id", a.ID, "rule", a.Rule, "event", ev)
	}
	switch {
	case a.State == "":
		e.unindex(a)
		*changes = append(*changes, Change{Alarm: snapshot(a), Deleted: true})
	case ev != "" || before != a.State:
		*changes = append(*changes, Change{Alarm: snapshot(a), Event: ev})
	}
}

func labelsText(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := ""
	for _, k := range keys {
		if s != "" {
			s += " "
		}
		s += k + "=" + m[k]
	}
	return s
}

func snapshot(a *Alarm) Alarm {
	c := *a
	c.Labels = make(map[string]string, len(a.Labels))
	for k, v := range a.Labels {
		c.Labels[k] = v
	}
	return c
}

// persist hands changes to OnChange in order; failures are retried with
// the next call.
func (e *Engine) persist(changes []Change) {
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
func (e *Engine) Alarms() []Alarm {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Alarm, 0, len(e.alarms))
	for _, a := range e.alarms {
		out = append(out, snapshot(a))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Latest calls fn with the newest point of every series that is not stale,
// for /metrics.
func (e *Engine) Latest(fn func(name string, labels collectors.Labels, value float64, t time.Time)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.opts.Now()
	for target, ts := range e.targets {
		fresh := now.Add(-e.staleAfter(target)).UnixNano()
		for _, s := range ts.byKey {
			if t, v, ok := s.last(); ok && t >= fresh {
				fn(s.name, s.labels, v, time.Unix(0, t))
			}
		}
	}
}

// TargetUp reports whether target answered its last collection; known is
// false until it has been collected once.
func (e *Engine) TargetUp(target string) (up, known bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ts := e.targets[target]
	if ts == nil {
		return false, false
	}
	for _, s := range ts.byName["vedetta_target_up"] {
		if _, v, ok := s.last(); ok {
			return v == 1, true
		}
	}
	return false, false
}
