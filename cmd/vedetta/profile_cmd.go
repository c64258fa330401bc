package main

import (
	"fmt"

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
	c.AddCommand(profileCheckCmd())
	return c
}

func profileCheckCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "check FILE...",
		Short: "Check profile files strictly: every problem at once, with file:line and field",
		Long: "Check SNMP profile files as the daemon loads them (unknown keys are errors,\n" +
			"with a \"did you mean\"), and more: two files defining one profile, metrics\n" +
			"with no plausibility range, embedded profiles a file replaces (notes).\n" +
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
