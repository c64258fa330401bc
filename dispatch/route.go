package dispatch

import (
	"time"

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/model"
	"github.com/vedetta-dc/vedetta/oncall"
)

// Recipient is one address on one channel of one receiver.
type Recipient struct {
	Receiver string `json:"receiver"`
	Channel  string `json:"channel"`
	Address  string `json:"address"`
	// Route is the route the recipient was reached through: the later
	// events of an episode (RESOLVED, NO DATA, reminders) take the same
	// route, with its grouping, so that they stay in order behind the
	// FIRING.
	Route int `json:"route"`
}

// routed is a recipient reached through a route (whose grouping, repeat
// and escalation then apply).
type routed struct {
	route int
	Recipient
}

// matches reports whether every key of m equals the alarm's label (with
// severity and rule as pseudo-labels).
func matches(m map[string]string, a model.Alarm) bool {
	for k, v := range m {
		if labelOf(a, k) != v {
			return false
		}
	}
	return true
}

// labelOf is the alarm's label k, severity and rule (or alertname)
// included.
func labelOf(a model.Alarm, k string) string {
	switch k {
	case "severity":
		return a.Severity
	case "rule", "alertname":
		return a.Rule
	}
	return a.Labels[k]
}

// routesFor returns the indexes of the routes an alarm takes: the first
// match, and the following ones while routes say continue.
func routesFor(routes []config.Route, a model.Alarm) []int {
	var out []int
	for i, rt := range routes {
		if !matches(rt.Match, a) {
			continue
		}
		out = append(out, i)
		if !rt.Continue {
			break
		}
	}
	return out
}

// CallsFor reports whether an event is worth a phone call: what needs
// someone now (firing, its reminders and escalations, a test). A call
// saying "resolved" or "acknowledged" would wake people for nothing; those
// go by the receiver's other channels.
func CallsFor(ev model.EventKind) bool {
	switch ev {
	case model.EventFiring, model.EventFlapping, model.EventRepeat, model.EventEscalated, model.EventTest:
		return true
	}
	return false
}

// expand turns receivers into recipients on the route's channels (all of
// the receiver's channels when the route names none), skipping channels
// that are not configured. A receiver with `oncall:` is whoever the
// schedule has on call at now, reached on their own contact points under
// their own name (so the ledger says who was told).
func expand(receivers map[string]config.Receiver, sched oncall.Schedules, now time.Time, names, channels []string, configured func(string) bool, route int) []routed {
	want := func(ch string) bool {
		if !configured(ch) {
			return false
		}
		if len(channels) == 0 {
			return true
		}
		for _, c := range channels {
			if c == ch {
				return true
			}
		}
		return false
	}
	var out []routed
	seen := map[Recipient]bool{}
	add := func(r Recipient) {
		if !seen[r] {
			seen[r] = true
			out = append(out, routed{route, r})
		}
	}
	for _, name := range names {
		rc := receivers[name]
		if rc.OnCall != "" {
			if who, ok := sched.Who(rc.OnCall, rc.Next, now); ok {
				name, rc = who, receivers[who]
			}
		}
		if want("sms") {
			for _, n := range rc.SMS {
				add(Recipient{Receiver: name, Channel: "sms", Address: n, Route: route})
			}
		}
		if want("voice") {
			for _, n := range rc.Voice {
				add(Recipient{Receiver: name, Channel: "voice", Address: n, Route: route})
			}
		}
		if want("email") {
			for _, a := range rc.Email {
				add(Recipient{Receiver: name, Channel: "email", Address: a, Route: route})
			}
		}
		if want("webhook") {
			for _, w := range rc.Webhooks {
				add(Recipient{Receiver: name, Channel: "webhook", Address: w, Route: route})
			}
		}
	}
	return out
}
