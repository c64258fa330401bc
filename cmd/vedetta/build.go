package main

import (
	"errors"
	"log/slog"
	"regexp"
	"time"

	"github.com/vedetta-dc/vedetta/alerting"
	"github.com/vedetta-dc/vedetta/alerting/notify"
	"github.com/vedetta-dc/vedetta/alerting/notify/email"
	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/internal/config"
)

// parts is everything built from one config, before anything runs.
type parts struct {
	targets   []collectors.Target
	rules     []*alerting.Rule
	channels  map[string]notify.Notifier
	intervals map[string]time.Duration
}

// build turns a loaded config into collectors, compiled rules and
// notifiers, collecting every problem (for `vedetta check` and reloads).
func build(cfg *config.Config, log *slog.Logger) (*parts, []error) {
	p := &parts{channels: map[string]notify.Notifier{}, intervals: map[string]time.Duration{}}
	var errs []error
	reg := newRegistry()
	for _, t := range cfg.Targets {
		ct, err := newTarget(reg, cfg, t, log)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.targets = append(p.targets, ct)
		p.intervals[t.Name] = t.Interval
	}
	rules, rerrs := alerting.CompileRules(cfg)
	p.rules = rules
	errs = append(errs, rerrs...)
	if cfg.Notify.Email != nil {
		n, err := email.New(cfg.Notify.Email, cfg.Dir, log.With("channel", "email"))
		if err != nil {
			errs = append(errs, config.FieldError{File: cfg.File, Line: cfg.Line(cfg.File, "notify.email"), Field: "notify.email", Msg: err.Error()})
		} else {
			p.channels["email"] = n
		}
	}
	return p, errs
}

// fieldPrefix finds "exec.command: ..." in a factory's error, so the error
// can point at that field's line.
var fieldPrefix = regexp.MustCompile(`^([a-z_]+(?:\.[a-z_0-9\[\]]+)*): (.*)$`)

func newTarget(reg *collectors.Registry, cfg *config.Config, t config.Target, log *slog.Logger) (collectors.Target, error) {
	spec := collectors.Spec{
		Name: t.Name, Kind: t.Kind, Class: t.Class, Interval: t.Interval, Timeout: t.Timeout,
		Labels: t.Labels, BaseDir: cfg.Dir, Logger: log.With("target", t.Name, "kind", t.Kind),
	}
	c, err := reg.New(spec, cfg.Decoder(t))
	if err != nil {
		var ce *config.Errors
		if errors.As(err, &ce) {
			return collectors.Target{}, err // already names file, line and field
		}
		if m := fieldPrefix.FindStringSubmatch(err.Error()); m != nil {
			return collectors.Target{}, cfg.ErrAt(t.Origin, m[1], m[2])
		}
		field := ""
		if reg.Kinds() != nil && !hasKind(reg, t.Kind) {
			field = "kind"
		}
		return collectors.Target{}, cfg.ErrAt(t.Origin, field, err.Error())
	}
	return collectors.Target{Spec: spec, Collector: c}, nil
}

func hasKind(reg *collectors.Registry, k string) bool {
	for _, x := range reg.Kinds() {
		if x == k {
			return true
		}
	}
	return false
}
