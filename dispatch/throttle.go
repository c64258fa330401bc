package dispatch

import (
	"fmt"
	"strings"
	"time"
)

// The SMS throttle: at most one SMS per number per min_interval, the rest
// as a digest, never dropped.

// throttleSMS keeps at most one SMS per number per smsGap: the first ready
// one carries the others as a digest.
func (d *Dispatcher) throttleSMS(ready []Delivery, now time.Time) []Delivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Delivery
	first := map[string]int{}
	for _, x := range ready {
		x.Subject, x.DigestOf = stripDigest(x.Subject), nil
		if x.Channel != "sms" {
			out = append(out, x)
			continue
		}
		if now.Sub(d.lastSMS[x.Recipient]) < d.smsGap && x.State == DeliveryPending {
			continue // its turn comes when the gap has passed
		}
		if i, ok := first[x.Recipient]; ok {
			out[i].DigestOf = append(out[i].DigestOf, x.Key)
			continue
		}
		first[x.Recipient] = len(out)
		out = append(out, x)
	}
	for i := range out {
		if n := len(out[i].DigestOf); n > 0 {
			out[i].Subject = fmt.Sprintf("%s"+digestMark, out[i].Subject, n)
		}
	}
	return out
}

const digestMark = " (+%d more, see e-mail)"

// stripDigest removes a digest mark from a subject (a retried digest is
// built again from what is ready then).
func stripDigest(s string) string {
	if i := strings.LastIndex(s, " (+"); i >= 0 && strings.HasSuffix(s, " more, see e-mail)") {
		return s[:i]
	}
	return s
}
