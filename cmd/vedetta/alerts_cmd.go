package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"
)

// alertRow is what `vedetta alerts` reads of GET /api/v1/alerts.
type alertRow struct {
	ID       string            `json:"id"`
	Rule     string            `json:"rule"`
	Labels   map[string]string `json:"labels"`
	State    string            `json:"state"`
	Severity string            `json:"severity"`
	Value    float64           `json:"value"`
	Since    time.Time         `json:"since"`
	Summary  string            `json:"summary"`
	Ack      *struct {
		By      string    `json:"by"`
		Comment string    `json:"comment"`
		Expires time.Time `json:"expires"`
	} `json:"ack,omitempty"`
	HeldBack string `json:"held_back,omitempty"`
}

var severityRank = map[string]int{"critical": 0, "warning": 1, "info": 2}

func alertsCmd(v *viper.Viper) *cobra.Command {
	var states, severities, match []string
	var output string
	c := &cobra.Command{
		Use:   "alerts [--state firing] [--severity critical] [--match LABEL=VALUE] [--output table|json]",
		Short: "List the daemon's alarms (like amtool alert)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m := map[string]string{}
			for _, kv := range match {
				k, val, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return fmt.Errorf("--match %q: want LABEL=VALUE", kv)
				}
				m[k] = val
			}
			if output != "table" && output != "json" {
				return fmt.Errorf("--output %q: want table or json", output)
			}
			api, err := newAPIClient(v)
			if err != nil {
				return err
			}
			var all []alertRow
			if err := api.do(cmd.Context(), http.MethodGet, "/api/v1/alerts", nil, &all); err != nil {
				return err
			}
			rows := filterAlerts(all, states, severities, m)
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			}
			return printAlerts(cmd.OutOrStdout(), rows, time.Now())
		},
	}
	apiFlags(v, c)
	c.Flags().StringSliceVar(&states, "state", nil, "only these states (firing, stale, pending, resolved; repeatable or comma-separated)")
	c.Flags().StringSliceVar(&severities, "severity", nil, "only these severities (critical, warning, info)")
	c.Flags().StringArrayVar(&match, "match", nil, "LABEL=VALUE (repeatable; all must match; rule/alertname and severity too)")
	c.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return c
}

// filterAlerts keeps the alarms in one of states and severities (any if
// empty) whose labels match m, sorted by severity then age (oldest first).
func filterAlerts(all []alertRow, states, severities []string, m map[string]string) []alertRow {
	in := func(set []string, v string) bool {
		if len(set) == 0 {
			return true
		}
		for _, s := range set {
			if strings.EqualFold(s, v) {
				return true
			}
		}
		return false
	}
	rows := []alertRow{}
	for _, a := range all {
		if !in(states, a.State) || !in(severities, a.Severity) {
			continue
		}
		ok := true
		for k, want := range m {
			got := a.Labels[k]
			switch k {
			case "rule", "alertname":
				got = a.Rule
			case "severity":
				got = a.Severity
			}
			if got != want {
				ok = false
				break
			}
		}
		if ok {
			rows = append(rows, a)
		}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		ri, rj := rank(rows[i].Severity), rank(rows[j].Severity)
		if ri != rj {
			return ri < rj
		}
		return rows[i].Since.Before(rows[j].Since)
	})
	return rows
}

func rank(sev string) int {
	if r, ok := severityRank[sev]; ok {
		return r
	}
	return len(severityRank)
}

func printAlerts(w io.Writer, rows []alertRow, now time.Time) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSEVERITY\tRULE\tTARGET\tSINCE\tSTATE\tACK/SILENCE\tSUMMARY")
	for _, a := range rows {
		note := "-"
		switch {
		case a.Ack != nil:
			note = "acked by " + a.Ack.By + " until " + a.Ack.Expires.Local().Format("15:04")
		case a.HeldBack != "":
			note = a.HeldBack
		}
		id := a.ID
		if len(id) > 12 {
			id = id[:12]
		}
		since := "-"
		if !a.Since.IsZero() {
			since = a.Since.Local().Format(time.DateTime) + " (" + now.Sub(a.Since).Round(time.Second).String() + ")"
		}
		target := a.Labels["target"]
		if target == "" {
			target = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", id, a.Severity, a.Rule, target, since, a.State, note, a.Summary)
	}
	return tw.Flush()
}
