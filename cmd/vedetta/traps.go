package main

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/collectors/snmp"
	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/model"
)

// startTraps starts the SNMP trap listener when cfg.Traps is set. Its
// metrics go on reg (the registry /metrics serves); ingest feeds
// trap-derived samples to the rules engine; trigger asks the scheduler for
// an immediate poll of a target. The listener stops when ctx ends; the
// returned wait blocks until it has.
func startTraps(ctx context.Context, cfg *config.Config, reg prometheus.Registerer, ingest func(model.Batch), trigger func(target string) bool, log *slog.Logger) (wait func(), err error) {
	if cfg.Traps == nil {
		return func() {}, nil
	}
	hosts, label := trapTargets(cfg)
	withLabels := func(b model.Batch) {
		label(b)
		ingest(b)
	}
	r, err := snmp.NewTrapReceiver(cfg.Traps, hosts, withLabels, trigger, reg, log)
	if err != nil {
		return nil, err
	}
	log.Info("SNMP trap listener started", "listen", r.Addr(), "targets", len(hosts))
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx)
	}()
	return func() { <-done }, nil
}

// trapTargets maps the SNMP targets' snmp.address hosts to their names (a
// trap is attributed to the target whose host is the sender) and returns
// the labeller of trap batches: it gives every sample its target's labels
// the way the scheduler does (collectors.TargetLabels.Label: target, class
// and labels:), or target snmp_traps_unknown_sender, class snmp_traps for
// a sender no target has.
func trapTargets(cfg *config.Config) (hosts map[string]string, label func(model.Batch)) {
	hosts = map[string]string{}
	own := map[string]collectors.TargetLabels{}
	for _, t := range cfg.Targets {
		if t.Kind != "snmp" {
			continue
		}
		var o snmp.Options
		if err := cfg.Decoder(t)(&o); err != nil || o.SNMP.Address == "" {
			continue // `vedetta check` reports it
		}
		hosts[o.SNMP.Host()] = t.Name
		own[t.Name] = collectors.Spec{Name: t.Name, Class: t.Class, Labels: t.Labels}.TargetLabels()
	}
	return hosts, func(b model.Batch) {
		tl, ok := own[b.Target]
		if !ok {
			tl = collectors.Spec{Name: b.Target, Class: "snmp_traps"}.TargetLabels()
		}
		for i := range b.Samples {
			b.Samples[i].Labels = tl.Label(b.Samples[i].Labels)
		}
	}
}
