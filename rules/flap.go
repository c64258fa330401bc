package rules

import "github.com/vedetta-dc/vedetta/model"

// Flap detection after Icinga 2: the percent state change over the last
// 21 results, later changes weighing more (0.8 for the oldest transition to
// 1.2 for the newest). An alarm starts flapping above FlapHigh and stops
// below FlapLow; while it flaps, people get one "flapping" notice instead of
// a storm of firing/resolved ones, and one notice when it stops.
const (
	FlapHigh    = 30.0
	FlapLow     = 25.0
	flapResults = 21
)

// record adds one condition result.
func (a *alarm) record(cond bool) {
	a.History <<= 1
	if cond {
		a.History |= 1
	}
	a.History &= 1<<flapResults - 1
	if a.HistoryN < flapResults {
		a.HistoryN++
	}
}

// FlapPercent is the weighted percent state change of the recorded results.
func (a *alarm) FlapPercent() float64 {
	n := a.HistoryN
	if n < 2 {
		return 0
	}
	sum := 0.0
	// Transition i (1 = oldest of the full window) sits between bits
	// 21-i and 20-i; with fewer results the oldest transitions are missing.
	for i := 1; i < flapResults; i++ {
		newer := flapResults - 1 - i // bit of the newer result
		older := newer + 1
		if older >= n {
			continue
		}
		if (a.History>>newer)&1 != (a.History>>older)&1 {
			sum += 0.8 + 0.4*float64(i-1)/float64(flapResults-2)
		}
	}
	return sum / float64(flapResults-1) * 100
}

// flap updates the flapping flag and turns the event the state machine
// produced into what people should hear.
func (a *alarm) flap(ev model.EventKind) model.EventKind {
	pct := a.FlapPercent()
	switch {
	case !a.Flapping && pct >= FlapHigh:
		a.Flapping = true
		return model.EventFlapping
	case a.Flapping && pct < FlapLow:
		a.Flapping = false
		return model.EventFlapEnd
	case a.Flapping:
		return "" // muted while flapping
	}
	return ev
}
