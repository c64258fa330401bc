package dispatch

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/vedetta-dc/vedetta/model"

	"github.com/vedetta-dc/vedetta/internal/store"
)

// The start digest. A first start on a room with standing problems finds
// them all within a round or two of collection: told one by one, that is
// a page per problem (166 e-mails in a minute for four devices). For a
// short window after the process starts (notify.start_digest, 45s by
// default, at most a minute) every notification is held in one group,
// the digest, and goes out as one message per receiver and channel
// listing everything. It goes at the window's end, or later while an
// alarm whose condition was already true in the window is still pending
// (its rule's for: runs): a standing problem, which joins the digest when
// it fires; at the latest DigestGrace after the window.
//
// Nothing about an alarm changes but the timing of its first message: it
// is recorded as told (its notice) when it joins the digest, exactly as
// when sent alone, so its RESOLVED, acks, repeats and escalation follow
// as usual; the digest lives in the store like any group (a crash during
// the window loses nothing: the next process sends it at its end).
//
// Within the window everything waits, power events and critical alarms
// too: the wait is bounded and a person gets the whole picture at once
// instead of the first page of many. After the window, a problem that is
// new (its condition became true after the window) goes at once, even
// while the digest still waits for standing ones. A restart does not re-send what was
// told before it (restored alarms are not new), a reload does not open a
// window (the end is counted from the process's start), and in a cluster
// neither does a takeover: the window is the dispatcher's own process
// start, and a member taking office later has none. In a cluster the
// dispatcher hears of changes with news only (PersistInbox keeps pending
// states to the members), so its digest goes at the window's end
// without waiting for pending problems.

// digestKey is the start digest's group: one per state, whatever the
// routes (a crash leaves at most one behind, which the next process
// fills and sends at the end the first one chose).
const digestKey = "start-digest"

// MaxStartDigest bounds the window: it holds critical pages too.
const MaxStartDigest = time.Minute

// DigestGrace is how much longer than its window the digest may wait for
// the problems standing at the start: an alarm whose condition was
// already true in the window (pending: its rule's for: is running) is a
// standing problem too, and most shipped rules wait 30s to 2m. The digest
// goes when none is pending any more (each fired, joining the digest, or
// cleared), at the latest DigestGrace after the window.
const DigestGrace = 2 * time.Minute

// noteStanding keeps the set of alarms pending since before the window's
// end; memory follows the transaction.
func (d *Dispatcher) noteStanding(tx store.Tx, a model.Alarm) {
	if d.DigestUntil.IsZero() || !d.now().Before(d.DigestUntil.Add(DigestGrace)) {
		return
	}
	standing := a.State == model.StatePending && a.ActiveAt.Before(d.DigestUntil)
	tx.OnCommit(func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if standing {
			d.standing[a.ID] = true
		} else {
			delete(d.standing, a.ID)
		}
	})
}

// StartDigestEnd is when the start digest of a process started at start
// with window w ends (zero: no digest).
func StartDigestEnd(start time.Time, w time.Duration) time.Time {
	if w <= 0 {
		return time.Time{}
	}
	return start.Add(min(w, MaxStartDigest))
}

// digestRef is the id people quote for a digest (an SMS reply acks what
// it lists): one per start, so that a reply never reaches the alarms of
// an earlier start's digest.
func digestRef(until time.Time) string {
	return groupRef(digestKey + "@" + until.UTC().Format(time.RFC3339Nano))
}

// dropStanding forgets an alarm the engine dropped (a pending alarm
// whose condition cleared: inactive alarms are not kept).
func (d *Dispatcher) dropStanding(tx store.Tx, id string) {
	if d.DigestUntil.IsZero() {
		return
	}
	tx.OnCommit(func() {
		d.mu.Lock()
		delete(d.standing, id)
		d.mu.Unlock()
	})
}

// inDigest says whether an event of a at now goes into the start digest
// (caller holds d.mu):
// in the window, everything; after it, while the digest still waits for
// the standing problems, the events of alarms whose condition was true
// in the window. A test message goes at once: its point is to show the
// channel works.
func (d *Dispatcher) inDigest(tx store.Tx, a model.Alarm, ev model.EventKind, now time.Time) bool {
	switch {
	case ev == model.EventTest || d.DigestUntil.IsZero():
		return false
	case now.Before(d.DigestUntil):
		return true
	}
	// Open while it holds something or waits for a standing problem (the
	// one firing now is still in the set: memory follows the commit).
	open := tx.Get(store.Groups, digestKey) != nil || len(d.standing) > 0
	return open && !a.ActiveAt.IsZero() && a.ActiveAt.Before(d.DigestUntil) && now.Before(d.DigestUntil.Add(DigestGrace))
}

// DigestSubject is the digest's one line: what the people reading it
// should know first, the count by severity, the targets and the rules.
// "[vedetta dc1] STARTED with 12 alarms (critical 2, warning 10) on sw1,
// ups-a: SwitchPortDown×9, ..."
func DigestSubject(as []model.Alarm, evs []model.EventKind) string {
	sev := map[string]int{}
	rules := map[string]int{}
	targets := map[string]bool{}
	for _, a := range as {
		sev[a.Severity]++
		rules[a.Rule]++
		targets[a.Labels["target"]] = true
	}
	var ss []string
	for _, s := range []string{"critical", "warning", "info"} {
		if sev[s] > 0 {
			ss = append(ss, fmt.Sprintf("%s %d", s, sev[s]))
			delete(sev, s)
		}
	}
	var other []string
	for s, n := range sev {
		other = append(other, fmt.Sprintf("%s %d", s, n))
	}
	sort.Strings(other)
	ss = append(ss, other...)
	rs := make([]string, 0, len(rules))
	for r, n := range rules {
		rs = append(rs, fmt.Sprintf("%s×%d", r, n))
	}
	sort.Strings(rs)
	ts := make([]string, 0, len(targets))
	for t := range targets {
		ts = append(ts, t)
	}
	sort.Strings(ts)
	return fmt.Sprintf("[vedetta %s] STARTED, %s: %d alarms (%s) on %s: %s", as[0].Site, eventsWord(evs), len(as),
		strings.Join(ss, ", "), strings.Join(ts, ", "), strings.Join(rs, ", "))
}

// DigestBody lists every alarm of the digest, worst first, one line
// each, then the details of each.
func DigestBody(as []model.Alarm, evs []model.EventKind, from time.Time) string {
	idx := make([]int, len(as))
	for i := range idx {
		idx[i] = i
	}
	// Worst first; within a severity in the order they happened.
	sort.SliceStable(idx, func(i, j int) bool {
		return severityRank(as[idx[i]].Severity) > severityRank(as[idx[j]].Severity)
	})
	var b strings.Builder
	fmt.Fprintf(&b, "vedetta started: the problems standing at its start, %d notifications since %s, are sent together, "+
		"one message instead of one each. Each alarm is notified as usual from now on (RESOLVED, repeats, escalation); "+
		"acknowledge each by its id.\n\n", len(as), fmtTime(from))
	for _, i := range idx {
		a := as[i]
		fmt.Fprintf(&b, "  [%s] %-8s %-8s %s on %s: %s\n", a.ID, eventWord(evs[i]), a.Severity, a.Rule, a.Labels["target"], a.Summary)
	}
	b.WriteString("\n")
	for _, i := range idx {
		b.WriteString("----\n")
		b.WriteString(Body(as[i], evs[i]))
	}
	return b.String()
}
