package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vedetta-dc/vedetta/collectors/snmp"
	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/model"
)

// snmpCommands is `vedetta profiles` and `vedetta profile check/draft`; `vedetta probe snmp` hangs below
// the probe command (see probeCmd).
func snmpCommands() []*cobra.Command {
	return []*cobra.Command{profilesCmd(), profileCmd()}
}

// loadUserProfiles is the embedded profile set plus profile_dirs from
// --config (if given) plus --profile-dir flags.
func loadUserProfiles(cmd *cobra.Command, extra []string) (*snmp.ProfileSet, error) {
	var dirs []string
	if f := cmd.Flag("config"); f != nil && f.Value.String() != "" {
		cfg, err := config.Load(f.Value.String())
		if err != nil {
			return nil, err
		}
		for _, d := range cfg.ProfileDirs {
			if !filepath.IsAbs(d) {
				d = filepath.Join(cfg.Dir, d)
			}
			dirs = append(dirs, d)
		}
	}
	dirs = append(dirs, extra...)
	set, err := snmp.LoadProfiles(dirs)
	if err != nil {
		return nil, err
	}
	return set, nil
}

func profilesCmd() *cobra.Command {
	var dirs []string
	c := &cobra.Command{
		Use:   "profiles",
		Short: "List the SNMP device profiles (embedded and from profile_dirs)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			set, err := loadUserProfiles(cmd, dirs)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "PROFILE\tCLASS\tSOURCE\tMATCHES\tMIB")
			for _, p := range set.All() {
				var m []string
				for _, s := range p.Match.SysObjectID {
					m = append(m, "sysObjectID "+s+"*")
				}
				for _, s := range p.Match.Subtrees {
					m = append(m, "subtree "+s)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", p.Name, p.Class, p.Source, strings.Join(m, ", "), p.MIB)
			}
			return w.Flush()
		},
	}
	c.Flags().StringArrayVar(&dirs, "profile-dir", nil, "extra folder of profile *.yaml files (repeatable)")
	return c
}

// agentFlags are the flags that say how to reach one SNMP agent, shared
// by `probe snmp` and `profile draft`.
type agentFlags struct {
	a                       snmp.Agent
	community, authP, privP string
	authFile, privFile      string
	authProto, privProto    string
	retries                 int
}

func (af *agentFlags) register(c *cobra.Command) {
	f := c.Flags()
	f.StringVar(&af.a.Version, "version", "", "SNMP version: 1, 2c (default) or 3 (implied by --user)")
	f.StringVar(&af.community, "community", "public", "v1/v2c community")
	f.StringVar(&af.a.User, "user", "", "SNMPv3 user")
	f.StringVar(&af.authProto, "auth-protocol", "", "SNMPv3 auth: MD5, SHA, SHA224, SHA256, SHA384, SHA512")
	f.StringVar(&af.authP, "auth-passphrase", "", "SNMPv3 auth passphrase (visible in ps: prefer --auth-passphrase-file or $"+envAuthPassphrase+")")
	f.StringVar(&af.authFile, "auth-passphrase-file", "", "file holding the SNMPv3 auth passphrase (one line)")
	f.StringVar(&af.privProto, "priv-protocol", "", "SNMPv3 privacy: DES, AES, AES192, AES256, AES192C, AES256C")
	f.StringVar(&af.privP, "priv-passphrase", "", "SNMPv3 privacy passphrase (visible in ps: prefer --priv-passphrase-file or $"+envPrivPassphrase+")")
	f.StringVar(&af.privFile, "priv-passphrase-file", "", "file holding the SNMPv3 privacy passphrase (one line)")
	f.StringVar(&af.a.Context, "context", "", "SNMPv3 context name")
	f.DurationVar(&af.a.Timeout, "timeout", snmp.DefaultTimeout, "timeout per request")
	f.IntVar(&af.retries, "retries", 0, "resends per request")
}

// agent is the Agent the flags describe, at address.
func (af *agentFlags) agent(cmd *cobra.Command, address string) (snmp.Agent, error) {
	a := af.a
	a.Address = address
	a.Community = config.Secret(af.community)
	retries := af.retries
	a.Retries = &retries
	authP, err := passphrase(cmd, "auth-passphrase", af.authFile, envAuthPassphrase)
	if err != nil {
		return a, err
	}
	privP, err := passphrase(cmd, "priv-passphrase", af.privFile, envPrivPassphrase)
	if err != nil {
		return a, err
	}
	if a.Version == "3" || a.User != "" {
		a.Version = "3"
		a.Community = ""
		if af.authProto != "" || authP != "" {
			a.Auth = &snmp.Auth{Protocol: af.authProto, Passphrase: config.Secret(authP)}
		}
		if af.privProto != "" || privP != "" {
			a.Priv = &snmp.Priv{Protocol: af.privProto, Passphrase: config.Secret(privP)}
		}
	}
	return a, nil
}

// budget is how long a command may talk to the agent: never more than
// every request's timeout.
func (af *agentFlags) budget(requests int) time.Duration {
	t := af.a.Timeout
	if t == 0 {
		t = snmp.DefaultTimeout
	}
	return time.Duration(af.retries+1)*t*time.Duration(requests) + time.Second
}

