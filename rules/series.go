package rules

import (
	"math"
	"unsafe"

	"github.com/vedetta-dc/vedetta/model"
)

// series is one metric with one label set: its newest point and, only
// for a metric some rule's window reads, the recent history. Points are
// kept as long as the longest window reading the metric (plus one point
// before it, so a window's first delta has a base). A series of a store
// is 128 bytes; its labels are the interned set's (labelset.go).
type series struct {
	name   string
	labels model.Labels // set.labels, or a test's own
	set    *labelSet    // nil outside a store (a test's series)
	t      int64        // the newest point, unix nanoseconds (has: there is one)
	v      float64
	has    bool
	ts     []int64  // history, ascending; nil unless a window reads the metric
	hist   *history // the history's values and window results, with ts
	// vbox is the newest value boxed once and rewritten in place (see
	// floatBox), so that evaluating rules on it allocates nothing.
	vbox any
	// alarms of single-metric rules on this series, so that the common case
	// (condition false, no alarm) needs no alarm id.
	alarms map[*Rule]*alarm
}

// history is what a series read by windows keeps besides ts.
type history struct {
	vs    []float64 // parallel to ts
	boxes []boxed   // window results
}

// box returns v as an interface, the same one as last time for the same
// slot, rewritten when the value changed (steady state: no allocation).
func (s *series) box(slot string, v float64) any {
	if s.hist == nil {
		s.hist = &history{}
	}
	for i := range s.hist.boxes {
		if c := &s.hist.boxes[i]; c.slot == slot {
			setFloatBox(c.b, v)
			return c.b
		}
	}
	b := newFloatBox(v)
	s.hist.boxes = append(s.hist.boxes, boxed{slot, b})
	return b
}

// boxed is one cached window result; a series has one per distinct window
// call that reads it (a handful), so a slice beats a map.
type boxed struct {
	slot string
	b    any
}

// value returns the newest value as an interface (see vbox).
func (s *series) value() any {
	if s.vbox == nil {
		s.vbox = newFloatBox(s.v)
	} else {
		setFloatBox(s.vbox, s.v)
	}
	return s.vbox
}

// floatBox: an interface holding a float64 points at an 8-byte cell; made
// by newFloatBox, that cell is the series' own (never the compiler's
// read-only constant), and setFloatBox rewrites it. Boxing each new value
// instead costs an allocation per series per poll, most of the engine's
// garbage in the steady state. It is safe because a box is read only under
// e.mu, by a program run that ends before the next rewrite, and nothing
// keeps it after the run (judge copies its result out at once).
type eface struct{ typ, data unsafe.Pointer }

func newFloatBox(v float64) any {
	cell := new(float64)
	*cell = v
	b := any(float64(0)) // for the type word
	(*eface)(unsafe.Pointer(&b)).data = unsafe.Pointer(cell)
	return b
}

func setFloatBox(b any, v float64) {
	*(*float64)((*eface)(unsafe.Pointer(&b)).data) = v
}

// labelBoxed returns a label value as an interface, made once per label
// set (once per series outside a store).
func (s *series) labelBoxed(name string) any {
	if s.set == nil {
		s.set = &labelSet{labels: s.labels}
	}
	return s.set.labelBoxed(name)
}

func (s *series) labelMap() map[string]string {
	if s.set == nil {
		s.set = &labelSet{labels: s.labels}
	}
	return s.set.labelMap()
}

// add records a point and forgets what is older than keep (when its
// history is full); keep 0 (no rule
// reads a window of this metric) keeps only the newest point, in the
// series itself.
func (s *series) add(t int64, v float64, keep int64) {
	if s.has && t <= s.t {
		if t == s.t { // same instant re-sent (a trap-triggered poll): last wins
			s.v = v
			if n := len(s.ts); n > 0 {
				s.hist.vs[n-1] = v
			}
		}
		return // out of order: keep history monotonic
	}
	prevT, prevV, had := s.t, s.v, s.has
	s.t, s.v, s.has = t, v, true
	if keep == 0 {
		if s.ts != nil { // no window reads it any more (a reload)
			s.ts, s.hist = nil, nil
		}
		return
	}
	if s.hist == nil {
		s.hist = &history{}
	}
	h := s.hist
	if s.ts == nil && had { // a window reads it since a reload: its newest point is the base
		s.ts, h.vs = append(s.ts, prevT), append(h.vs, prevV)
	}
	if n := len(s.ts); n == cap(s.ts) || n == cap(h.vs) {
		// Full: drop what no window can read any more (a point is kept
		// while the next one is inside the longest window: it is the base
		// of a delta), in place; grow by a quarter only when every point
		// is still needed. The history stays within a quarter of what the
		// windows read, and a steady series allocates nothing.
		cut := 0
		for cut < n-1 && s.ts[cut+1] < t-keep {
			cut++
		}
		if cut > 0 {
			m := copy(s.ts, s.ts[cut:])
			copy(h.vs, h.vs[cut:])
			s.ts, h.vs = s.ts[:m], h.vs[:m]
		} else {
			grown := n + n/4 + 1
			s.ts = append(make([]int64, 0, grown), s.ts...)
			h.vs = append(make([]float64, 0, grown), h.vs...)
		}
	}
	s.ts = append(s.ts, t)
	h.vs = append(h.vs, v)
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
	var vs []float64
	if s.hist != nil {
		vs = s.hist.vs
	}
	i := len(s.ts)
	for i > 0 && s.ts[i-1] >= from {
		i--
	}
	pts := len(s.ts) - i
	switch fn {
	case "count_over":
		return float64(pts)
	case "avg_over", "max_over", "min_over":
		if pts == 0 {
			return math.NaN()
		}
		sum, mx, mn := 0.0, math.Inf(-1), math.Inf(1)
		for _, v := range vs[i:] {
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
		if len(s.ts)-i < 2 {
			return math.NaN()
		}
		return vs[len(vs)-1] - vs[i]
	case "increase", "rate":
		if pts < 2 && i > 0 {
			i--
		}
		if len(s.ts)-i < 2 {
			return math.NaN()
		}
		inc := 0.0
		for j := i + 1; j < len(vs); j++ {
			d := vs[j] - vs[j-1]
			if d < 0 {
				d = vs[j] // counter reset: it restarted from zero
			}
			inc += d
		}
		if fn == "increase" {
			return inc
		}
		secs := float64(s.ts[len(s.ts)-1]-s.ts[i]) / 1e9
		if secs <= 0 {
			return math.NaN()
		}
		return inc / secs
	}
	return math.NaN()
}
