package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/vedetta-dc/vedetta/dispatch"
	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/notify"
	"github.com/vedetta-dc/vedetta/notify/modem"
	"github.com/vedetta-dc/vedetta/notify/twilio"
)

// Acknowledging by SMS reply: Twilio's incoming-message webhook on the
// HTTP listener, and the GSM modems' inboxes, rebuilt with every
// generation (receivers and accounts follow reloads).

// inboundRoutes are the routes this file adds to the HTTP API.
func (d *daemon) inboundRoutes() map[string]http.Handler {
	return map[string]http.Handler{"POST " + twilio.InboundPath: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if in := d.inbound.Load(); in != nil {
			in.ServeHTTP(w, r)
			return
		}
		http.Error(w, "SMS replies are not read: set http.external_url and a Twilio SMS provider", http.StatusNotFound)
	}), "POST " + twilio.VoicePath + "/{ref}": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if in := d.voice.Load(); in != nil {
			in.ServeHTTP(w, r)
			return
		}
		http.Error(w, "no voice channel: configure notify.voice", http.StatusNotFound)
	})}
}

// twilioInbound builds the webhook for a generation, and tells its Twilio
// providers whether to offer replies: nil unless http.external_url is set
// and an SMS provider is a Twilio account.
func (d *daemon) twilioInbound(cfg *config.Config, chans map[string]notify.Notifier) *twilio.Inbound {
	var accounts []*twilio.Provider
	for _, p := range providers(chans)["sms"] {
		if tp, ok := p.(*twilio.Provider); ok {
			accounts = append(accounts, tp)
		}
	}
	on := cfg.HTTP.ExternalURL != "" && len(accounts) > 0
	for _, a := range accounts {
		a.EnableReplies(on)
	}
	if !on {
		return nil
	}
	log := d.log.With("component", "sms-replies")
	return &twilio.Inbound{
		URL: strings.TrimRight(cfg.HTTP.ExternalURL, "/") + twilio.InboundPath, Accounts: accounts, Receivers: smsNumbers(cfg), Log: log,
		OnReply: func(_ context.Context, r twilio.Reply) string {
			return d.answerReply(log, r.From, r.Code, r.Verb, r.Receiver)
		},
	}
}

// smsNumbers maps every receiver's SMS number to the receiver: only they
// may acknowledge by a reply.
func smsNumbers(cfg *config.Config) map[string]string {
	known := map[string]string{}
	for _, r := range cfg.Receivers {
		for _, n := range r.SMS {
			known[n] = r.Name
		}
	}
	return known
}

// answerReply acts on what code names among the SMS sent to from (ACK,
// RES or ESC), and returns the answer to send back.
func (d *daemon) answerReply(log *slog.Logger, from, code, verb, receiver string) string {
	l := d.replyLedger()
	if l == nil {
		return "Nothing done: vedetta is not dispatching now; try again."
	}
	msg, err := dispatch.AnswerReply(l, from, code, verb, receiver+" ("+from+")")
	if err != nil {
		log.Warn("SMS reply not acted on", "from", from, "code", code, "err", err)
	}
	return msg
}

// modemReplies reads the replies that reach the GSM modems of a
// generation (until ctx ends) and makes their SMS say how to reply; a
// modem with replies: false neither reads nor offers.
func (d *daemon) modemReplies(ctx context.Context, cfg *config.Config, chans map[string]notify.Notifier) {
	known := smsNumbers(cfg)
	log := d.log.With("component", "sms-replies")
	for _, p := range providers(chans)["sms"] {
		mp, ok := p.(*modem.Provider)
		if !ok || !mp.ReadsReplies() {
			continue
		}
		mp.EnableReplies(true)
		d.genWait.Go(func() {
			mp.Listen(ctx, 0, func(_ context.Context, m modem.Incoming) string {
				from := m.From
				receiver, ok := known[from]
				if !ok {
					// Some networks give the sender without the +.
					if receiver, ok = known["+"+from]; ok {
						from = "+" + from
					}
				}
				if !ok {
					log.Warn("SMS reply from an unknown number ignored", "from", m.From, "provider", mp.Name())
					return ""
				}
				code, verb, ok := notify.ParseReply(m.Text)
				if !ok {
					log.Info("SMS reply not understood", "from", from, "receiver", receiver, "body", m.Text)
					return notify.ReplyHint
				}
				log.Info("SMS reply", "from", from, "receiver", receiver, "code", code, "verb", verb, "provider", mp.Name())
				return d.answerReply(log, from, code, verb, receiver)
			})
		})
	}
}

// closePorts closes what a generation's providers hold open (a modem's
// serial port, opened exclusively) once the generation stopped, so that
// the next one can open the same device; a provider used again reopens it.
func closePorts(chans map[string]notify.Notifier) {
	for _, ps := range providers(chans) {
		for _, p := range ps {
			if c, ok := p.(io.Closer); ok {
				_ = c.Close()
			}
		}
	}
}

// replyLedger is what acks by SMS reply or by a key on a call go through:
// the dispatcher, or on a cluster member that is not, the inbox; nil
// while there is neither.
func (d *daemon) replyLedger() dispatch.ReplyLedger {
	if disp := d.disp.Load(); disp != nil {
		return disp
	}
	if d.cl != nil {
		return &dispatch.Relay{Store: d.st, Node: d.cl.self.Node}
	}
	return nil
}
