package alerting

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"
)

// Subject is the one line a person reads first: site, event, severity,
// rule, target, summary and the short id to quote when acknowledging.
func Subject(a Alarm, ev EventKind) string {
	return fmt.Sprintf("[vedetta %s] %s %s: %s on %s: %s [%s]",
		a.Site, strings.ToUpper(string(ev)), a.Severity, a.Rule, a.Labels["target"], a.Summary, a.ID)
}

// Body is the plain-text message: everything needed to act without opening
// a browser.
func Body(a Alarm, ev EventKind) string {
	var b strings.Builder
	switch ev {
	case EventFiring:
		fmt.Fprintf(&b, "ALARM FIRING: %s\n\n", a.Summary)
	case EventResolved:
		fmt.Fprintf(&b, "RESOLVED: %s\n\n", a.Summary)
	case EventStale:
		fmt.Fprintf(&b, "NO DATA: the data behind this firing alarm stopped arriving; its real state is unknown.\n%s\n\n", a.Summary)
	}
	row := func(k, v string) { fmt.Fprintf(&b, "%-10s %s\n", k+":", v) }
	row("Alarm id", a.ID)
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
	keys := make([]string, 0, len(a.Labels))
	for k := range a.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b.WriteString("\nLabels:\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "  %s=%s\n", k, a.Labels[k])
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
func LogEvent(log *slog.Logger, a Alarm, ev EventKind) {
	lvl := slog.LevelWarn
	if ev == EventResolved {
		lvl = slog.LevelInfo
	} else if a.Severity == "critical" {
		lvl = slog.LevelError
	}
	log.Log(context.Background(), lvl, "ALARM "+strings.ToUpper(string(ev)),
		"id", a.ID, "rule", a.Rule, "severity", a.Severity, "target", a.Labels["target"],
		"value", a.Value, "summary", a.Summary)
}