// probeSNMPCmd polls one agent once with the given credentials and prints
// what the device is, the profiles chosen and why, each value's decision
// and the normalized samples.
func probeSNMPCmd(use string) *cobra.Command {
	var (
		af      agentFlags
		profile string
		dirs    []string
		explain bool
	)
	c := &cobra.Command{
		Use:   use,
		Short: "Poll one SNMP agent once and print its normalized samples (Prometheus text)",
		Long: "Poll one SNMP agent once, with profiles picked automatically (or --profile NAME),\n" +
			"and print what the device says it is (sysDescr, sysName, sysObjectID), the\n" +
			"profiles chosen and why (the sysObjectID prefix or the subtree that answered),\n" +
			"one comment line per value read: raw -> normalized, scale, autoscale, range, and\n" +
			"whether it is exported or dropped (sentinel, out_of_range, ambiguous_scale;\n" +
			"--explain=false hides them), then the normalized samples. Exits 2 when the\n" +
			"agent cannot be read.",
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
			o := snmp.Options{SNMP: a}
			if profile != "" {
				o.Profiles = strings.Split(profile, ",")
			}
			k, err := snmp.NewCollector("probe", o, set, nil)
			if err != nil {
				return err
			}
			// The whole probe may not outlast every request's timeout.
			ctx, cancel := context.WithTimeout(cmd.Context(), af.budget(8))
			defer cancel()
			var decisions []string
			if explain {
				k.Explain(func(e snmp.Explained) { decisions = append(decisions, "# "+e.String()) })
			}
			var samples []model.Sample
			used, err := k.Poll(ctx, func(s model.Sample) { samples = append(samples, s) })
			out := cmd.OutOrStdout()
			if err == nil || len(used) > 0 || strings.Contains(err.Error(), "no profile matches") {
				// The device answered: say what it is and why each
				// profile was chosen (a session of its own, after the
				// poll, so that an unreachable agent fails with the
				// poll's explanation, once).
				ictx, icancel := context.WithTimeout(cmd.Context(), af.budget(2+len(set.All())/16))
				id, ierr := snmp.Identify(ictx, a, set)
				icancel()
				printIdentity(out, id, ierr, used, profile != "")
			}
			if len(used) > 0 {
				var n []string
				for _, p := range used {
					n = append(n, p.Name)
				}
				fmt.Fprintf(out, "# profiles: %s\n", strings.Join(n, ", "))
			}
			for _, d := range decisions {
				fmt.Fprintln(out, d)
			}
			if err := snmp.WriteProm(out, samples); err != nil {
				return err
			}
			if err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "vedetta: %v\n", err)
				return exitCode(2)
			}
			return nil
		},
	}
	af.register(c)
	f := c.Flags()
	f.StringVar(&profile, "profile", "", "auto (default) or profile names, comma-separated")
	f.StringArrayVar(&dirs, "profile-dir", nil, "extra folder of profile *.yaml files (repeatable)")
	f.BoolVar(&explain, "explain", true, "print each value's plausibility decision as a comment")
	return c
}

// printIdentity writes what the device is and why each profile used was
// chosen, as comments.
func printIdentity(w io.Writer, id *snmp.Identity, err error, used []*snmp.Profile, named bool) {
	if id == nil {
		fmt.Fprintf(w, "# device: not identified: %v\n", err)
		return
	}
	fmt.Fprintf(w, "# sysDescr: %s\n# sysName: %s\n# sysObjectID: %s\n", oneLine(id.SysDescr), oneLine(id.SysName), id.SysObjectID)
	why := map[string]string{}
	for _, m := range id.Matches {
		why[m.Profile] = m.Why
	}
	for _, p := range used {
		switch {
		case named:
			fmt.Fprintf(w, "# profile %s: named with --profile\n", p.Name)
		case why[p.Name] != "":
			fmt.Fprintf(w, "# profile %s: %s\n", p.Name, why[p.Name])
		default:
			fmt.Fprintf(w, "# profile %s: matched by the poll's detection\n", p.Name)
		}
	}
	if err != nil {
		fmt.Fprintf(w, "# (identification incomplete: %v)\n", err)
	}
}

// oneLine keeps a device's text on its comment line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// The environment variables `probe snmp` reads SNMPv3 passphrases from
// when no flag names them: unlike a flag's value, neither is visible to
// other users in ps or /proc/PID/cmdline.
const (
	envAuthPassphrase = "VEDETTA_SNMP_AUTH_PASSPHRASE"
	envPrivPassphrase = "VEDETTA_SNMP_PRIV_PASSPHRASE"
)

// passphrase is the one source of a passphrase the user gave: the flag
// itself, its -file flag, or else the environment variable. Two flags at
// once are an error rather than a silent choice: a probe that fails with
// the wrong one of two passphrases would send the user looking at the
// device. A file's trailing newline is not part of the passphrase (as for
// the config's *_file secrets). The error names the file, never what is
// in it.
func passphrase(cmd *cobra.Command, flag, file, env string) (string, error) {
	inline := cmd.Flags().Changed(flag)
	if inline && file != "" {
		return "", fmt.Errorf("--%s and --%s-file both given: use one", flag, flag)
	}
	switch {
	case inline:
		return cmd.Flag(flag).Value.String(), nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("--%s-file: %w", flag, err)
		}
		p := strings.TrimRight(string(b), "\r\n")
		if p == "" {
			return "", fmt.Errorf("--%s-file %s is empty", flag, file)
		}
		return p, nil
	}
	return os.Getenv(env), nil
}

// probeSNMPSubcommand is `snmp ADDRESS`, for `vedetta probe snmp ADDRESS`:
// attach it to the probe command with c.AddCommand(probeSNMPSubcommand()).
func probeSNMPSubcommand() *cobra.Command { return probeSNMPCmd("snmp ADDRESS") }
