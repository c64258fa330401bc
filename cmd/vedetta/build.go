package main

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/vedetta-dc/vedetta/cluster"
	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/collectors/snmp"
	"github.com/vedetta-dc/vedetta/dispatch"
	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/model"
	"github.com/vedetta-dc/vedetta/notify"
	"github.com/vedetta-dc/vedetta/oncall"
	"github.com/vedetta-dc/vedetta/redundancy"
	"github.com/vedetta-dc/vedetta/rules"
)

// parts is everything built from one config, before anything runs.
type parts struct {
	targets   []collectors.Target
	rules     []*rules.Rule
	channels  map[string]notify.Notifier
	intervals map[string]time.Duration
	// cluster is the parsed cluster block (nil: a single node); shared
	// lists the targets members share out, with their zones.
	cluster *cluster.Config
	shared  map[string]string
	// snmp is the snmp kind of this build: its implausible-values counter
	// goes on the daemon's registry when the generation starts.
	snmp *snmp.Kind
	// schedules are the on-call rotations (`vedetta oncall`, /api/v1/oncall).
	schedules oncall.Schedules
	// names is what the rules read against what collectors emit
	// (metricnames.go): its errors are in build's, its warnings are not.
	names metricCheck
}

// build turns a loaded config into collectors, compiled rules and
// notifiers, collecting every problem (for `vedetta check` and reloads).
func build(cfg *config.Config, log *slog.Logger) (*parts, []error) {
	p := &parts{channels: map[string]notify.Notifier{}, intervals: map[string]time.Duration{}, shared: map[string]string{}}
	var errs []error
	if cfg.Cluster != nil {
		cc, err := cluster.ParseConfig(cfg.Block(cfg.Cluster, "cluster"), cfg.StateDir, cfg.Dir)
		if err != nil {
			errs = append(errs, cfg.Place(config.Origin{File: cfg.File}, "cluster", err)...)
		}
		p.cluster = cc
	}
	// The SNMP profiles are a value of this build: the targets below hold
	// them, and nothing outside p changes, so a refused reload leaves the
	// running generation exactly as it was.
	profiles, err := snmp.ConfigProfiles(cfg)
	inFiles, other := snmp.SplitProfileErrors(err) // a profile's problems name its own file and line
	errs = append(errs, inFiles...)
	for _, e := range other {
		errs = append(errs, cfg.ErrAt(config.Origin{File: cfg.File}, "profile_dirs", e.Error()))
	}
	reg, sk := newKindsWithSNMP(profiles)
	p.snmp = sk
	if cfg.Traps != nil {
		if err := snmp.ValidateTraps(cfg.Traps); err != nil {
			errs = append(errs, cfg.Place(config.Origin{File: cfg.File}, "traps", err)...)
		}
	}
	for _, t := range cfg.Targets {
		if p.cluster != nil {
			// Every member reads its own machine; remote devices are
			// shared out.
			if localKinds[t.Kind] {
				t.Name = clusterName(t.Name, p.cluster.Node)
			} else {
				p.shared[t.Name] = t.Zone
			}
		}
		ct, err := newTarget(reg, cfg, t, log)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.targets = append(p.targets, ct)
		p.intervals[t.Name] = t.Interval
	}
	p.intervals[selfTarget] = 10 * time.Minute
	if p.cluster != nil {
		p.intervals[clusterName(selfTarget, p.cluster.Node)] = 10 * time.Minute
		p.intervals[model.ClusterTarget] = 2 * time.Second // written every 2 s by the dispatcher
	}
	rules, rerrs := rules.CompileRules(cfg)
	p.rules = rules
	errs = append(errs, rerrs...)
	p.names = checkMetricNames(cfg, p.targets, newCatalogue(sk))
	errs = append(errs, p.names.errs...)
	for _, w := range p.names.warnings {
		log.Warn("a rule reads a metric no collector is known to emit", "problem", w.Error())
	}
	groups, gerrs := redundancy.Compile(cfg) // redundancy groups are rules too
	p.rules = append(p.rules, groups...)
	errs = append(errs, gerrs...)
	chans, cerrs := buildChannels(cfg, newSMSKinds(), log)
	p.channels = chans
	errs = append(errs, cerrs...)
	var serrs []error
	p.schedules, serrs = checkSchedules(cfg)
	errs = append(errs, serrs...)
	for i, s := range cfg.Silences {
		if _, err := dispatch.ParseSchedule(s.Schedule, nil); err != nil {
			errs = append(errs, cfg.ErrAt(config.Origin{File: cfg.File}, fmt.Sprintf("silences[%d].schedule", i), err.Error()))
		}
		ms := dispatch.Equal(s.Match)
		for j, x := range s.Matchers {
			m, err := dispatch.ParseMatcher(x)
			if err != nil {
				errs = append(errs, cfg.ErrAt(config.Origin{File: cfg.File}, fmt.Sprintf("silences[%d].matchers[%d]", i, j), err.Error()))
			}
			ms = append(ms, m)
		}
		if len(ms) == 0 {
			errs = append(errs, cfg.ErrAt(config.Origin{File: cfg.File}, fmt.Sprintf("silences[%d].match", i), "a silence needs at least one match label or matcher"))
		}
	}
	return p, errs
}

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
		field := ""
		if reg.Kinds() != nil && !hasKind(reg, t.Kind) {
			field = "kind"
		}
		// The collector names the field (config.Problem); the config
		// knows where it is.
		return collectors.Target{}, errors.Join(cfg.Place(t.Origin, field, err)...)
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

// checkSchedules checks the on-call schedules (package oncall owns the
// block) against the receivers: the people of a rotation are receivers
// with contact points, and a receiver's oncall: names a schedule.
func checkSchedules(cfg *config.Config) (oncall.Schedules, []error) {
	person := map[string]bool{}
	for _, r := range cfg.Receivers {
		person[r.Name] = r.OnCall == ""
	}
	var errs []error
	sched, err := oncall.Parse(cfg.Block(cfg.Schedules, "schedules"), func(n string) bool { return person[n] })
	if err != nil {
		errs = append(errs, cfg.Place(config.Origin{File: cfg.File}, "schedules", err)...)
	}
	for i, r := range cfg.Receivers {
		if r.OnCall != "" && sched[r.OnCall] == nil && err == nil {
			errs = append(errs, cfg.ErrAt(config.Origin{File: cfg.File}, fmt.Sprintf("receivers[%d].oncall", i),
				fmt.Sprintf("no schedule is named %q in schedules", r.OnCall)))
		}
	}
	return sched, errs
}
