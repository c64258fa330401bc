package alerting

import (
	"math"

	"github.com/vedetta-dc/vedetta/collectors"
)

// series is the recent history of one metric with one label set. Points are
// kept as long as the longest window any rule reads (plus one point before
// it, so a window's first delta has a base).
type series struct {
	name   string
	key    string
	labels collectors.Labels
	ts     []int64 // unix nanoseconds, ascending
	vs     []float64
	// boxed is the newest value as an interface, made once per sample so
	// that evaluating 200 rules on it allocates nothing.
	boxed any
	lmap  map[string]string // labels as a map, built when a rule reads labels
	// alarms of single-metric rules on this series, so that the common case
	// (condition false, no alarm) needs no alarm id.
	alarms map[*Rule]*Alarm
	boxes  map[string]boxed // window results by variable name
	lboxed map[string]any   // label values as interfaces
}

// box returns v as an interface, reusing the one made last time for the
// same slot when the value has not changed (steady state: no allocation).
func (s *series) box(slot string, v float64) any {
	if c, ok := s.boxes[slot]; ok && (c.v == v || math.IsNaN(v) && math.IsNaN(c.v)) {
		return c.b
	}
	if s.boxes == nil {
		s.boxes = map[string]boxed{}
	}
	b := any(v)
	s.boxes[slot] = boxed{v, b}
	return b
}

type boxed struct {
	v float64
	b any
}

// labelBoxed returns a label value as an interface, made once per series.
func (s *series) labelBoxed(name string) any {
	if v, ok := s.lboxed[name]; ok {
		return v
	}
	if s.lboxed == nil {
		s.lboxed = map[string]any{}
	}
	v := any(s.labels.Get(name))
	s.lboxed[name] = v
	return v
}

func (s *series) labelMap() map[string]string {
	if s.lmap == nil {
		s.lmap = s.labels.Map()
	}
	return s.lmap
}

func (s *series) add(t int64, v float64, keep int64) {
	if n := len(s.ts); n > 0 && t <= s.ts[n-1] {
		if t == s.ts[n-1] {
			s.vs[n-1] = v // same instant re-sent (a trap-triggered poll): last wins
			s.boxed = v
		}
		return // out of order: keep history monotonic
	}
	s.ts = append(s.ts, t)
	s.vs = append(s.vs, v)
	s.boxed = v
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
