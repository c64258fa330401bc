package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/vedetta-dc/vedetta/model"
)

// eventWords is how each event reads in a subject.
var eventWords = map[model.EventKind]string{
	model.EventFiring: "FIRING", model.EventResolved: "RESOLVED", model.EventStale: "NO DATA", model.EventFlapping: "FLAPPING",
	model.EventFlapEnd: "STOPPED FLAPPING", model.EventRepeat: "STILL FIRING", model.EventEscalated: "ESCALATED", model.EventTest: "TEST",
	model.EventAcked: "ACKNOWLEDGED",
}

func eventWord(ev model.EventKind) string {
	if w, ok := eventWords[ev]; ok {
		return w
	}
	return strings.ToUpper(string(ev))
}

// Subject is the one line a person reads first: site, event, severity,
// rule, target, summary and the short id to quote when acknowledging.
func Subject(a model.Alarm, ev model.EventKind) string {
	return fmt.Sprintf("[vedetta %s] %s %s: %s on %s: %s [%s]",
		a.Site, eventWord(ev), a.Severity, a.Rule, a.Labels["target"], a.Summary, a.ID)
}

// GroupSubject summarises several events of one group in one line:
// "FIRING critical: 40 alarms on sw1: SwitchPortDown×40", or, when the
// group holds several kinds, "FIRING 3, RESOLVED 2 critical: ...".
func GroupSubject(as []model.Alarm, evs []model.EventKind) string {
	rules := map[string]int{}
	targets := map[string]bool{}
	sev := ""
	for _, a := range as {
		rules[a.Rule]++
		targets[a.Labels["target"]] = true
		if severityRank(a.Severity) > severityRank(sev) {
			sev = a.Severity
		}
	}
	var rs []string
	for r, n := range rules {
		rs = append(rs, fmt.Sprintf("%s×%d", r, n))
	}
	sort.Strings(rs)
	var ts []string
	for t := range targets {
		ts = append(ts, t)
	}
	sort.Strings(ts)
	return fmt.Sprintf("[vedetta %s] %s %s: %d alarms on %s: %s", as[0].Site, eventsWord(evs), sev, len(as),
		strings.Join(ts, ", "), strings.Join(rs, ", "))
}

// eventsWord is "FIRING" for a group of one kind, "FIRING 3, RESOLVED 2"
// for a mix (in the order the kinds first happened).
func eventsWord(evs []model.EventKind) string {
	count := map[model.EventKind]int{}
	var kinds []model.EventKind
	for _, ev := range evs {
		if count[ev] == 0 {
			kinds = append(kinds, ev)
		}
		count[ev]++
	}
	if len(kinds) == 1 {
		return eventWord(kinds[0])
	}
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%s %d", eventWord(k), count[k])
	}
	return strings.Join(parts, ", ")
}

// GroupBody lists every event of a group, one line each in the order they
// happened, then the details.
func GroupBody(as []model.Alarm, evs []model.EventKind) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d alarms\n\n", eventsWord(evs), len(as))
	for i, a := range as {
		fmt.Fprintf(&b, "  [%s] %-8s %-8s %s on %s: %s\n", a.ID, eventWord(evs[i]), a.Severity, a.Rule, a.Labels["target"], a.Summary)
	}
	b.WriteString("\n")
	for i, a := range as {
		b.WriteString("----\n")
		b.WriteString(Body(a, evs[i]))
	}
	return b.String()
}

// Body is the plain-text message: everything needed to act without opening
// a browser.
func Body(a model.Alarm, ev model.EventKind) string {
	var b strings.Builder
	switch ev {
	case model.EventStale:
		fmt.Fprintf(&b, "NO DATA: the data behind this firing alarm stopped arriving; its real state is unknown.\n%s\n\n", a.Summary)
	case model.EventFlapping:
		fmt.Fprintf(&b, "FLAPPING: this alarm keeps changing state; further changes are muted until it settles.\n%s\n\n", a.Summary)
	case model.EventFlapEnd:
		fmt.Fprintf(&b, "STOPPED FLAPPING: the alarm has settled; it is now %s.\n%s\n\n", a.State, a.Summary)
	case model.EventEscalated:
		fmt.Fprintf(&b, "ESCALATED: still firing and nobody has acknowledged it.\n%s\n\n", a.Summary)
	case model.EventRepeat:
		fmt.Fprintf(&b, "STILL FIRING and not acknowledged: %s\n\n", a.Summary)
	default:
		fmt.Fprintf(&b, "%s: %s\n\n", eventWord(ev), a.Summary)
	}
	row := func(k, v string) { fmt.Fprintf(&b, "%-10s %s\n", k+":", v) }
	row("model.Alarm id", a.ID)
	row("Rule", a.Rule)
	row("Severity", a.Severity)
	row("Site", a.Site)
	row("Target", a.Labels["target"])
	row("Value", fmt.Sprintf("%g", a.Value))
	row("State", string(a.State))
	row("Active", fmtTime(a.ActiveAt))
	if !a.FiringAt.IsZero() {
		row("Firing", fmtTime(a.FiringAt))
	}
	if !a.ResolvedAt.IsZero() {
		row("Resolved", fmtTime(a.ResolvedAt))
		if !a.FiringAt.IsZero() {
			row("Lasted", a.ResolvedAt.Sub(a.FiringAt).Round(time.Second).String())
		}
	}
	if a.Description != "" {
		fmt.Fprintf(&b, "\n%s\n", a.Description)
	}
	if a.Runbook != "" {
		fmt.Fprintf(&b, "Runbook: %s\n", a.Runbook)
	}
	keys := make([]string, 0, len(a.Labels))
	for k := range a.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b.WriteString("\nLabels:\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "  %s=%s\n", k, a.Labels[k])
	}
	if ev != model.EventResolved && a.State == model.StateFiring {
		fmt.Fprintf(&b, "\nAcknowledge: vedetta ack %s --comment '...'\n", a.ID)
	}
	return b.String()
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05 MST")
}

// LogEvent is the log channel: every alarm event goes to stderr (the
// journal under systemd), whatever else is configured.
func LogEvent(log *slog.Logger, a model.Alarm, ev model.EventKind) {
	lvl := slog.LevelWarn
	if ev == model.EventResolved {
		lvl = slog.LevelInfo
	} else if a.Severity == "critical" {
		lvl = slog.LevelError
	}
	log.Log(context.Background(), lvl, "ALARM "+strings.ToUpper(string(ev)),
		"id", a.ID, "rule", a.Rule, "severity", a.Severity, "target", a.Labels["target"],
		"value", a.Value, "summary", a.Summary)
}
