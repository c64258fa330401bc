// Package config loads vedetta's YAML configuration: strictly (unknown keys
// are errors), with ${ENV} expansion and *_file secrets, defaults applied,
// then validated; every problem names the file, the line and the field.
//
// The kind-specific part of a target (snmp:, exec:, profiles:...) is kept as a
// raw node and decoded by the collector that owns it, through Decoder, with
// the same strictness and the same error positions.
package config

import (
	_ "embed"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Defaults, then validation: every problem is collected, with its file,
// line and field.

func (c *Config) applyDefaults() {
	if c.Site == "" {
		c.Site, _ = os.Hostname()
	}
	if c.StateDir == "" {
		c.StateDir = defaultStateDir()
	} else if !filepath.IsAbs(c.StateDir) {
		c.StateDir = filepath.Join(c.Dir, c.StateDir)
	}
	if c.HTTP.Listen == "" {
		c.HTTP.Listen = "127.0.0.1:9750"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	if c.HistoryRetention == 0 {
		c.HistoryRetention = 7 * 24 * time.Hour
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = DefaultMaxConcurrent(len(c.Targets))
	}
	if c.Traps != nil && c.Traps.Listen == "" {
		c.Traps.Listen = "127.0.0.1:9162" // loopback and unprivileged unless told otherwise
	}
	for i := range c.Targets {
		t := &c.Targets[i]
		if t.Interval == 0 {
			t.Interval = 30 * time.Second
		}
		if t.Timeout == 0 {
			// A deadline shorter than the interval, so one slow round never
			// runs into the next.
			t.Timeout = min(t.Interval*4/5, time.Minute)
		}
		if t.Class == "" {
			t.Class = t.Kind
		}
	}
	for i := range c.Rules {
		if c.Rules[i].Severity == "" {
			c.Rules[i].Severity = "warning"
		}
	}
	if s := c.Notify.SMS; s != nil && s.FailoverAfter == 0 {
		s.FailoverAfter = 5 * time.Second
	}
	if v := c.Notify.Voice; v != nil && v.FailoverAfter == 0 {
		v.FailoverAfter = 5 * time.Second
	}
	if e := c.Notify.Email; e != nil {
		if e.Timeout == 0 {
			// A relay that accepts and never answers must not hold an
			// alarm long: 10 s per relay, then the next one.
			e.Timeout = 10 * time.Second
		}
		for i := range e.Relays {
			r := &e.Relays[i]
			if r.TLS == "" {
				r.TLS = "opportunistic"
			}
			if r.Port == 0 {
				switch r.TLS {
				case "tls":
					r.Port = 465
				case "starttls":
					r.Port = 587
				default:
					r.Port = 25
				}
			}
			if r.Timeout == 0 {
				r.Timeout = e.Timeout
			}
		}
	}
}

// defaultStateDir: systemd's StateDirectory= when set, /var/lib/vedetta
// for root, else the user's state folder, so that `vedetta run` works for
// anyone trying it out.
func defaultStateDir() string {
	if d := os.Getenv("STATE_DIRECTORY"); d != "" {
		return d
	}
	if os.Geteuid() == 0 {
		return "/var/lib/vedetta"
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "vedetta")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "vedetta")
	}
	return filepath.Join(os.TempDir(), "vedetta")
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:@-]*$`)

func (c *Config) validate(errs *Errors) {
	at := func(o Origin, field, format string, args ...any) {
		errs.List = append(errs.List, c.ErrAt(o, field, fmt.Sprintf(format, args...)))
	}
	top := Origin{File: c.File}
	if host, _, err := net.SplitHostPort(c.HTTP.Listen); err == nil && c.HTTP.UIAuth == "" {
		// Read-only views stay open on loopback, like the rest of the API;
		// on any other address the page asks for the login first.
		c.HTTP.UIAuth = "always"
		if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
			c.HTTP.UIAuth = "writes"
		}
	}
	if c.HTTP.UIAuth != "" && !oneOf(c.HTTP.UIAuth, "writes", "always") {
		at(top, "http.ui_auth", "want writes (a login for acks and silences) or always (for every page), got %q", c.HTTP.UIAuth)
	}
	if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
		at(top, "http.listen", "want host:port, got %q", c.HTTP.Listen)
	}
	if u := c.HTTP.ExternalURL; u != "" {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" || pu.RawQuery != "" || pu.Fragment != "" || pu.User != nil {
			at(top, "http.external_url", "want the URL others reach this listener at, like https://vedetta.dc1.example:9750, got %q", u)
		}
	}
	if !oneOf(c.Log.Level, "debug", "info", "warn", "error") {
		at(top, "log.level", "want debug, info, warn or error, got %q", c.Log.Level)
	}
	if !oneOf(c.Log.Format, "text", "json") {
		at(top, "log.format", "want text or json, got %q", c.Log.Format)
	}
	if _, err := c.MemoryLimitBytes(); err != nil {
		at(top, "memory_limit", "%v", err)
	}
	if c.MaxConcurrent < 1 {
		at(top, "max_concurrent_collections", "must be at least 1")
	}
	if c.HistoryRetention < time.Hour {
		at(top, "history_retention", "keep at least 1h of history (default 7d), got %v", c.HistoryRetention)
	}
	names := map[string]bool{}
	for _, t := range c.Targets {
		switch {
		case t.Name == "":
			at(t.Origin, "name", "every target needs a name")
		case !nameRE.MatchString(t.Name):
			at(t.Origin, "name", "%q: use letters, digits and _ . : @ -", t.Name)
		case names[t.Name]:
			at(t.Origin, "name", "target %q is defined twice", t.Name)
		}
		names[t.Name] = true
		if t.Kind == "" {
			at(t.Origin, "kind", "every target needs a kind")
		}
		if t.Interval < time.Second {
			at(t.Origin, "interval", "must be at least 1s, got %v", t.Interval)
		}
		if t.Timeout >= t.Interval {
			at(t.Origin, "timeout", "must be shorter than the interval (%v), got %v", t.Interval, t.Timeout)
		}
		for k := range t.Labels {
			if k == "target" || k == "class" || !labelRE.MatchString(k) {
				at(t.Origin, "labels."+k, "%q cannot be used as a label name", k)
			}
		}
	}
	for _, t := range c.Targets {
		for i, dep := range t.DependsOn {
			if !names[dep] {
				at(t.Origin, fmt.Sprintf("depends_on[%d]", i), "no target is named %q", dep)
			}
		}
	}
	rules := map[string]Origin{}
	for _, r := range c.Rules {
		if r.Name == "" {
			at(r.Origin, "name", "every rule needs a name")
		} else if prev, dup := rules[r.Name]; dup {
			at(r.Origin, "name", "rule %q is already defined (%s %s)", r.Name, prev.File, prev.Path)
		}
		rules[r.Name] = r.Origin
		if strings.TrimSpace(r.Expr) == "" {
			at(r.Origin, "expr", "every rule needs an expression")
		}
		if !oneOf(r.Severity, Severities...) {
			at(r.Origin, "severity", "want info, warning or critical, got %q", r.Severity)
		}
		for k := range r.Labels {
			if !labelRE.MatchString(k) {
				at(r.Origin, "labels."+k, "%q cannot be used as a label name", k)
			}
		}
	}
	if e := c.Notify.Email; e != nil {
		if _, err := mail.ParseAddress(e.From); err != nil {
			at(top, "notify.email.from", "not an e-mail address: %q", e.From)
		}
		if len(e.Relays) == 0 {
			at(top, "notify.email.relays", "list at least one SMTP relay")
		}
		for i, r := range e.Relays {
			f := fmt.Sprintf("notify.email.relays[%d]", i)
			if r.Host == "" {
				at(top, f+".host", "every relay needs a host")
			}
			if r.Port < 1 || r.Port > 65535 {
				at(top, f+".port", "must be 1-65535, got %d", r.Port)
			}
			if r.Timeout < 0 {
				at(top, f+".timeout", "must not be negative, got %s", r.Timeout)
			}
			if !oneOf(r.TLS, "starttls", "tls", "opportunistic", "none") {
				at(top, f+".tls", "want starttls, tls, opportunistic or none, got %q", r.TLS)
			}
			if r.Password != "" && r.Username == "" {
				at(top, f+".username", "a password is set but no username")
			}
		}
	}
	if s := c.Notify.SMS; s != nil {
		if s.RetryFor != nil {
			at(top, "notify.sms.retry_for", "retry_for was removed: a temporary error now moves the SMS to the next provider at once "+
				"and the provider is retried in later rounds; use failover_after (how long a provider may go without answering, default 5s)")
		}
		if s.Burst < 0 || s.Burst > 100 {
			at(top, "notify.sms.burst", "want 1-100 SMS per number at once (default 3), got %d", s.Burst)
		}
	}
	if w := c.Notify.StartDigestWindow(); w < 0 || w > time.Minute {
		// It holds critical pages too: longer would delay a real emergency.
		at(top, "notify.start_digest", "want 0 (off) to 1m (default 45s), got %v", w)
	}
	if c.Notify.Voice != nil && c.HTTP.ExternalURL == "" {
		at(top, "notify.voice", "a call takes its key (4 acknowledges) through http.external_url: set it to the URL Twilio reaches this listener at")
	}
	recv := map[string]bool{}
	for i, r := range c.Receivers {
		f := fmt.Sprintf("receivers[%d]", i)
		switch {
		case r.Name == "":
			at(top, f+".name", "every receiver needs a name")
		case recv[r.Name]:
			at(top, f+".name", "receiver %q is defined twice", r.Name)
		}
		recv[r.Name] = true
		for j, a := range r.Email {
			if _, err := mail.ParseAddress(a); err != nil {
				at(top, fmt.Sprintf("%s.email[%d]", f, j), "not an e-mail address: %q", a)
			}
		}
		if len(r.Email) > 0 && c.Notify.Email == nil {
			at(top, f+".email", "receiver %q has e-mail addresses but notify.email is not configured", r.Name)
		}
		if r.OnCall != "" && len(r.Email)+len(r.SMS)+len(r.Voice)+len(r.Webhooks) > 0 {
			at(top, f+".oncall", "receiver %q is whoever is on call on %q: its contact points are theirs, give it none of its own", r.Name, r.OnCall)
		}
		if r.OnCall == "" && r.Next != 0 {
			at(top, f+".next", "next counts people in an on-call rotation: it needs oncall: <schedule>")
		}
		if r.Next < 0 {
			at(top, f+".next", "want 0 (who is on call) or more (people after them), got %d", r.Next)
		}
	}
	for i, rt := range c.Routes {
		f := fmt.Sprintf("routes[%d]", i)
		if len(rt.Receivers) == 0 {
			at(top, f+".receivers", "a route needs at least one receiver")
		}
		for j, name := range rt.Receivers {
			if !recv[name] {
				at(top, fmt.Sprintf("%s.receivers[%d]", f, j), "no receiver is named %q", name)
			}
		}
		for j, ch := range rt.Channels {
			if !oneOf(ch, Channels...) {
				at(top, fmt.Sprintf("%s.channels[%d]", f, j), "unknown channel %q (known: %s)", ch, strings.Join(Channels, ", "))
			}
		}
	}
	c.checkReceivers(errs)
}

var labelRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

func oneOf(s string, set ...string) bool {
	for _, x := range set {
		if s == x {
			return true
		}
	}
	return false
}

// checkReceivers: a receiver's SMS numbers need notify.sms, its webhooks
// must exist, escalation receivers must exist.
func (cfg *Config) checkReceivers(errs *Errors) {
	at := func(field, msg string) { errs.List = append(errs.List, cfg.ErrAt(Origin{File: cfg.File}, field, msg)) }
	hooks := map[string]bool{}
	for _, w := range cfg.Notify.Webhooks {
		hooks[w.Name] = true
	}
	recv := map[string]bool{}
	for i, r := range cfg.Receivers {
		recv[r.Name] = true
		if len(r.SMS) > 0 && cfg.Notify.SMS == nil {
			at(fmt.Sprintf("receivers[%d].sms", i), fmt.Sprintf("receiver %q has SMS numbers but notify.sms is not configured", r.Name))
		}
		for j, n := range r.SMS {
			if !e164.MatchString(n) {
				at(fmt.Sprintf("receivers[%d].sms[%d]", i, j), fmt.Sprintf("%q is not an international number like +393331234567", n))
			}
		}
		if len(r.Voice) > 0 && cfg.Notify.Voice == nil {
			at(fmt.Sprintf("receivers[%d].voice", i), fmt.Sprintf("receiver %q has voice numbers but notify.voice is not configured", r.Name))
		}
		for j, n := range r.Voice {
			if !e164.MatchString(n) {
				at(fmt.Sprintf("receivers[%d].voice[%d]", i, j), fmt.Sprintf("%q is not an international number like +393331234567", n))
			}
		}
		for j, h := range r.Webhooks {
			if !hooks[h] {
				at(fmt.Sprintf("receivers[%d].webhooks[%d]", i, j), fmt.Sprintf("no webhook named %q in notify.webhooks", h))
			}
		}
	}
	for i, rt := range cfg.Routes {
		for j, e := range rt.Escalate {
			if e.After <= 0 {
				at(fmt.Sprintf("routes[%d].escalate[%d].after", i, j), "give how long to wait, e.g. 10m")
			}
			for k, name := range e.Receivers {
				if !recv[name] {
					at(fmt.Sprintf("routes[%d].escalate[%d].receivers[%d]", i, j, k), fmt.Sprintf("no receiver is named %q", name))
				}
			}
		}
		if len(rt.GroupBy) > 0 && rt.GroupWait == 0 {
			at(fmt.Sprintf("routes[%d].group_wait", i), "group_by needs a group_wait (e.g. 5s) to collect the group")
		}
	}
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
