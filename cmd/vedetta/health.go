package main

import (
	"context"
	"net/http"
	"time"

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/redact"
	"github.com/vedetta-dc/vedetta/model"
	"github.com/vedetta-dc/vedetta/notify"
)

// selfTarget is the target name of vedetta's own health samples, so that
// a dead notification channel is an alarm like any other.
// In a cluster each member has its own: "vedetta@<node>".
const selfTarget = "vedetta"

func (d *daemon) selfName() string {
	if d.cl != nil {
		return clusterName(selfTarget, d.cl.self.Node)
	}
	return selfTarget
}

func (d *daemon) selfSample(name string, v float64, labels ...string) {
	self := d.selfName()
	ls := model.L(append([]string{"target", self, "class", "self"}, labels...)...)
	d.ingest(model.Batch{Target: self, Samples: []model.Sample{{Name: name, Labels: ls, Value: v, Time: time.Now()}}})
}

// channelHealth records whether a channel got a message through (any
// provider) or failed on all of them.
func (d *daemon) channelHealth(channel string, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	d.selfSample(model.MetricChannelUp, v, "channel", channel)
}

// probeLoop checks every provider's health periodically, so that a dead
// relay, Twilio account or modem is an alarm before an incident needs it.
func (d *daemon) probeLoop(ctx context.Context, chans map[string]notify.Notifier) {
	iv := d.cfg.Notify.ProbeInterval
	if iv <= 0 {
		iv = 5 * time.Minute
	}
	provs := providers(chans)
	t := time.NewTimer(min(5*time.Second, iv)) // first probe soon after start
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for ch, ps := range provs {
			for _, p := range ps {
				pr, ok := p.(notify.Prober)
				if !ok {
					continue
				}
				pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				err := pr.Probe(pctx)
				cancel()
				if ctx.Err() != nil {
					return
				}
				v := 1.0
				if err != nil {
					v = 0
					d.log.Warn("notification provider fails its health probe", "channel", ch, "provider", p.Name(), "err", err)
				}
				d.selfSample(model.MetricProviderUp, v, "channel", ch, "provider", p.Name())
			}
		}
		t.Reset(iv)
	}
}

// heartbeat is the dead-man's switch: an outside watcher that stops hearing
// it knows vedetta itself is gone.
func (d *daemon) heartbeat(ctx context.Context, hb *config.Heartbeat) {
	iv := hb.Interval
	if iv <= 0 {
		iv = time.Minute
	}
	client := &http.Client{Timeout: min(iv, 30*time.Second)}
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, hb.URL, nil)
		if err == nil {
			var resp *http.Response
			resp, err = client.Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode >= 300 {
					err = &httpStatusError{resp.StatusCode}
				}
			}
		}
		if err != nil && ctx.Err() == nil {
			d.m.heartbeatFailures.Inc()
			// The URL usually carries the watcher's key; net/http's errors name it too.
			d.log.Warn("heartbeat failed", "url", redact.URL(hb.URL), "err", redact.Error(err, hb.URL))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

type httpStatusError struct{ code int }

func (e *httpStatusError) Error() string { return "HTTP " + http.StatusText(e.code) }
