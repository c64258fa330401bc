package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/vedetta-dc/vedetta/collectors/snmp"
)

// profileCmd is `vedetta profile check|draft`: writing an SNMP device
// profile, and trusting it before a device depends on it.
func profileCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "profile",
		Short: "Write and check SNMP device profiles (check FILE..., draft ADDRESS)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	c.AddCommand(profileCheckCmd(), profileDraftCmd())
	return c
}

func profileCheckCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "check FILE|FOLDER...",
		Short: "Check profile files strictly: every problem at once, with file:line and field",
		Long: "Check SNMP profile files as the daemon loads them (unknown keys are errors,\n" +
			"with a \"did you mean\"), and more: two files defining one profile, metrics\n" +
			"with no plausibility range, embedded profiles a file replaces (notes). A\n" +
			"folder is checked as profile_dirs loads it (its *.yaml and *.yml).\n" +
			"Exits 1 when a file has a problem.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			failed := false
			for _, r := range snmp.CheckProfiles(files) {
				for _, n := range r.Notes {
					fmt.Fprintln(cmd.OutOrStdout(), "note:", n)
				}
				if r.Err != nil {
					failed = true
					fmt.Fprintln(cmd.ErrOrStderr(), r.Err)
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: OK (profile %s, %d metrics)\n", r.File, r.Profile.Name, len(r.Profile.Metrics))
			}
			if failed {
				return exitCode(1)
			}
			return nil
		},
	}
}

func profileDraftCmd() *cobra.Command {
	var (
		af      agentFlags
		dirs    []string
		subtree string
		outFile string
	)
	c := &cobra.Command{
		Use:   "draft ADDRESS",
		Short: "Walk a device and write a profile skeleton for the data no profile reads",
		Long: "Walk a device's enterprise tree (1.3.6.1.4.1, at most 20,000 objects) and report\n" +
			"what it is, which profiles auto-detection picks and why, and per enterprise\n" +
			"subtree how many objects it holds and how many the profiles read. Then write a\n" +
			"profile skeleton for the subtree with the most unread objects (or --subtree):\n" +
			"its tables split into columns, numeric ones as metrics named FIXME_..., the\n" +
			"table's text column as their label, sample values as comments. Finish it by\n" +
			"hand (names, map:, scale:, the MIB), then `vedetta profile check` it: a draft\n" +
			"with FIXME left is refused. The report goes to stderr, the skeleton to stdout\n" +
			"or --out.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			set, err := loadUserProfiles(cmd, dirs)
			if err != nil {
				return err
			}
			a, err := af.agent(cmd, args[0])
			if err != nil {
				return err
			}
			// A walk of 20,000 objects is about 800 GETBULKs of 25.
			ctx, cancel := context.WithTimeout(cmd.Context(), af.budget(1000))
			defer cancel()
			s, err := snmp.SurveyDevice(ctx, a, set, subtree)
			if err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "vedetta: %v\n", err)
				return exitCode(2)
			}
			rep := cmd.ErrOrStderr()
			fmt.Fprintf(rep, "# sysDescr: %s\n# sysName: %s\n# sysObjectID: %s\n", oneLine(s.SysDescr), oneLine(s.SysName), s.SysObjectID)
			if len(s.Matches) == 0 {
				fmt.Fprintln(rep, "# profiles: none matches this device")
			}
			for _, m := range s.Matches {
				fmt.Fprintf(rep, "# profile %s: %s\n", m.Profile, m.Why)
			}
			for _, e := range s.Enterprises {
				fmt.Fprintf(rep, "# subtree %s: %d objects, %d read by profiles\n", e.Subtree, e.Objects, e.Read)
			}
			if s.Truncated {
				fmt.Fprintln(rep, "# the walk stopped at 20,000 objects: draft a narrower --subtree")
			}
			if s.Chosen == "" {
				fmt.Fprintln(rep, "# nothing to draft: every object found is read by a profile (or --subtree holds none)")
				return nil
			}
			w := cmd.OutOrStdout()
			if outFile != "" {
				if err := os.WriteFile(outFile, s.Skeleton, 0o644); err != nil {
					return err
				}
				fmt.Fprintf(rep, "# skeleton for %s written to %s\n", s.Chosen, outFile)
				return nil
			}
			fmt.Fprintf(rep, "# skeleton for %s:\n", s.Chosen)
			_, err = w.Write(s.Skeleton)
			return err
		},
	}
	af.register(c)
	f := c.Flags()
	f.StringArrayVar(&dirs, "profile-dir", nil, "extra folder of profile *.yaml files (repeatable): what they read is not drafted")
	f.StringVar(&subtree, "subtree", "", "draft this subtree (every object under it) instead of the enterprise subtree with the most unread objects")
	f.StringVarP(&outFile, "out", "o", "", "write the skeleton to this file instead of stdout")
	return c
}
