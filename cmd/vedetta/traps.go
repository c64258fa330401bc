package main

import (
	"context"
	"log/slog"

	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/collectors/snmp"
	"github.com/vedetta-dc/vedetta/internal/config"
)

// startTraps starts the SNMP trap listener when cfg.Traps is set. ingest
// feeds trap-derived samples to the rules engine; trigger asks the scheduler
// for an immediate poll of a target. The listener stops when ctx ends; the
// returned wait blocks until it has.
func startTraps(ctx context.Context, cfg *config.Config, ingest func(collectors.Batch), trigger func(target string) bool, log *slog.Logger) (wait func(), err error) {
	if cfg.Traps == nil {
		return func() {}, nil
	}
	// A trap is attributed to the SNMP target whose snmp.address host is
	// the sender.
	hosts := map[string]string{}
	class := map[string]string{}
	for _, t := range cfg.Targets {
		if t.Kind != "snmp" {
			continue
		}
		var o snmp.Options
		if err := cfg.Decoder(t)(&o); err != nil || o.SNMP.Address == "" {
			continue // `vedetta check` reports it
		}
		hosts[o.SNMP.Host()] = t.Name
		class[t.Name] = t.Class
	}
	withLabels := func(b collectors.Batch) {
		for i := range b.Samples {
			ls := b.Samples[i].Labels.With("target", b.Target)
			if c, ok := class[b.Target]; ok {
				ls = ls.With("class", c)
			} else {
				ls = ls.With("class", "snmp_traps")
			}
			b.Samples[i].Labels = ls
		}
		ingest(b)
	}
	r, err := snmp.NewTrapReceiver(cfg.Traps, hosts, withLabels, trigger, log)
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
