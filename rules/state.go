package rules

import (
	"time"

	"github.com/vedetta-dc/vedetta/model"
)

// alarm is an alarm as the engine holds it: the shared model, plus the
// series and rule of a single-metric alarm (its fast path).
type alarm struct {
	model.Alarm
	src  *series
	rule *Rule
	// members: an aggregation alarm's members in its last evaluation,
	// for its summary.
	members map[string]MemberList
}

// step is the state machine, a pure function of the alarm, what the rule
// says now and the time: it returns the event to send, if any.
//
//	cond:     the rule's expression holds for this label set
//	clear:    the clear expression holds (only read when hasClear)
//	present:  the label set had fresh data in this evaluation
func step(a *model.Alarm, present, cond, clear, hasClear bool, forDur time.Duration, now time.Time) model.EventKind {
	if !present {
		switch a.State {
		case model.StatePending:
			a.State = "" // cannot confirm without data: back to inactive
		case model.StateFiring:
			a.State = model.StateStale
			return model.EventStale
		}
		return ""
	}
	a.LastSeen = now
	switch a.State {
	case "", model.StateResolved:
		if !cond {
			return ""
		}
		a.ActiveAt = now
		a.ResolvedAt = time.Time{}
		if forDur <= 0 {
			a.State = model.StateFiring
			a.FiringAt = now
			return model.EventFiring
		}
		a.State = model.StatePending
	case model.StatePending:
		if !cond {
			a.State = ""
			return ""
		}
		if now.Sub(a.ActiveAt) >= forDur {
			a.State = model.StateFiring
			a.FiringAt = now
			return model.EventFiring
		}
	case model.StateFiring, model.StateStale:
		over := !cond
		if hasClear {
			over = !cond && clear // Zabbix-style recovery: both must agree
		}
		if over {
			a.State = model.StateResolved
			a.ResolvedAt = now
			return model.EventResolved
		}
		if a.State == model.StateStale {
			a.State = model.StateFiring // data is back and it still holds
		}
	}
	return ""
}
