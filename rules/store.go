package rules

import (
	"iter"
	"math"
	"strings"
	"time"

	"github.com/vedetta-dc/vedetta/model"
)

// The series store: per target, every series by name, and by label set
// (an interned set lists its few series), with the history the rules'
// windows need.

type targetState struct {
	byName  map[string][]*series
	names   map[string]*metricName // shared by the series of a metric
	sets    interner
	lastGC  time.Time
	batches int
	cause   string // the last batch's error, short (templateData.Cause)
}

func newTargetState() *targetState {
	return &targetState{byName: map[string][]*series{}, names: map[string]*metricName{}, sets: newInterner()}
}

// lookup finds the series of name and ls, or nil; no allocation.
func (ts *targetState) lookup(name string, ls model.Labels) *series {
	return ts.lookupHashed(name, ls, ts.sets.hash(ls))
}

// lookupHashed: the label set by its hash, then the series by name among
// the set's few.
func (ts *targetState) lookupHashed(name string, ls model.Labels, h uint64) *series {
	set := ts.sets.find(h, ls)
	if set == nil {
		return nil
	}
	return set.seriesOf(name)
}

// insert adds the series of name and ls (which it keeps: the caller hands
// it over), known not to exist; h is ls's hash.
func (ts *targetState) insert(name string, ls model.Labels, h uint64) *series {
	mn := ts.names[name]
	if mn == nil {
		mn = &metricName{name: name}
		ts.names[name] = mn
	}
	set := ts.sets.intern(h, ls)
	sr := &series{labelSet: set, metricName: mn}
	// Grown one by one, exactly: a set's list is made once, when its
	// series first appear, and append's doubling would leave it up to
	// half empty.
	set.series = append(set.series[:len(set.series):len(set.series)], sr)
	ts.byName[name] = append(ts.byName[name], sr)
	return sr
}

// all is every series of the target.
func (ts *targetState) all() iter.Seq[*series] {
	return func(yield func(*series) bool) {
		for _, list := range ts.byName {
			for _, s := range list {
				if !yield(s) {
					return
				}
			}
		}
	}
}

// count is the number of series of the target.
func (ts *targetState) count() int {
	n := 0
	for _, list := range ts.byName {
		n += len(list)
	}
	return n
}

// seriesTTL drops series not updated for a day (a renamed port, a removed
// disk) so that memory does not grow for ever.
const seriesTTL = 24 * time.Hour

// store adds a batch's samples to their series. Caller holds e.mu.
func (e *Engine) store(b model.Batch) *targetState {
	ts := e.target(b.Target)
	ts.batches++
	ts.cause = ""
	if b.Err != nil {
		ts.cause = shortCause(b.Err.Error())
	}
	inserted := false
	for i := range b.Samples {
		s := &b.Samples[i]
		if math.IsNaN(s.Value) {
			continue
		}
		h := ts.sets.hash(s.Labels)
		sr := ts.lookupHashed(s.Name, s.Labels, h) // no allocation for a known series
		if sr == nil {
			sr = ts.insert(s.Name, s.Labels, h)
			inserted = true
			if len(e.pending) > 0 {
				e.keyBuf = model.AppendKey(e.keyBuf[:0], s.Name, s.Labels)
				if as, ok := e.pending[string(e.keyBuf)]; ok {
					for _, a := range as {
						if a.rule == nil && e.alarms[a.ID] == a {
							if rl := e.ruleByN[a.Rule]; rl != nil {
								link(sr, rl, a)
							}
						}
					}
					delete(e.pending, string(e.keyBuf))
				}
			}
		}
		sr.add(s.Time.UnixNano(), s.Value, e.keepFor[s.Name])
	}
	if inserted {
		ts.fitLists()
	}
	return ts
}

// fitLists gives the lists by name that append left up to half empty
// (a metric's series all come in the first poll) an array of their size.
func (ts *targetState) fitLists() {
	for name, list := range ts.byName {
		if cap(list)-len(list) > len(list)/8+1 { // past the size classes' rounding
			ts.byName[name] = append(make([]*series, 0, len(list)), list...)
		}
	}
}

func (e *Engine) target(name string) *targetState {
	ts := e.targets[name]
	if ts == nil {
		ts = newTargetState()
		e.targets[name] = ts
	}
	return ts
}

func (ts *targetState) gc(now time.Time) {
	ts.lastGC = now
	cut := now.Add(-seriesTTL).UnixNano()
	for name, list := range ts.byName {
		kept := list[:0]
		for _, s := range list {
			if s.lastTime() >= cut {
				kept = append(kept, s)
				continue
			}
			s.labelSet.drop(s)
			if len(s.labelSet.series) == 0 {
				ts.sets.release(s.labelSet)
			}
		}
		clear(list[len(kept):]) // let the dropped series go
		if len(kept) == 0 {
			delete(ts.byName, name)
			delete(ts.names, name)
		} else {
			ts.byName[name] = kept
		}
	}
}

// Latest calls fn with the newest point of every series that is not stale,
// for /metrics.
func (e *Engine) Latest(fn func(name string, labels model.Labels, value float64, t time.Time)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.opts.Now()
	for target, ts := range e.targets {
		fresh := now.Add(-e.staleAfter(target)).UnixNano()
		for s := range ts.all() {
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
	for _, s := range ts.byName[model.MetricTargetUp] {
		if _, v, ok := s.last(); ok {
			return v == 1, true
		}
	}
	return false, false
}

// shortCause keeps the first line of a collection error, at most 200
// bytes: a message is read on a phone, and a panic's stack is for the log.
func shortCause(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	return strings.TrimSpace(s)
}

// Cause is why the target's last collection failed, "" when it worked
// (or the target is unknown here).
func (e *Engine) Cause(target string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ts := e.targets[target]; ts != nil {
		return ts.cause
	}
	return ""
}
