package rules

import (
	"math"
	"unsafe"
)

// series is one metric with one label set: its newest point and, only
// for a metric some rule's window reads, the recent history. Points are
// kept as long as the longest window reading the metric (plus one point
// before it, so a window's first delta has a base).
//
// A store holds ~500 series per switch, so the struct is kept to 48 bytes
// (a size class; it was 128): what several series share lives behind a
// pointer. The three pointers are embedded so that the rest of the
// package keeps reading s.labels, s.alarms, s.name and s.ts as fields:
//   - *labelSet: the interned labels (s.labels) and the alarms of
//     single-metric rules (s.alarms, see labelSet.alarms);
//   - *metricName: the name, one per metric and target (s.name);
//   - *history: nil unless a window reads the metric (s.ts).
//
// A series outside a store (a test's) may lack any of them; series.go
// checks before reading through them.
type series struct {
	*labelSet
	*metricName
	*history
	t   int64 // the newest point, unix nanoseconds (has: there is one)
	v   float64
	has bool
}

// metricName is a metric's name, shared by the series of one target that
// carry it: 8 bytes per series instead of a 16-byte string header.
type metricName struct {
	name string
}

// history is what a series read by windows keeps besides its newest point.
type history struct {
	// ts are the points, ascending in time; one slice, not one of times
	// and one of values: one allocation, one slice header less.
	ts    []point
	boxes []boxed // window results
}

type point struct {
	t int64 // unix nanoseconds
	v float64
}

// box returns v as an interface pointing at the slot's cell in the
// history, rewritten in place (steady state: no allocation). A box
// stays valid for the program run it is made for: a new slot may move the
// cells, and the next run asks again.
func (s *series) box(slot string, v float64) any {
	if s.history == nil {
		s.history = &history{}
	}
	h := s.history
	for i := range h.boxes {
		if c := &h.boxes[i]; c.slot == slot {
			c.v = v
			return floatAt(&c.v)
		}
	}
	h.boxes = append(h.boxes, boxed{slot, v})
	return floatAt(&h.boxes[len(h.boxes)-1].v)
}

// boxed is one cached window result; a series has one per distinct window
// call that reads it (a handful), so a slice beats a map.
type boxed struct {
	slot string
	v    float64
}

// value returns the newest value as an interface whose data word points
// at s.v itself (see floatAt): always current, and neither an allocation
// per call nor a box kept per series.
func (s *series) value() any {
	return floatAt(&s.v)
}

// floatAt returns an interface holding the float64 at p without copying
// it: its data word is p, a cell of the series' own (never the compiler's
// read-only constant), which add or box rewrites. Boxing each new value
// instead costs an allocation per series per poll, most of the engine's
// garbage in the steady state; keeping a boxed copy per series cost
// 16 bytes and a cell. It is safe because a box is read only under e.mu,
// by a program run that ends before the next rewrite, and nothing keeps it
// after the run (judge copies its result out at once).
func floatAt(p *float64) any {
	b := any(float64(0)) // for the type word
	(*eface)(unsafe.Pointer(&b)).data = unsafe.Pointer(p)
	return b
}

// eface is an interface's two words.
type eface struct{ typ, data unsafe.Pointer }

// labelBoxed returns a label value as an interface, without allocating
// (labelSet.labelBoxed); "" for a label the series lacks.
func (s *series) labelBoxed(name string) any {
	if s.labelSet == nil { // a test's series
		return emptyLabel
	}
	return s.labelSet.labelBoxed(name)
}

func (s *series) labelMap() map[string]string {
	if s.labelSet == nil {
		s.labelSet = &labelSet{}
	}
	return s.labelSet.labelMap()
}

// add records a point and forgets what is older than keep (when its
// history is full); keep 0 (no rule
// reads a window of this metric) keeps only the newest point, in the
// series itself.
func (s *series) add(t int64, v float64, keep int64) {
	if s.has && t <= s.t {
		if t == s.t { // same instant re-sent (a trap-triggered poll): last wins
			s.v = v
			if h := s.history; h != nil && len(h.ts) > 0 {
				h.ts[len(h.ts)-1].v = v
			}
		}
		return // out of order: keep history monotonic
	}
	prevT, prevV, had := s.t, s.v, s.has
	s.t, s.v, s.has = t, v, true
	if keep == 0 {
		if s.history != nil && s.history.ts != nil { // no window reads it any more (a reload)
			s.history = nil
		}
		return
	}
	if s.history == nil {
		s.history = &history{}
	}
	h := s.history
	if h.ts == nil && had { // a window reads it since a reload: its newest point is the base
		h.ts = append(h.ts, point{prevT, prevV})
	}
	if len(h.ts) == cap(h.ts) {
		h.trim(t, keep)
	}
	h.ts = append(h.ts, point{t, v})
}

// trim makes room in a full history for a point at t: it drops what no
// window can read any more (a point is kept while the next one is inside
// the longest window: it is the base of a delta), in place; it grows by an
// eighth only when every point is still needed. The history stays within
// an eighth of what the windows read (growing by a quarter cost 18 % more
// memory at 10 s polls), and a steady series allocates nothing;
// the few more copies are made while a history first fills.
func (h *history) trim(t, keep int64) {
	n := len(h.ts)
	cut := 0
	for cut < n-1 && h.ts[cut+1].t < t-keep {
		cut++
	}
	if cut > 0 {
		h.ts = h.ts[:copy(h.ts, h.ts[cut:])]
		return
	}
	grown := n + n/8 + 1
	h.ts = append(make([]point, 0, grown), h.ts...)
}

func (s *series) last() (int64, float64, bool) {
	return s.t, s.v, s.has
}

func (s *series) lastTime() int64 {
	t, _, _ := s.last()
	return t
}

// window computes a window function over the points since from (unix ns).
// Not enough points gives NaN, which compares false: no alarm on a guess.
func (s *series) window(fn string, from int64) float64 {
	var ts []point
	if s.history != nil {
		ts = s.history.ts
	}
	i := len(ts)
	for i > 0 && ts[i-1].t >= from {
		i--
	}
	pts := len(ts) - i
	switch fn {
	case "count_over":
		return float64(pts)
	case "avg_over", "max_over", "min_over":
		if pts == 0 {
			return math.NaN()
		}
		sum, mx, mn := 0.0, math.Inf(-1), math.Inf(1)
		for _, p := range ts[i:] {
			v := p.v
			sum += v
			mx = math.Max(mx, v)
			mn = math.Min(mn, v)
		}
		switch fn {
		case "avg_over":
			return sum / float64(pts)
		case "max_over":
			return mx
		}
		return mn
	case "delta":
		// With fewer than two points inside the window, take the last one
		// before it as the base, so a 10m delta sampled every 10m still
		// sees a change.
		if pts < 2 && i > 0 {
			i--
		}
		if len(ts)-i < 2 {
			return math.NaN()
		}
		return ts[len(ts)-1].v - ts[i].v
	case "increase", "rate":
		if pts < 2 && i > 0 {
			i--
		}
		if len(ts)-i < 2 {
			return math.NaN()
		}
		inc := 0.0
		for j := i + 1; j < len(ts); j++ {
			d := ts[j].v - ts[j-1].v
			if d < 0 {
				d = ts[j].v // counter reset: it restarted from zero
			}
			inc += d
		}
		if fn == "increase" {
			return inc
		}
		secs := float64(ts[len(ts)-1].t-ts[i].t) / 1e9
		if secs <= 0 {
			return math.NaN()
		}
		return inc / secs
	}
	return math.NaN()
}
