// Package model is the vocabulary the rooms of vedetta exchange: an alarm,
// its states and events, the change the rules engine hands to the
// dispatcher, and the names of the metrics one package writes and another
// reads. It imports nothing of vedetta's: every room may depend on it.
package model

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
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
	// EventAcked tells those told of an alarm that someone took it.
	EventAcked EventKind = "acknowledged"
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
	Runbook     string            `json:"runbook,omitempty"`
	Site        string            `json:"site"`
	ActiveAt    time.Time         `json:"active_at"`            // condition first true (pending start)
	FiringAt    time.Time         `json:"firing_at,omitzero"`   // became firing
	ResolvedAt  time.Time         `json:"resolved_at,omitzero"` // became resolved
	LastSeen    time.Time         `json:"last_seen"`            // last evaluation that had data
	// Seq counts the events of this alarm (informational: delivery keys
	// take their number from the store, which outlives the alarm).
	Seq int `json:"seq"`

	// Flap detection (Icinga-style): the last 21 condition results, one per
	// new sample, newest in bit 0.
	History    uint32 `json:"history"`
	HistoryN   int    `json:"history_n"`
	LastSample int64  `json:"last_sample"` // unix ns of the newest sample recorded
	Flapping   bool   `json:"flapping"`
	// Told is the last state people were told about (firing or resolved).
	Told State `json:"told,omitempty"`
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

// Clone is a copy that shares nothing with a.
func (a Alarm) Clone() Alarm {
	c := a
	c.Labels = make(map[string]string, len(a.Labels))
	for k, v := range a.Labels {
		c.Labels[k] = v
	}
	return c
}

// Change is one alarm that moved, from the rules engine to the store and
// the dispatcher: Event is set when people must be told.
type Change struct {
	Alarm   Alarm
	Event   EventKind
	Deleted bool
}

// AlarmID is a short stable id people can read out on the phone and quote
// to acknowledge: the same rule and labels always give the same id.
func AlarmID(rule string, labels map[string]string) string {
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
