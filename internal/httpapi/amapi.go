package httpapi

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vedetta-dc/vedetta/dispatch"
	"github.com/vedetta-dc/vedetta/model"
)

// The Alertmanager v2 API, in Alertmanager's JSON shape (its OpenAPI
// spec, api/v2/openapi.yaml), so that amtool, Grafana's Alertmanager data
// source and Karma read vedetta's alarms and silences.
//
// Errors are a JSON string, as Alertmanager answers them (amtool prints
// it). vedetta's silences match labels by equality only: a postable silence
// whose matchers are all isEqual=true, isRegex=false is accepted; any
// other (=~, !=, !~) is refused with 400 and a sentence saying so.

type amReceiver struct {
	Name string `json:"name"`
}

type amAlertStatus struct {
	State       string   `json:"state"` // active | suppressed | unprocessed
	SilencedBy  []string `json:"silencedBy"`
	InhibitedBy []string `json:"inhibitedBy"`
	MutedBy     []string `json:"mutedBy"`
}

type amAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	UpdatedAt    time.Time         `json:"updatedAt"`
	Fingerprint  string            `json:"fingerprint"`
	Status       amAlertStatus     `json:"status"`
	Receivers    []amReceiver      `json:"receivers"`
	GeneratorURL string            `json:"generatorURL"`
}

type amMatcher struct {
	Name    string `json:"name"`
	Value   string `json:"value"`
	IsRegex bool   `json:"isRegex"`
	IsEqual *bool  `json:"isEqual,omitempty"` // absent means true (older clients)
}

type amSilence struct {
	ID        string        `json:"id,omitempty"`
	Status    *amSilenceSt  `json:"status,omitempty"`
	UpdatedAt *time.Time    `json:"updatedAt,omitempty"`
	Matchers  []amMatcher   `json:"matchers"`
	StartsAt  time.Time     `json:"startsAt"`
	EndsAt    time.Time     `json:"endsAt"`
	CreatedBy string        `json:"createdBy"`
	Comment   string        `json:"comment"`
	Extra     *amSilenceExt `json:"vedetta,omitempty"`
}

type amSilenceSt struct {
	State string `json:"state"` // expired | active | pending
}

// amSilenceExt says where a silence comes from (config windows recur).
type amSilenceExt struct {
	Source string `json:"source"`
}

// amResolveTimeout is what Alertmanager puts in endsAt of an active
// alert: now + resolve_timeout (5m by default). vedetta's alarms have no
// end until they resolve; clients only need it in the future.
const amResolveTimeout = 5 * time.Minute

// fingerprint is Alertmanager's 16 hex digits, from vedetta's alarm id
// (itself a hash of the rule and labels): stable across restarts.
func fingerprint(id string) string {
	h := fnv.New64a()
	h.Write([]byte(id))
	return fmt.Sprintf("%016x", h.Sum64())
}

// amLabels are the alarm's labels plus alertname and severity.
func amLabels(a *model.Alarm) map[string]string {
	ls := make(map[string]string, len(a.Labels)+2)
	for k, v := range a.Labels {
		ls[k] = v
	}
	ls["alertname"] = a.Rule
	if a.Severity != "" {
		ls["severity"] = a.Severity
	}
	return ls
}

// amStatus is what Alertmanager would say of the alarm: suppressed while a
// silence matches it (silencedBy) or while a parent is down (inhibitedBy:
// the depends_on target).
func amStatus(a *model.Alarm, sils []dispatch.Silence, n *dispatch.Notice, now time.Time) amAlertStatus {
	st := amAlertStatus{State: "active", SilencedBy: silencedBy(a, sils, now), InhibitedBy: []string{}, MutedBy: []string{}}
	if st.SilencedBy == nil {
		st.SilencedBy = []string{}
	}
	if n != nil {
		if p, ok := strings.CutPrefix(n.Waiting, "depends on "); ok {
			p, _, _ = strings.Cut(p, ",")
			st.InhibitedBy = append(st.InhibitedBy, p)
		}
	}
	if len(st.SilencedBy)+len(st.InhibitedBy) > 0 {
		st.State = "suppressed"
		st.MutedBy = append(append(st.MutedBy, st.SilencedBy...), st.InhibitedBy...)
	}
	return st
}

// silencedBy are the ids of the silences holding a at now (nil if none).
func silencedBy(a *model.Alarm, sils []dispatch.Silence, now time.Time) []string {
	var ids []string
	for i := range sils {
		if sils[i].Active(now) && sils[i].Matches(a) {
			ids = append(ids, sils[i].ID)
		}
	}
	return ids
}

func receivers(n *dispatch.Notice) []amReceiver {
	out := []amReceiver{}
	if n == nil {
		return out
	}
	seen := map[string]bool{}
	for _, r := range n.Told {
		if !seen[r.Receiver] {
			seen[r.Receiver] = true
			out = append(out, amReceiver{Name: r.Receiver})
		}
	}
	return out
}

