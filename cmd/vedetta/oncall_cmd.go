package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/vedetta-dc/vedetta/oncall"
)

// onCall is one schedule's answer to "who is on call, and who is next".
type onCall struct {
	Schedule string         `json:"schedule"`
	TimeZone string         `json:"time_zone"`
	Now      oncall.Shift   `json:"now"`
	Next     []oncall.Shift `json:"next"`
}

// whoIsOnCall lists every schedule at t: the shift in force and the
// following ones (n in all).
func whoIsOnCall(ss oncall.Schedules, t time.Time, n int) []onCall {
	out := []onCall{}
	for _, name := range ss.Names() {
		s := ss[name]
		shifts := s.Upcoming(t, n)
		out = append(out, onCall{Schedule: name, TimeZone: s.Location().String(), Now: shifts[0], Next: shifts[1:]})
	}
	return out
}

// routes are the HTTP routes the daemon adds to the API: SMS replies
// (inbound.go) and who is on call.
func (d *daemon) routes() map[string]http.Handler {
	r := d.inboundRoutes()
	maps.Copy(r, map[string]http.Handler{"GET /api/v1/oncall": http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var ss oncall.Schedules
		if p := d.schedules.Load(); p != nil {
			ss = *p
		}
		at := time.Now()
		if v := req.URL.Query().Get("at"); v != "" {
			t, err := parseAt(v)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			at = t
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(whoIsOnCall(ss, at, 3))
	})})
	return r
}

// parseAt reads --at / ?at=: RFC 3339, or a local time of this machine.
func parseAt(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, l := range []string{"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(l, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time like 2026-12-24 10:00 or 2026-12-24T10:00:00+01:00", s)
}

func oncallCmd(v *viper.Viper) *cobra.Command {
	var at string
	var shifts int
	var asJSON bool
	c := &cobra.Command{
		Use:   "oncall",
		Short: "Show who is on call now and next on every schedule of the config",
		Long: "Reads the config's schedules (as `vedetta check` does) and says who is on call at --at (default now) " +
			"and in the shifts after, overrides included: what the daemon resolves receivers with `oncall:` to.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(v)
			if err != nil {
				return err
			}
			t := time.Now()
			if at != "" {
				if t, err = parseAt(at); err != nil {
					return err
				}
			}
			p, errs := build(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if len(errs) > 0 {
				for _, e := range errs {
					fmt.Fprintln(cmd.ErrOrStderr(), e)
				}
				return exitCode(1)
			}
			list := whoIsOnCall(p.schedules, t, max(shifts, 1))
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(list)
			}
			printOnCall(cmd.OutOrStdout(), list)
			return nil
		},
	}
	c.Flags().StringVar(&at, "at", "", "the moment to ask about (2026-12-24 10:00, local time, or RFC 3339)")
	c.Flags().IntVar(&shifts, "shifts", 3, "how many shifts to show per schedule, the current one included")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON (the shape of GET /api/v1/oncall)")
	return c
}

func printOnCall(w io.Writer, list []onCall) {
	if len(list) == 0 {
		fmt.Fprintln(w, "no on-call schedules in the config (schedules:)")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for i, s := range list {
		if i > 0 {
			fmt.Fprintln(tw)
		}
		fmt.Fprintf(tw, "%s (%s)\n", s.Schedule, s.TimeZone)
		loc, _ := time.LoadLocation(s.TimeZone)
		for j, sh := range append([]oncall.Shift{s.Now}, s.Next...) {
			label := "next"
			if j == 0 {
				label = "now"
			}
			var why []string
			if sh.Override {
				why = append(why, "override")
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s → %s\t%s\n", label, sh.Person, sh.From.In(loc).Format("Mon 2006-01-02 15:04 MST"),
				sh.Until.In(loc).Format("Mon 2006-01-02 15:04 MST"), strings.Join(why, ", "))
		}
	}
	_ = tw.Flush()
}
