package dispatch

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/vedetta-dc/vedetta/internal/store"
	"github.com/vedetta-dc/vedetta/model"
)

// The history: every alarm transition people heard of and every
// notification's outcome, kept history_retention (7 days by default) in
// the store, written in the transaction that made them, so that "what
// happened last night, and who was told" has an answer after the ledger
// of the outbox (24 h) is pruned.

// HistoryEntry is one line of the history.
type HistoryEntry struct {
	At       time.Time       `json:"at"`
	Kind     string          `json:"kind"` // alarm | notification
	AlarmIDs []string        `json:"alarm_ids"`
	Rule     string          `json:"rule,omitempty"`
	Target   string          `json:"target,omitempty"`
	Severity string          `json:"severity,omitempty"`
	Event    model.EventKind `json:"event"`
	Summary  string          `json:"summary,omitempty"`
	// For a notification: to whom, how, and what came of it.
	Receiver  string `json:"receiver,omitempty"`
	Channel   string `json:"channel,omitempty"`
	Recipient string `json:"recipient,omitempty"`
	Provider  string `json:"provider,omitempty"`
	Outcome   string `json:"outcome,omitempty"` // delivered | failed
	Error     string `json:"error,omitempty"`
}

// historyKey orders entries by time; the random tail keeps two entries of
// one nanosecond apart.
func historyKey(at time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%020d-%s", at.UnixNano(), hex.EncodeToString(b[:]))
}

func putHistory(tx store.Tx, e HistoryEntry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return tx.Put(store.History, historyKey(e.At), b)
}

// historyOfAlarm records an alarm's event. Caller is in tx.
func historyOfAlarm(tx store.Tx, a model.Alarm, ev model.EventKind, now time.Time) error {
	return putHistory(tx, HistoryEntry{At: now, Kind: "alarm", AlarmIDs: []string{a.ID}, Rule: a.Rule, Target: a.Labels["target"],
		Severity: a.Severity, Event: ev, Summary: a.Summary})
}

// historyOfDelivery records a notification's final outcome. Caller is in tx.
func historyOfDelivery(tx store.Tx, x Delivery) error {
	if x.State != DeliveryDelivered && x.State != DeliveryFailed {
		return nil
	}
	return putHistory(tx, HistoryEntry{At: x.Done, Kind: "notification", AlarmIDs: x.AlarmIDs, Severity: x.Severity, Event: x.Event,
		Summary: x.Subject, Receiver: x.Receiver, Channel: x.Channel, Recipient: x.Recipient, Provider: x.Provider,
		Outcome: x.State, Error: x.LastError})
}

// pruneHistory deletes entries older than keep, at most limit of them per
// call (one transaction stays small; the rest go at the next prune).
func pruneHistory(tx store.Tx, now time.Time, keep time.Duration, limit int) (int, error) {
	cut := fmt.Sprintf("%020d", now.Add(-keep).UnixNano())
	var old []string
	err := tx.ForEach(store.History, func(k string, _ []byte) error {
		if k < cut && len(old) < limit {
			old = append(old, k)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, k := range old {
		if err := tx.Delete(store.History, k); err != nil {
			return 0, err
		}
	}
	return len(old), nil
}

// readHistory returns the entries since `since`, newest first, at most
// limit, those of one target or alarm when given.
func readHistory(st store.Store, since time.Time, target, alarm string, limit int) ([]HistoryEntry, error) {
	cut := fmt.Sprintf("%020d", since.UnixNano())
	var out []HistoryEntry
	err := st.View(func(tx store.Tx) error {
		return tx.ForEach(store.History, func(k string, v []byte) error {
			if k < cut {
				return nil
			}
			var e HistoryEntry
			if json.Unmarshal(v, &e) != nil {
				return nil
			}
			if target != "" && e.Target != target && !(e.Kind == "notification" && containsTarget(e.Summary, target)) {
				return nil
			}
			if alarm != "" && !containsID(e.AlarmIDs, alarm) {
				return nil
			}
			out = append(out, e)
			return nil
		})
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.After(out[j].At) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, err
}

func containsID(ids []string, id string) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// containsTarget: a notification's subject names its target as "on T:"
// (or, for a group, in its list of targets).
func containsTarget(subject, target string) bool {
	return strings.Contains(subject, " on "+target+":") || strings.Contains(subject, " on "+target+",") ||
		strings.Contains(subject, ", "+target+":") || strings.Contains(subject, ", "+target+",")
}

// History returns the entries since `since`, newest first (at most limit;
// of one target or one alarm when given).
func (d *Dispatcher) History(since time.Time, target, alarm string, limit int) ([]HistoryEntry, error) {
	return readHistory(d.store, since, target, alarm, limit)
}

// History reads the replicated history (a cluster member's API).
func (r *Relay) History(since time.Time, target, alarm string, limit int) ([]HistoryEntry, error) {
	return readHistory(r.Store, since, target, alarm, limit)
}
