package dispatch

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/vedetta-dc/vedetta/notify"
)

// Acknowledging by an SMS reply: the reply quotes a short code (or the
// whole id) of an SMS sent to the replying number; the code is matched
// against that number's SMS in the ledger, so a number can acknowledge
// only what it was told about.

// ReplyLedger is what AckByReply needs: the Dispatcher, or a Relay on a
// cluster member that is not the dispatcher.
type ReplyLedger interface {
	Deliveries(alarmID string) ([]Delivery, error)
	Notice(alarmID string) *Notice
	Ack(alarmID, by, comment string, ttl time.Duration) (*Notice, error)
}

// AckByReply acknowledges the alarms behind code (an SMS's reply code or
// its id) sent by SMS to number, on behalf of by, and returns the
// confirmation to send back.
func AckByReply(l ReplyLedger, number, code, by string) (string, error) {
	code = strings.ToLower(code)
	ds, err := l.Deliveries("")
	if err != nil {
		return "Not acknowledged: vedetta cannot read its ledger now; try again.", err
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
	// than acknowledge the wrong alarm.
	var matched []string
	for ref, ids := range refs {
		for _, id := range ids {
			if n := l.Notice(id); n != nil && n.Firing {
				matched = append(matched, ref)
				break
			}
		}
	}
	sort.Strings(matched)
	switch {
	case len(refs) == 0:
		return fmt.Sprintf("No alarm %s was sent to this number. Reply with the code of an SMS, e.g. %s ACK", code, code), nil
	case len(matched) == 0:
		return fmt.Sprintf("%s is no longer firing: nothing to acknowledge.", code), nil
	case len(matched) > 1:
		return fmt.Sprintf("Not acknowledged: %s matches %d firing alarms. Reply with the whole id, e.g. %s ACK", code, len(matched), matched[0]), nil
	}
	type acked struct{ id, what string }
	var done []acked
	seen := map[string]bool{}
	for _, id := range refs[matched[0]] {
		if seen[id] {
			continue
		}
		seen[id] = true
		n, err := l.Ack(id, by, "by SMS reply from "+number, 0)
		switch {
		case errors.Is(err, ErrNoAlarm):
			continue // resolved meanwhile
		case err != nil:
			return "Not acknowledged: " + err.Error(), err
		}
		what := n.Alarm.Rule
		if t := n.Alarm.Labels["target"]; t != "" {
			what += " on " + t
		}
		done = append(done, acked{id, what})
	}
	if len(done) == 0 {
		return fmt.Sprintf("%s is no longer firing: nothing to acknowledge.", code), nil
	}
	sort.Slice(done, func(i, j int) bool { return done[i].id < done[j].id })
	msg := fmt.Sprintf("Acknowledged %s %s", code, done[0].what)
	if len(done) > 1 {
		msg += fmt.Sprintf(" and %d more", len(done)-1)
	}
	return msg + " by " + by, nil
}
