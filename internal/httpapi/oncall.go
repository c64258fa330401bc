package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/oncall"
)

// OnCaller says who is on call and takes run-time overrides: the
// dispatcher, or on a cluster member that is not, a relay through the
// inbox.
type OnCaller interface {
	OnCall() oncall.Schedules
	AddOverride(oncall.Override) (oncall.Override, error)
	RemoveOverride(id string) error
}

// OverrideRequest is the body of POST /api/v1/oncall/overrides.
type OverrideRequest struct {
	Schedule string    `json:"schedule"`
	Person   string    `json:"person"`
	From     time.Time `json:"from,omitzero"` // default now
	Until    time.Time `json:"until,omitzero"`
	Duration string    `json:"duration,omitempty"` // instead of until: "12h"
	Comment  string    `json:"comment"`
	By       string    `json:"by"`
}

// ParseAt reads a moment given to the API or the CLI: RFC 3339, or a
// local time of this machine.
func ParseAt(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, l := range []string{"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(l, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("not a time like 2026-12-24 10:00 or 2026-12-24T10:00:00+01:00: " + s)
}

func registerOnCall(mux *http.ServeMux, src Source, log *slog.Logger) {
	if src.OnCall == nil {
		return
	}
	guard := writeGuard(src, log)
	mux.HandleFunc("GET /api/v1/oncall", func(w http.ResponseWriter, r *http.Request) {
		oc := src.OnCall()
		if oc == nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "not ready"})
			return
		}
		at := time.Now()
		if v := r.URL.Query().Get("at"); v != "" {
			t, err := ParseAt(v)
			if err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "at: " + err.Error()})
				return
			}
			at = t
		}
		writeJSON(w, http.StatusOK, oc.OnCall().Report(at, 3))
	})
	mux.HandleFunc("POST /api/v1/oncall/overrides", guard(func(w http.ResponseWriter, r *http.Request) {
		var req OverrideRequest
		if !decode(w, r, &req) {
			return
		}
		oc := src.OnCall()
		if oc == nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "not ready"})
			return
		}
		if req.From.IsZero() {
			req.From = time.Now()
		}
		if req.Duration != "" {
			d, err := config.ParseDuration(req.Duration)
			if err != nil || d <= 0 {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "duration: want e.g. 12h"})
				return
			}
			req.Until = req.From.Add(d)
		}
		o, err := oc.AddOverride(oncall.Override{Schedule: req.Schedule, Person: req.Person, From: req.From, Until: req.Until,
			Comment: req.Comment, By: req.By})
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusCreated, o)
	}))
	mux.HandleFunc("DELETE /api/v1/oncall/overrides/{id}", guard(func(w http.ResponseWriter, r *http.Request) {
		oc := src.OnCall()
		if oc == nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "not ready"})
			return
		}
		if err := oc.RemoveOverride(r.PathValue("id")); err != nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
}
