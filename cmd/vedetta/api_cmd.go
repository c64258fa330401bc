package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/vedetta-dc/vedetta/dispatch"
	"github.com/vedetta-dc/vedetta/internal/httpapi"
)

// apiClient talks to the running daemon's HTTP API: the CLI never touches
// the state dir itself, so there is one writer and the daemon applies
// every change at once.
type apiClient struct {
	base, token string
	http        *http.Client
}

func newAPIClient(v *viper.Viper) (*apiClient, error) {
	c := &apiClient{base: v.GetString("api"), token: v.GetString("token"), http: &http.Client{Timeout: 15 * time.Second}}
	if c.base == "" || c.token == "" {
		cfg, err := loadConfig(v)
		if err != nil {
			return nil, err
		}
		if c.base == "" {
			c.base = "http://" + cfg.HTTP.Listen
		}
		if c.token == "" {
			c.token = cfg.HTTP.Token.Reveal()
		}
	}
	c.base = strings.TrimRight(c.base, "/")
	return c, nil
}

func (c *apiClient) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach vedetta at %s: %w (is it running? --api sets the address)", c.base, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if resp.StatusCode >= 300 {
		var e struct{ Error string }
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, e.Error)
		}
		return fmt.Errorf("%s %s: HTTP %d", method, path, resp.StatusCode)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func whoami() string {
	if u, err := user.Current(); err == nil {
		h, _ := os.Hostname()
		return u.Username + "@" + h
	}
	return "cli"
}

func apiFlags(v *viper.Viper, c *cobra.Command) {
	c.PersistentFlags().String("api", "", "daemon API base URL (default http://<http.listen> from the config)")
	c.PersistentFlags().String("token", "", "API token (default http.token from the config; or $VEDETTA_TOKEN)")
	_ = v.BindPFlag("api", c.PersistentFlags().Lookup("api"))
	_ = v.BindPFlag("token", c.PersistentFlags().Lookup("token"))
}

func ackCmd(v *viper.Viper) *cobra.Command {
	var comment, ttl string
	c := &cobra.Command{
		Use:   "ack ALARM-ID",
		Short: "Acknowledge a firing alarm: stops repeats and escalation",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := newAPIClient(v)
			if err != nil {
				return err
			}
			var out struct {
				Ack struct {
					By      string
					Expires time.Time
				}
			}
			err = api.do(cmd.Context(), http.MethodPost, "/api/v1/alerts/"+args[0]+"/ack",
				httpapi.AckRequest{By: whoami(), Comment: comment, TTL: ttl}, &out)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "acknowledged %s by %s until %s\n", args[0], out.Ack.By, out.Ack.Expires.Local().Format(time.DateTime))
			return nil
		},
	}
	apiFlags(v, c)
	c.Flags().StringVar(&comment, "comment", "", "why, who is on it")
	c.Flags().StringVar(&ttl, "for", "", "how long the ack holds (default 4h)")
	return c
}

func unackCmd(v *viper.Viper) *cobra.Command {
	c := &cobra.Command{
		Use:   "unack ALARM-ID",
		Short: "Withdraw the acknowledgement of a firing alarm: repeats and escalation resume",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := newAPIClient(v)
			if err != nil {
				return err
			}
			if err := api.do(cmd.Context(), http.MethodDelete, "/api/v1/alerts/"+args[0]+"/ack?by="+url.QueryEscape(whoami()), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "acknowledgement of %s withdrawn\n", args[0])
			return nil
		},
	}
	apiFlags(v, c)
	return c
}

func silenceCmd(v *viper.Viper) *cobra.Command {
	root := &cobra.Command{Use: "silence", Short: "Add, list and expire silences (maintenance windows)"}
	apiFlags(v, root)
	var match []string
	var dur, comment string
	add := &cobra.Command{
		Use:   "add --match LABEL=VALUE|LABEL=~REGEX|LABEL!=VALUE|LABEL!~REGEX [--match ...] --for 2h --comment TEXT",
		Short: "Silence matching alarms for a while",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, kv := range match {
				if _, err := dispatch.ParseMatcher(kv); err != nil {
					return fmt.Errorf("--match: %w", err)
				}
			}
			api, err := newAPIClient(v)
			if err != nil {
				return err
			}
			var out struct {
				ID     string
				EndsAt time.Time `json:"ends_at"`
			}
			if err := api.do(cmd.Context(), http.MethodPost, "/api/v1/silences",
				httpapi.SilenceRequest{Matchers: match, Duration: dur, Comment: comment, By: whoami()}, &out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "silence %s until %s\n", out.ID, out.EndsAt.Local().Format(time.DateTime))
			return nil
		},
	}
	add.Flags().StringArrayVar(&match, "match", nil, "LABEL=VALUE, LABEL!=VALUE, LABEL=~REGEX (anchored) or LABEL!~REGEX (repeatable; all must hold)")
	add.Flags().StringVar(&dur, "for", "", "how long, e.g. 2h")
	add.Flags().StringVar(&comment, "comment", "", "why")
	_ = add.MarkFlagRequired("match")
	_ = add.MarkFlagRequired("for")
	list := &cobra.Command{
		Use:   "list",
		Short: "List silences",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, err := newAPIClient(v)
			if err != nil {
				return err
			}
			var out []dispatch.Silence
			if err := api.do(cmd.Context(), http.MethodGet, "/api/v1/silences", nil, &out); err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tMATCH\tENDS\tBY\tCOMMENT")
			for _, s := range out {
				ends := "recurring"
				if s.Source != "config" {
					ends = s.EndsAt.Local().Format(time.DateTime)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", s.ID, s.String(), ends, s.CreatedBy, s.Comment)
			}
			return w.Flush()
		},
	}
	expire := &cobra.Command{
		Use:   "expire SILENCE-ID",
		Short: "End a silence now",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := newAPIClient(v)
			if err != nil {
				return err
			}
			if err := api.do(cmd.Context(), http.MethodDelete, "/api/v1/silences/"+args[0], nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "silence %s expired\n", args[0])
			return nil
		},
	}
	root.AddCommand(add, list, expire)
	return root
}
