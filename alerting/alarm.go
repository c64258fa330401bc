// Package alerting is vedetta's rules engine: it keeps the recent history
// of every series, evaluates each rule per label set, and moves each alarm
// through inactive → pending → firing → resolved (or stale when its data
// stops arriving: never silently resolved).
package alerting

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"sort"
	"strings"
	"text/template"
	"time"
)

// State of an alarm.
type State string

// Alarm states. Inactive alarms are not kept at all.
const (
	StatePending  State = "pending"
	StateFiring   State = "firing"
	StateStale    State = "stale"
	StateResolved State = "resolved"
)

// EventKind is what a notification says about an alarm.
type EventKind string

// Events sent to people.
const (
	EventFiring   EventKind = "firing"
	EventResolved EventKind = "resolved"
	EventStale    EventKind = "stale"
	// EventFlapping and EventFlapEnd replace the storm of firing/resolved
	// notices of an alarm that keeps changing state.
	EventFlapping EventKind = "flapping"
	EventFlapEnd  EventKind = "flap_end"
	// EventRepeat re-notifies an unacknowledged firing alarm; EventEscalated
	// calls the next receivers.
	EventRepeat    EventKind = "repeat"
	EventEscalated EventKind = "escalated"
	// EventTest is `vedetta test-notify`.
	EventTest EventKind = "test"
)

// Alarm is one rule matching one label set. It is what the store keeps and
// what the API shows.
type Alarm struct {
	ID          string            `json:"id"`
	Rule        string            `json:"rule"`
	Labels      map[string]string `json:"labels"`
	State       State             `json:"state"`
	Severity    string            `json:"severity"`
	Value       float64           `json:"value"`
	Summary     string            `json:"summary"`
	Description string            `json:"description,omitempty"`
	Site        string            `json:"site"`
	ActiveAt    time.Time         `json:"active_at"`            // condition first true (pending start)
	FiringAt    time.Time         `json:"firing_at,omitzero"`   // became firing
	ResolvedAt  time.Time         `json:"resolved_at,omitzero"` // became resolved
	LastSeen    time.Time         `json:"last_seen"`            // last evaluation that had data
	// Seq counts the events sent for this alarm; with ID it makes every
	// notification's idempotency key.
	Seq int `json:"seq"`

	// Flap detection (Icinga-style): the last 21 condition results, one per
	// new sample, newest in bit 0.
	History    uint32 `json:"history"`
	HistoryN   int    `json:"history_n"`
	LastSample int64  `json:"last_sample"` // unix ns of the newest sample recorded
	Flapping   bool   `json:"flapping"`
	// Told is the last state people were told about (firing or resolved).
	Told State `json:"told,omitempty"`

	// The series and rule of a single-metric alarm (engine-internal).
	src  *series
	rule *Rule
}

// Since is when the alarm entered its current state, for the API.
func (a *Alarm) Since() time.Time {
	switch a.State {
	case StateFiring, StateStale:
		return a.FiringAt
	case StateResolved:
		return a.ResolvedAt
	}
	return a.ActiveAt
}

// alarmID is a short stable id people can read out on the phone and quote
// to acknowledge: the same rule and labels always give the same id.
func alarmID(rule string, labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	h.Write([]byte(rule))
	for _, k := range keys {
		h.Write([]byte{0})
		h.Write([]byte(k))
		h.Write([]byte{1})
		h.Write([]byte(labels[k]))
	}
	return hex.EncodeToString(h.Sum(nil))[:10]
}

// step is the state machine, a pure function of the alarm, what the rule
// says now and the time: it returns the event to send, if any.
//
//	cond:     the rule's expression holds for this label set
//	clear:    the clear expression holds (only read when hasClear)
//	present:  the label set had fresh data in this evaluation
func step(a *Alarm, present, cond, clear, hasClear bool, forDur time.Duration, now time.Time) EventKind {
	if !present {
		switch a.State {
		case StatePending:
			a.State = "" // cannot confirm without data: back to inactive
		case StateFiring:
			a.State = StateStale
			return EventStale
		}
		return ""
	}
	a.LastSeen = now
	switch a.State {
	case "", StateResolved:
		if !cond {
			return ""
		}
		a.ActiveAt = now
		a.ResolvedAt = time.Time{}
		if forDur <= 0 {
			a.State = StateFiring
			a.FiringAt = now
			return EventFiring
		}
		a.State = StatePending
	case StatePending:
		if !cond {
			a.State = ""
			return ""
		}
		if now.Sub(a.ActiveAt) >= forDur {
			a.State = StateFiring
			a.FiringAt = now
			return EventFiring
		}
	case StateFiring, StateStale:
		over := !cond
		if hasClear {
			over = !cond && clear // Zabbix-style recovery: both must agree
		}
		if over {
			a.State = StateResolved
			a.ResolvedAt = now
			return EventResolved
		}
		if a.State == StateStale {
			a.State = StateFiring // data is back and it still holds
		}
	}
	return ""
}

// templateData is what summaries see.
type templateData struct {
	Labels   map[string]string
	Value    float64
	Rule     string
	Severity string
	Site     string
}

var templateFuncs = template.FuncMap{
	"percent": func(v float64) string { return fmt.Sprintf("%.0f%%", v*100) },
	"humanize": func(v float64) string {
		for _, u := range []struct {
			f float64
			s string
		}{{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
			if math.Abs(v) >= u.f {
				return fmt.Sprintf("%.3g%s", v/u.f, u.s)
			}
		}
		return fmt.Sprintf("%.3g", v)
	},
	"humanizeBytes": func(v float64) string {
		units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
		i := 0
		for math.Abs(v) >= 1024 && i < len(units)-1 {
			v /= 1024
			i++
		}
		return fmt.Sprintf("%.3g %s", v, units[i])
	},
	"humanizeDuration": func(v float64) string {
		return time.Duration(v * float64(time.Second)).Round(time.Second).String()
	},
	"upper": strings.ToUpper,
	"lower": strings.ToLower,
}

func parseTemplate(name, text string) (*template.Template, error) {
	if text == "" {
		return nil, nil
	}
	return template.New(name).Option("missingkey=zero").Funcs(templateFuncs).Parse(text)
}

func render(t *template.Template, d templateData, fallback string) string {
	if t == nil {
		return fallback
	}
	var b strings.Builder
	if err := t.Execute(&b, d); err != nil {
		return fallback + " (summary template failed: " + err.Error() + ")"
	}
	return b.String()
}