// eqFilter parses Alertmanager's filter parameter (name="value" or
// name=value); vedetta answers equality only.
func eqFilter(fs []string) (map[string]string, error) {
	m := map[string]string{}
	for _, f := range fs {
		f = strings.TrimSpace(strings.Trim(strings.TrimSpace(f), "{}"))
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" || strings.ContainsAny(k, "!~") || strings.HasPrefix(v, "~") {
			return nil, fmt.Errorf("filter %q: vedetta matches labels by equality only (name=\"value\")", f)
		}
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		}
		m[strings.TrimSpace(k)] = v
	}
	return m, nil
}

func boolParam(r *http.Request, name string) bool {
	v := r.URL.Query().Get(name)
	return v == "" || v == "true"
}

func registerAlertmanagerAPI(mux *http.ServeMux, src Source, guard func(http.HandlerFunc) http.HandlerFunc) {
	started := time.Now()
	mux.HandleFunc("GET /api/v2/alerts", func(w http.ResponseWriter, r *http.Request) {
		out, err := amAlerts(src, r)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, out)
	})
	// Groups, as Karma and Grafana read them: one per receiver told and
	// rule (vedetta's route group_by is not exposed); an alarm nobody was
	// told of yet is in the group of receiver "vedetta".
	mux.HandleFunc("GET /api/v2/alerts/groups", func(w http.ResponseWriter, r *http.Request) {
		alerts, err := amAlerts(src, r)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, err.Error())
			return
		}
		type group struct {
			Labels      map[string]string `json:"labels"`
			RouteLabels map[string]string `json:"routeLabels"`
			Receiver    amReceiver        `json:"receiver"`
			Alerts      []amAlert         `json:"alerts"`
		}
		idx := map[[2]string]int{}
		out := []group{}
		for _, a := range alerts {
			rs := a.Receivers
			if len(rs) == 0 {
				rs = []amReceiver{{Name: "vedetta"}}
			}
			for _, rc := range rs {
				k := [2]string{rc.Name, a.Labels["alertname"]}
				i, ok := idx[k]
				if !ok {
					i = len(out)
					idx[k] = i
					out = append(out, group{Labels: map[string]string{"alertname": k[1]}, RouteLabels: map[string]string{}, Receiver: rc})
				}
				out[i].Alerts = append(out[i].Alerts, a)
			}
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /api/v2/silences", func(w http.ResponseWriter, r *http.Request) {
		filter, err := eqFilter(r.URL.Query()["filter"])
		if err != nil {
			writeJSON(w, http.StatusBadRequest, err.Error())
			return
		}
		out := []amSilence{}
		if d := src.Notifications(); d != nil {
			now := time.Now()
			for _, s := range d.Silences() {
				if !labelsMatch(filter, s.Match) {
					continue
				}
				out = append(out, toAMSilence(s, now))
			}
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /api/v2/silence/{id}", func(w http.ResponseWriter, r *http.Request) {
		if d := src.Notifications(); d != nil {
			for _, s := range d.Silences() {
				if s.ID == r.PathValue("id") {
					writeJSON(w, http.StatusOK, toAMSilence(s, time.Now()))
					return
				}
			}
		}
		writeJSON(w, http.StatusNotFound, "no silence "+r.PathValue("id"))
	})
	mux.HandleFunc("GET /api/v2/status", func(w http.ResponseWriter, r *http.Request) {
		cl := map[string]any{"status": "disabled", "peers": []any{}}
		if src.Cluster != nil {
			cl["status"] = "ready"
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"cluster": cl,
			"versionInfo": map[string]string{"version": src.Version, "branch": "", "buildDate": "", "buildUser": "",
				"goVersion": goVersion(), "revision": ""},
			// The config is not shown: it may hold credentials (inline
			// secrets, URLs with passwords).
			"config": map[string]string{"original": "# vedetta " + src.Version + ": the config is not shown over HTTP (it may hold credentials)\n"},
			"uptime": started.UTC(),
		})
	})
	mux.HandleFunc("GET /api/v2/receivers", func(w http.ResponseWriter, r *http.Request) {
		seen := map[string]bool{}
		out := []amReceiver{}
		if d := src.Notifications(); d != nil {
			for _, a := range src.Alarms() {
				for _, rc := range receivers(d.Notice(a.ID)) {
					if !seen[rc.Name] {
						seen[rc.Name] = true
						out = append(out, rc)
					}
				}
			}
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("POST /api/v2/silences", guard(func(w http.ResponseWriter, r *http.Request) {
		var req amSilence
		dec := json.NewDecoder(r.Body)
		if err := dec.Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, "bad JSON: "+err.Error())
			return
		}
		if req.ID != "" {
			writeJSON(w, http.StatusBadRequest, "updating a silence (id set) is not supported: expire it and add a new one")
			return
		}
		match, err := amMatchers(req.Matchers)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, err.Error())
			return
		}
		if req.StartsAt.IsZero() {
			req.StartsAt = time.Now()
		}
		if !req.EndsAt.After(req.StartsAt) || !req.EndsAt.After(time.Now()) {
			writeJSON(w, http.StatusBadRequest, "endsAt must be after startsAt and in the future")
			return
		}
		s, err := src.Notifications().AddSilence(match, req.StartsAt, req.EndsAt, req.Comment, req.CreatedBy)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"silenceID": s.ID})
	}))
	mux.HandleFunc("DELETE /api/v2/silence/{id}", guard(func(w http.ResponseWriter, r *http.Request) {
		if err := src.Notifications().ExpireSilence(r.PathValue("id")); err != nil {
			writeJSON(w, http.StatusNotFound, err.Error())
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
}

// amAlerts are the firing and stale alarms as Alertmanager's
// gettableAlerts, with its query parameters (filter, active, silenced,
// inhibited, receiver), by fingerprint.
func amAlerts(src Source, r *http.Request) ([]amAlert, error) {
	filter, err := eqFilter(r.URL.Query()["filter"])
	if err != nil {
		return nil, err
	}
	wantActive, wantSilenced, wantInhibited := boolParam(r, "active"), boolParam(r, "silenced"), boolParam(r, "inhibited")
	recv := r.URL.Query().Get("receiver")
	now := time.Now()
	d := src.Notifications()
	var sils []dispatch.Silence
	if d != nil {
		sils = d.Silences()
	}
	out := []amAlert{}
	for _, a := range src.Alarms() {
		if a.State != model.StateFiring && a.State != model.StateStale {
			continue
		}
		ls := amLabels(&a)
		if !labelsMatch(filter, ls) {
			continue
		}
		var n *dispatch.Notice
		if d != nil {
			n = d.Notice(a.ID)
		}
		st := amStatus(&a, sils, n, now)
		switch {
		case len(st.SilencedBy) > 0 && !wantSilenced,
			len(st.InhibitedBy) > 0 && !wantInhibited,
			st.State == "active" && !wantActive:
			continue
		}
		rs := receivers(n)
		if recv != "" && !hasReceiver(rs, recv) {
			continue
		}
		ann := map[string]string{"summary": a.Summary}
		if a.Description != "" {
			ann["description"] = a.Description
		}
		if a.Runbook != "" {
			ann["runbook_url"] = a.Runbook // Alertmanager's usual annotation name
		}
		if a.State == model.StateStale {
			ann["vedetta_state"] = string(a.State)
		}
		upd := a.LastSeen
		if upd.IsZero() {
			upd = a.Since()
		}
		out = append(out, amAlert{Labels: ls, Annotations: ann, StartsAt: a.Since(), EndsAt: now.Add(amResolveTimeout),
			UpdatedAt: upd, Fingerprint: fingerprint(a.ID), Status: st, Receivers: rs,
			GeneratorURL: "http://" + r.Host + "/alarm/" + a.ID})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Fingerprint < out[j].Fingerprint })
	return out, nil
}

// amMatchers turns Alertmanager matchers into vedetta's (=, !=, =~, !~).
func amMatchers(ms []amMatcher) (dispatch.Matchers, error) {
	if len(ms) == 0 {
		return nil, fmt.Errorf("matchers: at least one is needed")
	}
	var out dispatch.Matchers
	for _, x := range ms {
		eq := x.IsEqual == nil || *x.IsEqual
		op := map[[2]bool]string{{false, true}: "=", {true, true}: "=~", {false, false}: "!=", {true, false}: "!~"}[[2]bool{x.IsRegex, eq}]
		m, err := dispatch.NewMatcher(x.Name, op, x.Value)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func toAMSilence(s dispatch.Silence, now time.Time) amSilence {
	all := s.Matchers
	if len(all) == 0 {
		all = dispatch.Equal(s.Match)
	}
	ms := make([]amMatcher, 0, len(all))
	for _, m := range all {
		eq := m.Op == "=" || m.Op == "=~"
		ms = append(ms, amMatcher{Name: m.Name, Value: m.Value, IsRegex: m.Op == "=~" || m.Op == "!~", IsEqual: &eq})
	}
	state := "active"
	switch {
	case s.Schedule != nil && !s.Active(now):
		state = "pending" // a recurring window, between two occurrences
	case s.Schedule != nil:
	case now.Before(s.StartsAt):
		state = "pending"
	case !now.Before(s.EndsAt):
		state = "expired"
	}
	upd := s.StartsAt
	return amSilence{ID: s.ID, Status: &amSilenceSt{State: state}, UpdatedAt: &upd, Matchers: ms,
		StartsAt: s.StartsAt, EndsAt: s.EndsAt, CreatedBy: s.CreatedBy, Comment: s.Comment, Extra: &amSilenceExt{Source: s.Source}}
}

func labelsMatch(filter, ls map[string]string) bool {
	for k, v := range filter {
		if ls[k] != v {
			return false
		}
	}
	return true
}

func hasReceiver(rs []amReceiver, name string) bool {
	for _, r := range rs {
		if r.Name == name {
			return true
		}
	}
	return false
}
