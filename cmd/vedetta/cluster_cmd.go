package main

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/vedetta-dc/vedetta/cluster"
	"github.com/vedetta-dc/vedetta/internal/config"
)

func clusterCmd(v *viper.Viper) *cobra.Command {
	root := &cobra.Command{Use: "cluster", Short: "Three nodes in three zones: status, and replacing a member"}
	status := &cobra.Command{
		Use:   "status",
		Short: "Members, zones, raft leader, dispatcher, targets per member, quorum (from the running daemon)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, err := newAPIClient(v)
			if err != nil {
				return err
			}
			var s ClusterStatus
			if err := api.do(cmd.Context(), http.MethodGet, "/api/v1/cluster", nil, &s); err != nil {
				return err
			}
			printClusterStatus(cmd, s)
			return nil
		},
	}
	apiFlags(v, status)
	member := &cobra.Command{Use: "member", Short: "Add or remove an etcd member (replacing a dead node)"}
	add := &cobra.Command{
		Use:   "add NODE PEER-URL",
		Short: "Add the replacement of a dead node; then start it with cluster.join: true",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withEtcd(cmd.Context(), v, func(ctx context.Context, cli *clientv3.Client) error {
				r, err := cli.MemberAdd(ctx, []string{args[1]})
				if err != nil {
					return fmt.Errorf("member add: %w", err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "added %s (%s) as etcd member %x; now start vedetta on it with cluster.join: true and %d peers listed\n",
					args[0], args[1], r.Member.ID, len(r.Members))
				return nil
			})
		},
	}
	remove := &cobra.Command{
		Use:   "remove NODE",
		Short: "Remove a dead node's etcd member (before adding its replacement)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withEtcd(cmd.Context(), v, func(ctx context.Context, cli *clientv3.Client) error {
				l, err := cli.MemberList(ctx)
				if err != nil {
					return fmt.Errorf("member list: %w", err)
				}
				for _, m := range l.Members {
					if m.Name == args[0] {
						if _, err := cli.MemberRemove(ctx, m.ID); err != nil {
							return fmt.Errorf("member remove: %w", err)
						}
						fmt.Fprintf(cmd.OutOrStdout(), "removed %s (etcd member %x)\n", args[0], m.ID)
						return nil
					}
				}
				return fmt.Errorf("no etcd member named %q (see vedetta cluster status)", args[0])
			})
		},
	}
	member.AddCommand(add, remove)
	root.AddCommand(status, member)
	return root
}

// withEtcd dials this node's etcd client port (from the config's cluster
// block), the way the daemon does.
func withEtcd(ctx context.Context, v *viper.Viper, fn func(context.Context, *clientv3.Client) error) error {
	cfg, err := loadConfig(v)
	if err != nil {
		return err
	}
	if cfg.Cluster == nil {
		return fmt.Errorf("%s has no cluster: block", cfg.File)
	}
	cc, err := cluster.ParseConfig(cfg.Block(cfg.Cluster, "cluster"), cfg.StateDir, cfg.Dir)
	if err != nil {
		return fmt.Errorf("%w", joinErrs(cfg.Place(config.Origin{File: cfg.File}, "cluster", err)))
	}
	cli, err := cluster.Dial(cc)
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return fn(ctx, cli)
}

func joinErrs(errs []error) error {
	var b strings.Builder
	for i, e := range errs {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(e.Error())
	}
	return fmt.Errorf("%s", b.String())
}

func printClusterStatus(cmd *cobra.Command, s ClusterStatus) {
	out := cmd.OutOrStdout()
	q := "yes"
	if !s.Quorum {
		q = "NO"
	}
	fmt.Fprintf(out, "this node:   %s (%s)\ndispatcher:  %s\nraft leader: %s\nquorum:      %s\n", s.Node, s.Zone, orNone(s.Dispatcher), orNone(s.RaftLeader), q)
	if s.Error != "" {
		fmt.Fprintf(out, "error:       %s\n", s.Error)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nMEMBER\tZONE\tSTATE\tTARGETS")
	names := append([]string(nil), s.Members...)
	sort.Strings(names)
	for _, m := range names {
		role := "up"
		if m == s.Dispatcher {
			role = "up, dispatcher"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", m, s.Zones[m], role, s.Targets[m])
	}
	for _, m := range s.Down {
		fmt.Fprintf(tw, "%s\t\tDOWN\t-\n", m)
	}
	_ = tw.Flush()
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
