package main

import (
	"context"
	"net/http"
	"strings"

	"github.com/vedetta-dc/vedetta/dispatch"
	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/notify"
	"github.com/vedetta-dc/vedetta/notify/twilio"
)

// Acknowledging by SMS reply: Twilio's incoming-message webhook on the
// HTTP listener, rebuilt with every generation (receivers and accounts
// follow reloads).

// inboundRoutes are the routes this file adds to the HTTP API.
func (d *daemon) inboundRoutes() map[string]http.Handler {
	return map[string]http.Handler{"POST " + twilio.InboundPath: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if in := d.inbound.Load(); in != nil {
			in.ServeHTTP(w, r)
			return
		}
		http.Error(w, "SMS replies are not read: set http.external_url and a Twilio SMS provider", http.StatusNotFound)
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
	known := map[string]string{}
	for _, r := range cfg.Receivers {
		for _, n := range r.SMS {
			known[n] = r.Name
		}
	}
	log := d.log.With("component", "sms-replies")
	return &twilio.Inbound{
		URL: strings.TrimRight(cfg.HTTP.ExternalURL, "/") + twilio.InboundPath, Accounts: accounts, Receivers: known, Log: log,
		OnReply: func(_ context.Context, r twilio.Reply) string {
			var l dispatch.ReplyLedger
			if disp := d.disp.Load(); disp != nil {
				l = disp
			} else if d.cl != nil {
				l = &dispatch.Relay{Store: d.st, Node: d.cl.self.Node}
			} else {
				return "Not acknowledged: vedetta is not dispatching now; try again."
			}
			msg, err := dispatch.AckByReply(l, r.From, r.Code, r.Receiver+" ("+r.From+")")
			if err != nil {
				log.Warn("SMS reply not acted on", "from", r.From, "code", r.Code, "err", err)
			}
			return msg
		},
	}
}
