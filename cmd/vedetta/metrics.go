package main

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/vedetta-dc/vedetta/model"
	"github.com/vedetta-dc/vedetta/notify"
	"github.com/vedetta-dc/vedetta/rules"
)

// metrics are vedetta's own (the collected samples are exposed beside them).
type metrics struct {
	reg           *prometheus.Registry
	evalSeconds   prometheus.Histogram
	evalFailures  *prometheus.CounterVec
	notifications *prometheus.CounterVec
	attempts      *prometheus.CounterVec
	reloads       *prometheus.CounterVec
	storeErrors   prometheus.Counter
	// heartbeatFailures counts failed dead-man's-switch pings.
	heartbeatFailures prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.evalSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "vedetta_rule_evaluation_seconds", Help: "Time to store one batch and evaluate the rules for its target.",
		Buckets: prometheus.ExponentialBuckets(1e-5, 4, 10),
	})
	m.evalFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vedetta_rule_evaluation_failures_total", Help: "Rule evaluations that failed (a run-time error in the expression): such a rule cannot fire.",
	}, []string{"rule"})
	m.notifications = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vedetta_notifications_total", Help: "Notification attempts by channel and result (sent, failed_temporary, failed_permanent).",
	}, []string{"channel", "result"})
	m.attempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vedetta_notification_attempts_total", Help: "Attempts on each provider (SMTP relay, SMS provider, voice provider, webhook) by result (sent, failed_temporary, failed_permanent, unanswered: a call that rang).",
	}, []string{"channel", "provider", "result"})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vedetta_config_reloads_total", Help: "Config reloads by result.",
	}, []string{"result"})
	m.storeErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vedetta_store_errors_total", Help: "Failed writes of alarm state to the state dir (retried).",
	})
	m.heartbeatFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vedetta_heartbeat_failures_total", Help: "Failed heartbeat (dead-man's switch) requests.",
	})
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "vedetta_build_info", Help: "Always 1; the version is a label.", ConstLabels: prometheus.Labels{"version": versionString()},
	})
	info.Set(1)
	m.reg.MustRegister(m.evalSeconds, m.evalFailures, m.notifications, m.attempts, m.reloads, m.storeErrors, m.heartbeatFailures, info,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) watchEngine(e *rules.Engine) {
	for _, st := range []model.State{model.StatePending, model.StateFiring, model.StateStale, model.StateResolved} {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vedetta_alarms", Help: "Current alarms by state.", ConstLabels: prometheus.Labels{"state": string(st)},
		}, func() float64 {
			n := 0
			for _, a := range e.Alarms() {
				if a.State == st {
					n++
				}
			}
			return float64(n)
		}))
	}
}

// providerAttempt counts one attempt on one provider.
func (m *metrics) providerAttempt(channel, provider string, err error) {
	res := "sent"
	switch {
	case err == nil:
	case errors.Is(err, notify.ErrUnanswered):
		res = "unanswered" // a call that rang: the provider works
	case notify.IsPermanent(err):
		res = "failed_permanent"
	default:
		res = "failed_temporary"
	}
	m.attempts.WithLabelValues(channel, provider, res).Inc()
}

func (m *metrics) notificationResult(channel string, err error) {
	res := "sent"
	var ne *notify.Error
	switch {
	case err == nil:
	case errors.As(err, &ne) && ne.Permanent:
		res = "failed_permanent"
	default:
		res = "failed_temporary"
	}
	m.notifications.WithLabelValues(channel, res).Inc()
}
