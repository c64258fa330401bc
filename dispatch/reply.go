package dispatch

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/vedetta-dc/vedetta/notify"
)

// Answering by an SMS reply: the reply quotes a short code (or the whole
// id) of an SMS sent to the replying number, or nothing (the latest one
// sent there); the code is matched against that number's SMS in the
// ledger, so a number can act only on what it was told about. ACK
// acknowledges (for DefaultAckTTL), RES acknowledges until the alarm
// resolves, ESC calls the next escalation step now.

// ReplyLedger is what an answer by SMS or by phone needs: the Dispatcher,
// or a Relay on a cluster member that is not the dispatcher.
type ReplyLedger interface {
	Deliveries(alarmID string) ([]Delivery, error)
	Notice(alarmID string) *Notice
	Ack(alarmID, by, comment string, ttl time.Duration) (*Notice, error)
	EscalateNow(alarmID, by string) (int, error)
}

// UntilResolved is how long a RES reply's ack holds: until the episode
// ends (which ends every ack), a month at most.
const UntilResolved = 30 * 24 * time.Hour

// AckByReply is AnswerReply with ACK.
func AckByReply(l ReplyLedger, number, code, by string) (string, error) {
	return AnswerReply(l, number, code, notify.VerbAck, by)
}

// AnswerReply acts on the alarms behind code (an SMS's reply code or its
// id; "" for the latest SMS sent to number whose alarm still fires) sent
// by SMS to number, on behalf of by, and returns the answer to send back.
func AnswerReply(l ReplyLedger, number, code, verb, by string) (string, error) {
	code = strings.ToLower(code)
	ds, err := l.Deliveries("")
	if err != nil {
		return "Nothing done: vedetta cannot read its ledger now; try again.", err
	}
	firing := func(ids []string) bool {
		for _, id := range ids {
			if n := l.Notice(id); n != nil && n.Firing {
				return true
			}
		}
		return false
	}
	if code == "" {
		var latest *Delivery
		for i := range ds {
			x := &ds[i]
			if x.Channel == "sms" && x.Recipient == number && firing(x.AlarmIDs) && (latest == nil || x.Created.After(latest.Created)) {
				latest = x
			}
		}
		if latest == nil {
			return "No firing alarm was sent to this number: nothing done.", nil
		}
		code = latest.Ref
	}
	refs := map[string][]string{} // ref → its alarms
	for _, x := range ds {
		if x.Channel != "sms" || x.Recipient != number {
			continue
		}
		if x.Ref == code || notify.ReplyCode(x.Ref) == code {
			refs[x.Ref] = append(refs[x.Ref], x.AlarmIDs...)
		}
	}
	// Several messages with that short code: only those still firing
	// count; if that leaves more than one, ask for the whole id rather
	// than act on the wrong alarm.
	var matched []string
	for ref, ids := range refs {
		if firing(ids) {
			matched = append(matched, ref)
		}
	}
	sort.Strings(matched)
	short := notify.ReplyCode(code)
	switch {
	case len(refs) == 0:
		return fmt.Sprintf("No alarm %s was sent to this number. Reply with the code of an SMS, e.g. %s %s", code, code, verb), nil
	case len(matched) == 0:
		return fmt.Sprintf("%s is no longer firing: nothing done.", short), nil
	case len(matched) > 1:
		return fmt.Sprintf("Nothing done: %s matches %d firing alarms. Reply with the whole id, e.g. %s %s", code, len(matched), matched[0], verb), nil
	}
	var done []string // "UPSOnBattery on ups-b", per alarm acted on
	var why string    // why an escalation did not happen
	seen := map[string]bool{}
	for _, id := range refs[matched[0]] {
		if seen[id] {
			continue
		}
		seen[id] = true
		n := l.Notice(id)
		var err error
		switch verb {
		case notify.VerbEsc:
			_, err = l.EscalateNow(id, by)
			if errors.Is(err, ErrNoStep) {
				why = strings.TrimSuffix(err.Error(), ": "+ErrNoStep.Error())
				continue
			}
		case notify.VerbRes:
			n, err = l.Ack(id, by, "by SMS reply from "+number+", until it resolves", UntilResolved)
		default:
			n, err = l.Ack(id, by, "by SMS reply from "+number, 0)
		}
		switch {
		case errors.Is(err, ErrNoAlarm):
			continue // resolved meanwhile
		case err != nil:
			return "Nothing done: " + err.Error(), err
		}
		what := id
		if n != nil {
			what = n.Alarm.Rule
			if t := n.Alarm.Labels["target"]; t != "" {
				what += " on " + t
			}
		}
		done = append(done, what)
	}
	if len(done) == 0 {
		if why != "" {
			return "Not escalated: " + why + ".", nil
		}
		return fmt.Sprintf("%s is no longer firing: nothing done.", short), nil
	}
	sort.Strings(done)
	word := map[string]string{notify.VerbAck: "Acknowledged", notify.VerbRes: "Acknowledged until resolved", notify.VerbEsc: "Escalated"}[verb]
	msg := fmt.Sprintf("%s %s %s", word, short, done[0])
	if len(done) > 1 {
		msg += fmt.Sprintf(" and %d more", len(done)-1)
	}
	if verb == notify.VerbEsc {
		return msg + ": the next people are called", nil
	}
	return msg + " by " + by, nil
}
