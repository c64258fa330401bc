package dispatch

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/vedetta-dc/vedetta/model"
)

// The start digest. A first start on a room with standing problems finds
// them all within a round or two of collection: told one by one, that is
// a page per problem (166 e-mails in a minute for four devices). For a
// short window after the process starts (notify.start_digest, 45s by
// default, at most a minute) every notification is held in one group,
// the digest, and goes out at the window's end as one message per
// receiver and channel listing everything.
//
// Nothing about an alarm changes but the timing of its first message: it
// is recorded as told (its notice) when it joins the digest, exactly as
// when sent alone, so its RESOLVED, acks, repeats and escalation follow
// as usual; the digest lives in the store like any group (a crash during
// the window loses nothing: the next process sends it at its end).
//
// Within the window everything waits, power events and critical alarms
// too: the window is short and a person gets the whole picture at once
// instead of the first page of many. A restart does not re-send what was
// told before it (restored alarms are not new), a reload does not open a
// window (the end is counted from the process's start), and in a cluster
// neither does a takeover: the window is the dispatcher's own process
// start, and a member taking office later has none.

// digestKey is the start digest's group: one per state, whatever the
// routes (a crash leaves at most one behind, which the next process
// fills and sends at the end the first one chose).
const digestKey = "start-digest"

// MaxStartDigest bounds the window: it holds critical pages too.
const MaxStartDigest = time.Minute

// StartDigestEnd is when the start digest of a process started at start
// with window w ends (zero: no digest).
func StartDigestEnd(start time.Time, w time.Duration) time.Time {
	if w <= 0 {
		return time.Time{}
	}
	return start.Add(min(w, MaxStartDigest))
}

// inDigest says whether an event at now goes into the start digest. A
// test message goes at once: its point is to show the channel works.
func (d *Dispatcher) inDigest(ev model.EventKind, now time.Time) bool {
	return ev != model.EventTest && now.Before(d.DigestUntil)
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
func DigestBody(as []model.Alarm, evs []model.EventKind, from, until time.Time) string {
	idx := make([]int, len(as))
	for i := range idx {
		idx[i] = i
	}
	// Worst first; within a severity in the order they happened.
	sort.SliceStable(idx, func(i, j int) bool {
		return severityRank(as[idx[i]].Severity) > severityRank(as[idx[j]].Severity)
	})
	var b strings.Builder
	fmt.Fprintf(&b, "vedetta started; these %d notifications came in its first %s (from %s) and are sent together, "+
		"one message instead of one each. Each alarm is notified as usual from now on (RESOLVED, repeats, escalation); "+
		"acknowledge each by its id.\n\n", len(as), until.Sub(from).Round(time.Second), fmtTime(from))
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
