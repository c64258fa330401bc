package httpapi

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/vedetta-dc/vedetta/dispatch"
	"github.com/vedetta-dc/vedetta/internal/config"
)

// authorized answers 403 when no token is configured (the endpoint is off,
// not open) and 401 unless the request carries it as a bearer token;
// what names the endpoints in the 403 and the log line. The token itself
// is never logged, nor what was sent instead of it.
func authorized(w http.ResponseWriter, r *http.Request, token, what string, log *slog.Logger) bool {
	if token == "" {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": what + " are disabled: set http.token_file in the config"})
		return false
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
		log.Warn("API request refused: missing or wrong token", "endpoints", what, "path", r.URL.Path, "remote", r.RemoteAddr)
		w.Header().Set("WWW-Authenticate", `Bearer realm="vedetta"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "a valid bearer token is required"})
		return false
	}
	return true
}

// AckRequest is the body of POST /api/v1/alerts/{id}/ack.
type AckRequest struct {
	By      string `json:"by"`
	Comment string `json:"comment"`
	TTL     string `json:"ttl"` // e.g. "4h"; default 4h
}

// SilenceRequest is the body of POST /api/v1/silences.
type SilenceRequest struct {
	// Match holds equality matchers; Matchers any of LABEL=VALUE,
	// LABEL!=VALUE, LABEL=~REGEX, LABEL!~REGEX. All must hold.
	Match    map[string]string `json:"match,omitempty"`
	Matchers []string          `json:"matchers,omitempty"`
	Duration string            `json:"duration"` // "2h"
	StartsAt time.Time         `json:"starts_at,omitzero"`
	Comment  string            `json:"comment"`
	By       string            `json:"by"`
}

// writeGuard lets a write through only with the bearer token.
func writeGuard(src Source, log *slog.Logger) func(http.HandlerFunc) http.HandlerFunc {
	return func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if !authorized(w, r, src.Token, "write endpoints", log) {
				return
			}
			if src.Notifications() == nil {
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "not ready"})
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			h(w, r)
		}
	}
}

// registerWrites adds the endpoints that change state. Every one of them
// needs the bearer token (http.token / token_file); without a configured
// token they are disabled rather than open.
func registerWrites(mux *http.ServeMux, src Source, log *slog.Logger) {
	guard := writeGuard(src, log)
	registerAlertmanagerAPI(mux, src, guard)
	mux.HandleFunc("POST /api/v1/alerts/{id}/ack", guard(func(w http.ResponseWriter, r *http.Request) {
		var req AckRequest
		if !decode(w, r, &req) {
			return
		}
		var ttl time.Duration
		if req.TTL != "" {
			var err error
			if ttl, err = config.ParseDuration(req.TTL); err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "ttl: " + err.Error()})
				return
			}
		}
		n, err := src.Notifications().Ack(r.PathValue("id"), req.By, req.Comment, ttl)
		switch {
		case errors.Is(err, dispatch.ErrNoAlarm):
			writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		case err != nil:
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		default:
			writeJSON(w, http.StatusOK, n)
		}
	}))
	mux.HandleFunc("DELETE /api/v1/alerts/{id}/ack", guard(func(w http.ResponseWriter, r *http.Request) {
		by := r.URL.Query().Get("by")
		if by == "" {
			by = "api"
		}
		n, err := src.Notifications().Unack(r.PathValue("id"), by)
		switch {
		case errors.Is(err, dispatch.ErrNoAlarm):
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no acknowledged firing alarm with that id"})
		case err != nil:
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		default:
			writeJSON(w, http.StatusOK, n)
		}
	}))
	mux.HandleFunc("GET /api/v1/silences", func(w http.ResponseWriter, r *http.Request) {
		d := src.Notifications()
		out := []dispatch.Silence{}
		if d != nil {
			out = append(out, d.Silences()...)
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("POST /api/v1/silences", guard(func(w http.ResponseWriter, r *http.Request) {
		var req SilenceRequest
		if !decode(w, r, &req) {
			return
		}
		dur, err := config.ParseDuration(req.Duration)
		if err != nil || dur <= 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "duration: want e.g. 2h"})
			return
		}
		start := req.StartsAt
		if start.IsZero() {
			start = time.Now()
		}
		ms := dispatch.Equal(req.Match)
		for _, x := range req.Matchers {
			m, err := dispatch.ParseMatcher(x)
			if err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
				return
			}
			ms = append(ms, m)
		}
		s, err := src.Notifications().AddSilence(ms, start, start.Add(dur), req.Comment, req.By)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusCreated, s)
	}))
	mux.HandleFunc("DELETE /api/v1/silences/{id}", guard(func(w http.ResponseWriter, r *http.Request) {
		if err := src.Notifications().ExpireSilence(r.PathValue("id")); err != nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"expired": r.PathValue("id")})
	}))
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad JSON: " + err.Error()})
		return false
	}
	return true
}
