package dispatch

import (
	"errors"
	"fmt"
)

// AckByCall acknowledges the alarms of the call with ref (the delivery's
// Ref: an alarm's or a group's id) placed to number, on behalf of by: "4"
// pressed on it. Only a call vedetta placed to that number counts, found in
// the ledger as AckByReply finds an SMS; it reports how many alarms were
// acknowledged (0: none was still firing).
func AckByCall(l ReplyLedger, number, ref, by string) (int, error) {
	ds, err := l.Deliveries("")
	if err != nil {
		return 0, err
	}
	seen := map[string]bool{}
	found := false
	n := 0
	for _, x := range ds {
		if x.Channel != "voice" || x.Recipient != number || x.Ref != ref {
			continue
		}
		found = true
		for _, id := range x.AlarmIDs {
			if seen[id] {
				continue
			}
			seen[id] = true
			switch _, err := l.Ack(id, by, "by phone call to "+number, 0); {
			case errors.Is(err, ErrNoAlarm):
				// resolved meanwhile
			case err != nil:
				return n, err
			default:
				n++
			}
		}
	}
	if !found {
		return 0, fmt.Errorf("no call about %s was placed to %s", ref, number)
	}
	return n, nil
}
