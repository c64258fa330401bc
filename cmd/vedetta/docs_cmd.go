package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// genManCmd writes one man page per command. It is a hidden subcommand
// rather than a separate generator program because the command tree is
// built in this package main (newRoot), which nothing else can import;
// packaging/build-deb runs it on the binary it is about to package, so the
// pages always describe exactly that binary's flags.
func genManCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "gen-man DIR",
		Short:  "Write the man pages (section 1) into DIR",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := os.MkdirAll(args[0], 0o755); err != nil {
				return err
			}
			root := newRoot()
			// The auto-generated footer carries today's date: without it
			// (and with SOURCE_DATE_EPOCH for the header, which cobra
			// honours) two builds of one commit give the same pages.
			root.DisableAutoGenTag = true
			hdr := &doc.GenManHeader{Title: "VEDETTA", Section: "1", Source: "vedetta " + versionString(), Manual: "vedetta manual"}
			if err := doc.GenManTree(root, hdr, args[0]); err != nil {
				return fmt.Errorf("man pages: %w", err)
			}
			return nil
		},
	}
}
