// Package httpapi serves vedetta's HTTP endpoints: health, Prometheus
// metrics (vedetta's own and every collected sample, so vedetta can be
// scraped like an exporter), the alarms API, the Alertmanager v2 API
// (amapi.go) and the status page (ui.go).
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vedetta-dc/vedetta/dispatch"
	"github.com/vedetta-dc/vedetta/model"
)

// Source is what the API reads. Functions, so the daemon can swap the
// dispatcher on reload without restarting the listener.
type Source struct {
	Alarms func() []model.Alarm
	// Latest is every fresh series at once, for the status page.
	Latest func(fn func(name string, labels model.Labels, value float64, t time.Time))
	// ExposeNames and ExposeName are the collected samples for /metrics,
	// one metric name at a time (rules.Engine's; nil: none).
	ExposeNames   func(buf []string) []string
	ExposeName    func(name string, fn func(labels model.Labels, v float64))
	Notifications func() Notifications // nil while there is none
	Healthy       func() error
	// Cluster describes the cluster (GET /api/v1/cluster); nil on a
	// single node.
	Cluster func(ctx context.Context) any
	// Token guards the write endpoints; empty disables them.
	Token string
	// Version is vedetta's version (GET /api/v2/status).
	Version string
	// Reloads describes the last config reload, for the status page; nil
	// when unknown.
	Reloads func() Reload

	Handlers map[string]http.Handler // extra routes ("POST /path") owned by other rooms
	// UIAlways makes every page of the status page need the login, not
	// only writes (http.ui_auth: always).
	UIAlways bool
	// TargetError is why a target's last collection failed ("" when it
	// worked), for its page.
	TargetError func(target string) string
	// OnCall answers /api/v1/oncall (nil: no such routes).
	OnCall func() OnCaller
	// Help is the HELP text of a collected metric (an SNMP profile's
	// help:), "" when none says: /metrics then says "Collected by vedetta.".
	Help func(name string) string
}

// Reload is the outcome of the last config reload.
type Reload struct {
	At  time.Time `json:"at"`
	OK  bool      `json:"ok"`
	Err string    `json:"error,omitempty"`
}

// Ledger is who was told what about an alarm.
type Ledger interface {
	Notice(alarmID string) *dispatch.Notice
	Deliveries(alarmID string) ([]dispatch.Delivery, error)
	// History is what happened since `since`, newest first (of one
	// target or alarm when given), at most limit entries.
	History(since time.Time, target, alarm string, limit int) ([]dispatch.HistoryEntry, error)
}

// Acker acknowledges firing alarms.
type Acker interface {
	Ack(alarmID, by, comment string, ttl time.Duration) (*dispatch.Notice, error)
	Unack(alarmID, by string) (*dispatch.Notice, error)
}

// Silencer lists, adds and ends run-time silences.
type Silencer interface {
	Silences() []dispatch.Silence
	AddSilence(ms dispatch.Matchers, starts, ends time.Time, comment, by string) (dispatch.Silence, error)
	ExpireSilence(id string) error
}

// Notifications is what the API needs of the dispatcher, and no more.
type Notifications interface {
	Ledger
	Acker
	Silencer
}

// Server is the HTTP listener.
type Server struct {
	srv *http.Server
	ln  net.Listener
	log *slog.Logger
}

// New listens on addr (127.0.0.1:9750 by default: nothing is exposed
// beyond the host unless the operator says so).
func New(addr string, src Source, reg *prometheus.Registry, log *slog.Logger) (*Server, error) {
	if src.Notifications == nil {
		src.Notifications = func() Notifications { return nil }
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if src.Healthy != nil {
			if err := src.Healthy(); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", newExposer(src, reg, log)) // exposition.go
	mux.HandleFunc("GET /api/v1/alerts", func(w http.ResponseWriter, r *http.Request) {
		out := []alertJSON{}
		d := src.Notifications()
		for _, a := range src.Alarms() {
			v := view(a)
			if d != nil {
				if n := d.Notice(a.ID); n != nil {
					v.Ack, v.Waiting = n.Ack, n.Waiting
				}
			}
			out = append(out, v)
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /api/v1/cluster", func(w http.ResponseWriter, r *http.Request) {
		if src.Cluster == nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "this vedetta runs as a single node (no cluster: block)"})
			return
		}
		writeJSON(w, http.StatusOK, src.Cluster(r.Context()))
	})
	registerWrites(mux, src, log)
	registerOnCall(mux, src, log)
	registerHistory(mux, src)
	u, err := newUI(src, log)
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("status page templates: %w", err)
	}
	u.register(mux)
	for pattern, h := range src.Handlers {
		mux.Handle(pattern, h)
	}
	// Profiles, for "why does it use that much memory/CPU", need the API
	// token like the writes: a heap profile holds whatever is in memory
	// (secrets read from files, message bodies), a CPU profile costs 30 s
	// of sampling, and "loopback only" still lets every local user in.
	profiles := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if authorized(w, r, src.Token, "profiles (/debug/pprof)", log) {
				h(w, r)
			}
		}
	}
	mux.HandleFunc("GET /debug/pprof/", profiles(pprof.Index))
	mux.HandleFunc("GET /debug/pprof/profile", profiles(pprof.Profile))
	mux.HandleFunc("GET /api/v1/alerts/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		for _, a := range src.Alarms() {
			if a.ID != id {
				continue
			}
			v := view(a)
			if d := src.Notifications(); d != nil {
				ds, err := d.Deliveries(id)
				if err != nil {
					writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
					return
				}
				v.Deliveries = ds
				v.Notice = d.Notice(id)
			}
			writeJSON(w, http.StatusOK, v)
			return
		}
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no alarm " + id})
	})
	s := &Server{ln: ln, log: log, srv: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
	}}
	return s, nil
}

// Addr is where the server listens.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve blocks until Shutdown.
func (s *Server) Serve() {
	if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.log.Error("HTTP server stopped", "err", err)
	}
}

// Shutdown stops the listener, waiting briefly for requests in flight.
func (s *Server) Shutdown(ctx context.Context) {
	_ = s.srv.Shutdown(ctx)
}

type alertJSON struct {
	ID          string              `json:"id"`
	Rule        string              `json:"rule"`
	Labels      map[string]string   `json:"labels"`
	State       model.State         `json:"state"`
	Severity    string              `json:"severity"`
	Value       float64             `json:"value"`
	Since       time.Time           `json:"since"`
	ActiveAt    time.Time           `json:"active_at"`
	Summary     string              `json:"summary"`
	Description string              `json:"description,omitempty"`
	Runbook     string              `json:"runbook,omitempty"`
	Ack         *dispatch.Ack       `json:"ack,omitempty"`
	Waiting     string              `json:"held_back,omitempty"`
	Notice      *dispatch.Notice    `json:"notification_state,omitempty"`
	Deliveries  []dispatch.Delivery `json:"deliveries,omitempty"`
}

func view(a model.Alarm) alertJSON {
	return alertJSON{ID: a.ID, Rule: a.Rule, Labels: a.Labels, State: a.State, Severity: a.Severity,
		Value: a.Value, Since: a.Since(), ActiveAt: a.ActiveAt, Summary: a.Summary, Description: a.Description, Runbook: a.Runbook}
}

func goVersion() string { return runtime.Version() }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
