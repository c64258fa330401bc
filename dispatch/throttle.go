package dispatch

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vedetta-dc/vedetta/model"
)

// The SMS throttle: a token bucket per number that protects phones and
// carriers without holding a new incident. Each number has `burst` tokens
// (3), one more every `min_interval` (1 min). An SMS spends one. When the
// bucket is empty, the FIRING of a new critical alarm (or its escalation
// to a new person) still goes at once, overdrawing the bucket by at most
// `burst` more; repeats, lower severities and resolves wait for a token and
// then go together as one digest ("... (+12 more, see e-mail)"). Nothing is
// dropped: what waits goes with the next SMS to that number.
//
// Designed for: Twilio's long codes sending about 1 SMS per second each
// (a burst is well within it); carriers that filter a handset flooded by
// one sender (US 10DLC, Italian operators' anti-spam), which a sustained
// rate of one a minute stays clear of; and GoAlert's per-contact limits
// (1/min, 5 per 15 min, 11/h) as the reference of what on-call people
// accept. A storm gives a number at most 2×burst SMS at once (6), then one
// per min_interval, each a digest of what piled up.

// smsBucket is one number's tokens at a moment.
type smsBucket struct {
	Tokens float64
	At     time.Time
}

// smsLimits are the bucket's size and refill.
type smsLimits struct {
	Burst int           // tokens when full; also how far a new critical incident may overdraw
	Every time.Duration // one token back per Every (min_interval)
}

// refill brings b to now.
func (l smsLimits) refill(b smsBucket, now time.Time) smsBucket {
	if b.At.IsZero() {
		return smsBucket{Tokens: float64(l.Burst), At: now}
	}
	if now.After(b.At) && l.Every > 0 {
		b.Tokens = min(float64(l.Burst), b.Tokens+float64(now.Sub(b.At))/float64(l.Every))
	}
	if now.After(b.At) {
		b.At = now
	}
	return b
}

// spend takes one token (possibly overdrawing) at now.
func (l smsLimits) spend(b smsBucket, now time.Time) smsBucket {
	b = l.refill(b, now)
	b.Tokens--
	return b
}

// smsCand is one ready SMS to a number, as the throttle sees it.
type smsCand struct {
	Urgent    bool // the FIRING (or escalation) of a new critical alarm
	Reclaimed bool // taken back after its lease ran out: it spent its token when first claimed
}

// urgent reports whether a delivery is news that must not wait: a critical
// alarm's FIRING, or its escalation to new people (a group counts when one
// of its alarms fires).
func urgent(x Delivery) bool {
	if x.Severity != "critical" {
		return false
	}
	news := func(e model.EventKind) bool { return e == model.EventFiring || e == model.EventEscalated }
	return news(x.Event) || slices.ContainsFunc(x.Events, news)
}

// planSMS decides which of one number's ready SMS go now, given its bucket
// (pure: time is injected). Each returned send lists indexes into ready:
// the first is the SMS that goes, the others ride in it as its digest.
// Indexes in no send wait for a token. The bucket returned has paid for
// every send.
//
//   - A reclaimed SMS goes alone and spends nothing.
//   - While a token is left, SMS go one each, in order.
//   - Without a token, an urgent one still goes while the bucket is not
//     overdrawn by Burst; others wait.
//   - The last SMS that can be paid for carries everything still waiting:
//     folded, never dropped.
func planSMS(b smsBucket, ready []smsCand, now time.Time, l smsLimits) ([][]int, smsBucket) {
	b = l.refill(b, now)
	var sends [][]int
	var left []int
	for i, c := range ready {
		if c.Reclaimed {
			sends = append(sends, []int{i})
			continue
		}
		left = append(left, i)
	}
	floor := 1 - float64(l.Burst) // an urgent SMS may bring the bucket down to -Burst
	affordable := func(rest []int) int {
		switch {
		case len(rest) == 0:
			return -1
		case b.Tokens >= 1:
			return 0
		case b.Tokens >= floor:
			for k, i := range rest {
				if ready[i].Urgent {
					return k
				}
			}
		}
		return -1
	}
	for {
		k := affordable(left)
		if k < 0 {
			break
		}
		b = l.spend(b, now)
		carrier := left[k]
		left = slices.Delete(slices.Clone(left), k, k+1)
		if affordable(left) < 0 {
			// Nothing more can be paid for now: this one carries the rest.
			sends = append(sends, append([]int{carrier}, left...))
			left = nil
			break
		}
		sends = append(sends, []int{carrier})
	}
	return sends, b
}

// throttleSMS applies the per-number buckets to the ready deliveries (in
// Seq order); what goes is returned, SMS that carry others with DigestOf
// set. It does not spend: spendSMS does, for what was claimed.
func (d *Dispatcher) throttleSMS(ready []Delivery, now time.Time) []Delivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Delivery
	byNumber := map[string][]int{}
	var numbers []string
	for i := range ready {
		x := &ready[i]
		x.Subject, x.DigestOf = stripDigest(x.Subject), nil
		if x.Channel != "sms" {
			continue
		}
		if _, ok := byNumber[x.Recipient]; !ok {
			numbers = append(numbers, x.Recipient)
		}
		byNumber[x.Recipient] = append(byNumber[x.Recipient], i)
	}
	goes := map[int][]int{} // index of a carrier → indexes of its digest
	for _, n := range numbers {
		idx := byNumber[n]
		cands := make([]smsCand, len(idx))
		for k, i := range idx {
			cands[k] = smsCand{Urgent: urgent(ready[i]), Reclaimed: ready[i].reclaimed()}
		}
		sends, _ := planSMS(d.buckets[n], cands, now, d.smsLimits)
		for _, s := range sends {
			var digest []int
			for _, k := range s[1:] {
				digest = append(digest, idx[k])
			}
			goes[idx[s[0]]] = digest
		}
	}
	for i, x := range ready {
		if x.Channel != "sms" {
			out = append(out, x)
			continue
		}
		digest, ok := goes[i]
		if !ok {
			continue
		}
		for _, j := range digest {
			x.DigestOf = append(x.DigestOf, ready[j].Key)
		}
		if n := len(x.DigestOf); n > 0 {
			x.Subject = fmt.Sprintf("%s"+digestMark, x.Subject, n)
		}
		out = append(out, x)
	}
	return out
}

// spendSMS pays for the SMS just claimed (a reclaimed one has paid).
func (d *Dispatcher) spendSMS(claimed []Delivery, wasSending map[string]bool, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, x := range claimed {
		if x.Channel == "sms" && !wasSending[x.Key] {
			d.buckets[x.Recipient] = d.smsLimits.spend(d.buckets[x.Recipient], now)
			d.spent[x.Key] = true
		}
	}
}

// refundSMS gives back the token of an SMS that was not sent (every
// provider failed; it will be tried again): a failing channel must not
// use up the bucket of the message waiting on it.
func (d *Dispatcher) refundSMS(x Delivery) {
	d.mu.Lock()
	defer d.mu.Unlock()
	b := d.smsLimits.refill(d.buckets[x.Recipient], d.now())
	b.Tokens = min(float64(d.smsLimits.Burst), b.Tokens+1)
	d.buckets[x.Recipient] = b
}

// replaySMS rebuilds the buckets from when each number got its SMS
// (sorted), at start.
func (l smsLimits) replaySMS(sent map[string][]time.Time) map[string]smsBucket {
	out := map[string]smsBucket{}
	for n, ts := range sent {
		slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
		var b smsBucket
		for _, t := range ts {
			b = l.spend(b, t)
		}
		out[n] = b
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
