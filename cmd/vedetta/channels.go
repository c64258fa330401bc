package main

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/notify"
	"github.com/vedetta-dc/vedetta/notify/email"
	"github.com/vedetta-dc/vedetta/notify/modem"
	"github.com/vedetta-dc/vedetta/notify/twilio"
	"github.com/vedetta-dc/vedetta/notify/webhook"
)

// newSMSKinds lists the SMS provider kinds, one line each: a provider
// package decodes and validates its own block (`twilio:`, `modem:`) and
// builds the provider. Adding a provider is its package and one line here.
func newSMSKinds() map[string]notify.Factory {
	return map[string]notify.Factory{
		"twilio": notify.Kind(twilio.New),
		"modem":  notify.Kind(modem.New),
	}
}

// buildChannels turns notify: into one notifier per channel. E-mail and
// SMS are failovers over their providers in order; webhooks are addressed
// by name.
func buildChannels(cfg *config.Config, smsKinds map[string]notify.Factory, log *slog.Logger) (map[string]notify.Notifier, []error) {
	out := map[string]notify.Notifier{}
	var errs []error
	fail := func(field string, err error) {
		errs = append(errs, config.FieldError{File: cfg.File, Line: cfg.Line(cfg.File, field), Field: field, Msg: err.Error()})
	}
	if cfg.Notify.Email != nil {
		n, err := email.New(cfg.Notify.Email, cfg.Dir, log.With("channel", "email"))
		if err != nil {
			fail("notify.email", err)
		} else {
			out["email"] = n
		}
	}
	if s := cfg.Notify.SMS; s != nil {
		out["sms"] = failover(cfg, "sms", s.Providers, s.FailoverAfter, smsKinds, log, &errs)
	}
	if v := cfg.Notify.Voice; v != nil {
		out["voice"] = failover(cfg, "voice", v.Providers, v.FailoverAfter, newVoiceKinds(), log, &errs)
	}
	if len(cfg.Notify.Webhooks) > 0 {
		hooks := byName{}
		for i, w := range cfg.Notify.Webhooks {
			field := fmt.Sprintf("notify.webhooks[%d]", i)
			if w.Name == "" || hooks[w.Name] != nil {
				fail(field+".name", fmt.Errorf("every webhook needs a unique name"))
				continue
			}
			p, err := notify.Kind(webhook.New)(w.Name, cfg.Block(w.Options, field), log.With("channel", "webhook", "provider", w.Name))
			if err != nil {
				errs = append(errs, cfg.Place(config.Origin{File: cfg.File}, field, err)...)
				continue
			}
			hooks[w.Name] = p
		}
		out["webhook"] = hooks
	}
	return out, errs
}

// newVoiceKinds lists the voice provider kinds, one line each, as
// newSMSKinds does.
func newVoiceKinds() map[string]notify.Factory {
	return map[string]notify.Factory{
		"twilio": notify.Kind(twilio.NewVoice),
	}
}

// failover builds a channel of providers tried in order from its
// notify.<channel>.providers list; each provider's package decodes and
// checks its own block.
func failover(cfg *config.Config, channel string, list []config.SMSProvider, after time.Duration, kinds map[string]notify.Factory,
	log *slog.Logger, errs *[]error) *notify.Failover {
	fail := func(field string, err error) {
		*errs = append(*errs, config.FieldError{File: cfg.File, Line: cfg.Line(cfg.File, field), Field: field, Msg: err.Error()})
	}
	f := &notify.Failover{Channel: channel, FailoverAfter: after, Log: log.With("channel", channel)}
	for i, p := range list {
		field := fmt.Sprintf("notify.%s.providers[%d]", channel, i)
		kind, block := p.Kind()
		build := kinds[kind]
		switch {
		case p.Name == "":
			fail(field+".name", fmt.Errorf("every provider needs a name"))
			continue
		case build == nil:
			fail(field, fmt.Errorf("give exactly one provider block: %s", strings.Join(slices.Sorted(maps.Keys(kinds)), ", ")))
			continue
		}
		at := field + "." + kind
		prov, err := build(p.Name, cfg.Block(block, at), log.With("channel", channel, "provider", p.Name))
		if err != nil {
			*errs = append(*errs, cfg.Place(config.Origin{File: cfg.File}, at, err)...)
			continue
		}
		f.Providers = append(f.Providers, prov)
	}
	if len(list) == 0 {
		fail("notify."+channel+".providers", fmt.Errorf("list at least one %s provider", strings.Replace(channel, "sms", "SMS", 1)))
	}
	return f
}

// byName is the webhook channel: the recipient is the webhook's name.
type byName map[string]notify.Provider

func (b byName) Notify(ctx context.Context, m notify.Message) (string, error) {
	p := b[m.Recipient]
	if p == nil {
		return "", notify.Permanent(fmt.Errorf("no webhook named %q", m.Recipient))
	}
	return p.Name(), p.Send(ctx, m)
}

// providers lists every provider of every channel, for probes and
// test-notify.
func providers(chans map[string]notify.Notifier) map[string][]notify.Provider {
	out := map[string][]notify.Provider{}
	for ch, n := range chans {
		switch n := n.(type) {
		case *notify.Failover:
			out[ch] = append(out[ch], n.Providers...)
		case byName:
			for _, p := range n {
				out[ch] = append(out[ch], p)
			}
		}
	}
	return out
}
