package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/vedetta-dc/vedetta/dispatch"
	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/httpapi"
	"github.com/vedetta-dc/vedetta/oncall"
)

// onCallSetup is what a generation knows of on-call: the config's
// schedules and receivers (a relay on a cluster member checks overrides
// against them).
type onCallSetup struct {
	schedules oncall.Schedules
	receivers map[string]config.Receiver
}

// onCaller answers /api/v1/oncall: the dispatcher, or a relay through the
// inbox on a member that is not.
func (d *daemon) onCaller() httpapi.OnCaller {
	if disp := d.disp.Load(); disp != nil {
		return disp
	}
	setup := d.onCallSetup.Load()
	if d.cl == nil || setup == nil {
		return nil
	}
	return &dispatch.Relay{Store: d.st, Node: d.cl.self.Node, OnCallConfig: setup.schedules, Receivers: setup.receivers}
}

func newOnCallSetup(cfg *config.Config, p *parts) *onCallSetup {
	rs := map[string]config.Receiver{}
	for _, r := range cfg.Receivers {
		rs[r.Name] = r
	}
	return &onCallSetup{schedules: p.schedules, receivers: rs}
}

func oncallCmd(v *viper.Viper) *cobra.Command {
	var at string
	var shifts int
	var asJSON bool
	c := &cobra.Command{
		Use:   "oncall",
		Short: "Show who is on call now and next on every schedule, overrides included",
		Long: "Asks the running daemon (run-time overrides included) who is on call at --at (default now) and in the " +
			"shifts after: what receivers with `oncall:` resolve to. When the daemon cannot be reached, answers from " +
			"the config alone and says so.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t := time.Now()
			query := "" // the daemon's now
			if at != "" {
				var err error
				if t, err = httpapi.ParseAt(at); err != nil {
					return err
				}
				query = "?at=" + url.QueryEscape(t.Format(time.RFC3339Nano))
			}
			list, err := onCallFromDaemon(cmd, v, query)
			if err != nil {
				var ne net.Error
				var oe *net.OpError
				if !errors.As(err, &oe) && !errors.As(err, &ne) {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "(the daemon cannot be reached: from the config alone, without run-time overrides: %v)\n", err)
				if list, err = onCallFromConfig(v, t); err != nil {
					return err
				}
			}
			if len(list) > 0 && shifts > 0 && len(list[0].Next)+1 > shifts {
				for i := range list {
					list[i].Next = list[i].Next[:min(len(list[i].Next), shifts-1)]
				}
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(list)
			}
			printOnCall(cmd.OutOrStdout(), list)
			return nil
		},
	}
	apiFlags(v, c)
	c.Flags().StringVar(&at, "at", "", "the moment to ask about (2026-12-24 10:00, local time, or RFC 3339)")
	c.Flags().IntVar(&shifts, "shifts", 3, "how many shifts to show per schedule, the current one included (at most 3)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON (the shape of GET /api/v1/oncall)")
	c.AddCommand(overrideCmd(v))
	return c
}

func onCallFromDaemon(cmd *cobra.Command, v *viper.Viper, query string) ([]oncall.Report, error) {
	api, err := newAPIClient(v)
	if err != nil {
		return nil, err
	}
	var list []oncall.Report
	err = api.do(cmd.Context(), http.MethodGet, "/api/v1/oncall"+query, nil, &list)
	return list, err
}

func onCallFromConfig(v *viper.Viper, t time.Time) ([]oncall.Report, error) {
	cfg, err := loadConfig(v)
	if err != nil {
		return nil, err
	}
	p, errs := build(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p.schedules.Report(t, 3), nil
}

func overrideCmd(v *viper.Viper) *cobra.Command {
	root := &cobra.Command{Use: "override", Short: "Put someone else on call for a while, at run time (kept like silences)"}
	var req httpapi.OverrideRequest
	var from, until string
	add := &cobra.Command{
		Use:   "add --schedule NAME --person RECEIVER (--for 12h | --until TIME) [--from TIME] [--comment TEXT]",
		Short: "Add an on-call override",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if from != "" {
				if req.From, err = httpapi.ParseAt(from); err != nil {
					return fmt.Errorf("--from: %w", err)
				}
			}
			if until != "" {
				if req.Until, err = httpapi.ParseAt(until); err != nil {
					return fmt.Errorf("--until: %w", err)
				}
			}
			if (req.Duration == "") == req.Until.IsZero() {
				return errors.New("give one of --for 12h or --until TIME")
			}
			req.By = whoami()
			api, err := newAPIClient(v)
			if err != nil {
				return err
			}
			var o oncall.Override
			if err := api.do(cmd.Context(), http.MethodPost, "/api/v1/oncall/overrides", req, &o); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "override %s: %s on call on %s from %s until %s\n", o.ID, o.Person, o.Schedule,
				o.From.Local().Format(time.DateTime), o.Until.Local().Format(time.DateTime))
			return nil
		},
	}
	add.Flags().StringVar(&req.Schedule, "schedule", "", "the schedule (schedules: in the config)")
	add.Flags().StringVar(&req.Person, "person", "", "who takes over (a receiver with contact points)")
	add.Flags().StringVar(&from, "from", "", "when it starts (default now)")
	add.Flags().StringVar(&until, "until", "", "when it ends")
	add.Flags().StringVar(&req.Duration, "for", "", "how long, e.g. 12h (instead of --until)")
	add.Flags().StringVar(&req.Comment, "comment", "", "why")
	_ = add.MarkFlagRequired("schedule")
	_ = add.MarkFlagRequired("person")
	remove := &cobra.Command{
		Use:   "remove OVERRIDE-ID",
		Short: "End a run-time override now",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := newAPIClient(v)
			if err != nil {
				return err
			}
			if err := api.do(cmd.Context(), http.MethodDelete, "/api/v1/oncall/overrides/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "override %s ended\n", args[0])
			return nil
		},
	}
	root.AddCommand(add, remove)
	return root
}

func printOnCall(w io.Writer, list []oncall.Report) {
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
		loc, err := time.LoadLocation(s.TimeZone)
		if err != nil {
			loc = time.Local
		}
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
		for _, o := range s.Overrides {
			id := "config"
			if o.ID != "" {
				id = o.ID
			}
			fmt.Fprintf(tw, "  override\t%s\t%s → %s\t%s %s\n", o.Person, o.From.In(loc).Format("Mon 2006-01-02 15:04 MST"),
				o.Until.In(loc).Format("Mon 2006-01-02 15:04 MST"), id, o.Comment)
		}
	}
	_ = tw.Flush()
}
