package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/vedetta-dc/vedetta/dispatch"
	"github.com/vedetta-dc/vedetta/internal/config"
)

// historyQuery reads ?since=24h (a duration back from now, or a time),
// ?target=, ?alarm=, ?limit= (default 500, at most 5000).
func historyQuery(r *http.Request, now time.Time) (since time.Time, target, alarm string, limit int, err error) {
	q := r.URL.Query()
	since = now.Add(-24 * time.Hour)
	if v := q.Get("since"); v != "" {
		if d, derr := config.ParseDuration(v); derr == nil {
			since = now.Add(-d)
		} else if since, err = ParseAt(v); err != nil {
			return
		}
	}
	limit = 500
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 {
			limit, err = 500, nil
		}
	}
	return since, q.Get("target"), q.Get("alarm"), min(limit, 5000), nil
}

func registerHistory(mux *http.ServeMux, src Source) {
	mux.HandleFunc("GET /api/v1/history", func(w http.ResponseWriter, r *http.Request) {
		since, target, alarm, limit, err := historyQuery(r, time.Now())
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "since: " + err.Error()})
			return
		}
		d := src.Notifications()
		if d == nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "not ready"})
			return
		}
		out, err := d.History(since, target, alarm, limit)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		if out == nil {
			out = []dispatch.HistoryEntry{}
		}
		writeJSON(w, http.StatusOK, out)
	})
}

type historyData struct {
	Entries       []dispatch.HistoryEntry
	Target, Since string
	Err           string
}

func (u *ui) history(w http.ResponseWriter, r *http.Request) {
	since, target, alarm, limit, err := historyQuery(r, u.now())
	hd := historyData{Target: target, Since: r.URL.Query().Get("since")}
	if hd.Since == "" {
		hd.Since = "24h"
	}
	if err != nil {
		hd.Err = err.Error()
	} else if d := u.src.Notifications(); d != nil {
		hd.Entries, err = d.History(since, target, alarm, limit)
		if err != nil {
			hd.Err = err.Error()
		}
	}
	u.render(w, r, "history", "History", hd)
}
