package rules

import (
	"math"

	"github.com/vedetta-dc/vedetta/model"
)

// series is the recent history of one metric with one label set. Points are
// kept as long as the longest window any rule reads (plus one point before
// it, so a window's first delta has a base).
type series struct {
	name   string
	key    string
	labels model.Labels
	ts     []int64 // unix nanoseconds, ascending
	vs     []float64
	// boxed is the newest value as an interface, made when the value
	// changes, so that evaluating 200 rules on it allocates nothing.
	boxed  any
	boxedV float64
	lmap   map[string]string // labels as a map, built when a rule reads labels
	// alarms of single-metric rules on this series, so that the common case
	// (condition false, no alarm) needs no alarm id.
	alarms map[*Rule]*alarm
	boxes  []boxed // window results
	lboxed []any   // label values as interfaces, parallel to labels
}

// box returns v as an interface, reusing the one made last time for the
// same slot when the value has not changed (steady state: no allocation).
func (s *series) box(slot string, v float64) any {
	for i := range s.boxes {
		if c := &s.boxes[i]; c.slot == slot {
			if c.v != v && !(math.IsNaN(v) && math.IsNaN(c.v)) {
				c.v, c.b = v, any(v)
			}
			return c.b
		}
	}
	b := any(v)
	s.boxes = append(s.boxes, boxed{slot, v, b})
	return b
}

// boxed is one cached window result; a series has one per distinct window
// call that reads it (a handful), so a slice beats a map.
type boxed struct {
	slot string
	v    float64
	b    any
}

// value returns the newest value as an interface (see boxed).
func (s *series) value() any {
	v := s.vs[len(s.vs)-1]
	if s.boxed == nil || s.boxedV != v && !(math.IsNaN(v) && math.IsNaN(s.boxedV)) {
		s.boxed, s.boxedV = v, v
	}
	return s.boxed
}

// labelBoxed returns a label value as an interface, made once per series
// (lboxed is parallel to labels).
func (s *series) labelBoxed(name string) any {
	for i, l := range s.labels {
		if l.Name != name {
			continue
		}
		if s.lboxed == nil {
			s.lboxed = make([]any, len(s.labels))
		}
		if s.lboxed[i] == nil {
			s.lboxed[i] = l.Value
		}
		return s.lboxed[i]
	}
	return emptyLabel
}

var emptyLabel any = ""

func (s *series) labelMap() map[string]string {
	if s.lmap == nil {
		s.lmap = s.labels.Map()
	}
	return s.lmap
}

// add appends a point and forgets what is older than keep; keep 0 (no rule
// reads a window of this metric) keeps only the newest point, in place.
func (s *series) add(t int64, v float64, keep int64) {
	if n := len(s.ts); n > 0 && t <= s.ts[n-1] {
		if t == s.ts[n-1] {
			s.vs[n-1] = v // same instant re-sent (a trap-triggered poll): last wins
		}
		return // out of order: keep history monotonic
	}
	if keep == 0 {
		if len(s.ts) == 1 {
			s.ts[0], s.vs[0] = t, v
		} else {
			s.ts, s.vs = []int64{t}, []float64{v}
		}
		return
	}
	s.ts = append(s.ts, t)
	s.vs = append(s.vs, v)
	// Trim what no window can read any more; the amortised copy keeps the
	// slices from growing without bound.
	cut := 0
	for cut < len(s.ts)-1 && s.ts[cut+1] < t-keep {
		cut++
	}
	if cut > 0 && cut*2 >= len(s.ts) {
		n := copy(s.ts, s.ts[cut:])
		copy(s.vs, s.vs[cut:])
		s.ts, s.vs = s.ts[:n], s.vs[:n]
	}
}

func (s *series) last() (int64, float64, bool) {
	if len(s.ts) == 0 {
		return 0, 0, false
	}
	n := len(s.ts) - 1
	return s.ts[n], s.vs[n], true
}

func (s *series) lastTime() int64 {
	t, _, _ := s.last()
	return t
}

// window computes a window function over the points since from (unix ns).
// Not enough points gives NaN, which compares false: no alarm on a guess.
func (s *series) window(fn string, from int64) float64 {
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
		for _, v := range s.vs[i:] {
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
		return s.vs[len(s.vs)-1] - s.vs[i]
	case "increase", "rate":
		if pts < 2 && i > 0 {
			i--
		}
		if len(s.ts)-i < 2 {
			return math.NaN()
		}
		inc := 0.0
		for j := i + 1; j < len(s.vs); j++ {
			d := s.vs[j] - s.vs[j-1]
			if d < 0 {
				d = s.vs[j] // counter reset: it restarted from zero
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
