package main

import (
	"context"
	"strings"

	"github.com/vedetta-dc/vedetta/dispatch"
	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/notify"
	"github.com/vedetta-dc/vedetta/notify/twilio"
)

// Acknowledging by a phone call: the key pressed on a call comes back to
// the <Gather>'s action on the HTTP listener (twilio.VoicePath/<ref>),
// rebuilt with every generation like the SMS webhook.

// twilioVoice builds the calls' webhook for a generation and tells its
// voice providers where Twilio reaches this daemon; nil without a voice
// channel (the config refuses one without http.external_url).
func (d *daemon) twilioVoice(cfg *config.Config, chans map[string]notify.Notifier) *twilio.VoiceInbound {
	var provs []*twilio.Voice
	for _, p := range providers(chans)["voice"] {
		if v, ok := p.(*twilio.Voice); ok {
			v.SetExternalURL(cfg.HTTP.ExternalURL)
			provs = append(provs, v)
		}
	}
	if len(provs) == 0 || cfg.HTTP.ExternalURL == "" {
		return nil
	}

	known := map[string]string{}
	for _, r := range cfg.Receivers {
		for _, n := range r.Voice {
			known[n] = r.Name
		}
	}
	log := d.log.With("component", "voice-keys")
	return &twilio.VoiceInbound{
		Base: strings.TrimRight(cfg.HTTP.ExternalURL, "/"), Providers: provs, Receivers: known, Log: log,
		OnAck: func(_ context.Context, k twilio.Key) bool {
			l := d.replyLedger()
			if l == nil {
				return false
			}
			n, err := dispatch.AckByCall(l, k.To, k.Ref, k.Receiver+" ("+k.To+")")
			if err != nil {
				log.Warn("key 4 on a call not acted on", "call_sid", k.CallSID, "to", k.To, "ref", k.Ref, "err", err)
			}
			log.Info("acknowledged by phone", "call_sid", k.CallSID, "to", k.To, "receiver", k.Receiver, "ref", k.Ref, "alarms", n)
			return n > 0
		},
		OnEscalate: func(_ context.Context, k twilio.Key) {
			disp := d.disp.Load()
			if disp == nil {
				// A cluster member that is not the dispatcher: the call
				// still ends unacknowledged, the step runs at its after:.
				log.Warn("key 6 on a call: not the dispatcher, escalation left to its schedule", "call_sid", k.CallSID, "ref", k.Ref)
				return
			}
			n, err := dispatch.EscalateByCall(disp, k.To, k.Ref, k.Receiver+" ("+k.To+")")
			if err != nil {
				log.Warn("key 6 on a call not acted on", "call_sid", k.CallSID, "to", k.To, "ref", k.Ref, "err", err)
			}
			log.Info("escalated by phone", "call_sid", k.CallSID, "to", k.To, "receiver", k.Receiver, "ref", k.Ref, "alarms", n)
		},
	}
}
