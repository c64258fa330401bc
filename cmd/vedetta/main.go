// Command vedetta is a data-center monitoring and alerting daemon: it polls
// devices and the host, evaluates rules, and makes sure people hear about
// alarms.
package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/collectors/snmp"
	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/model"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func main() {
	if err := newRoot().Execute(); err != nil {
		var ec exitCode
		if errors.As(err, &ec) {
			os.Exit(int(ec))
		}
		fmt.Fprintln(os.Stderr, "vedetta:", err)
		os.Exit(1)
	}
}

// exitCode ends the process with a code after the command printed its own
// message.
type exitCode int

func (e exitCode) Error() string { return "exit " + strconv.Itoa(int(e)) }

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// Flags and environment go through viper (VEDETTA_CONFIG, VEDETTA_LOG_LEVEL);
// the YAML file itself is decoded by internal/config, which reports lines.
func newRoot() *cobra.Command {
	v := viper.New()
	v.SetEnvPrefix("VEDETTA")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()

	root := &cobra.Command{
		Use:           "vedetta",
		Short:         "Data-center monitoring and alerting daemon",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringP("config", "c", "", "config file (default "+config.DefaultPath+" if it exists, else the built-in default)")
	root.PersistentFlags().String("log-level", "", "override log.level (debug, info, warn, error)")
	_ = v.BindPFlag("config", root.PersistentFlags().Lookup("config"))
	_ = v.BindPFlag("log-level", root.PersistentFlags().Lookup("log-level"))

	root.AddCommand(
		&cobra.Command{
			Use:   "version",
			Short: "Print the version",
			Args:  cobra.NoArgs,
			Run: func(cmd *cobra.Command, _ []string) {
				fmt.Fprintln(cmd.OutOrStdout(), "vedetta", versionString())
			},
		},
		runCmd(v),
		checkCmd(v),
		probeCmd(v),
		ackCmd(v),
		unackCmd(v),
		alertsCmd(v),
		silenceCmd(v),
		testNotifyCmd(v),
		clusterCmd(v),
		oncallCmd(v),
		&cobra.Command{
			Use:   "default-config",
			Short: "Print the built-in default configuration",
			Args:  cobra.NoArgs,
			Run: func(cmd *cobra.Command, _ []string) {
				_, _ = cmd.OutOrStdout().Write(config.BuiltinYAML())
			},
		},
	)
	root.AddCommand(extraCommands()...)
	root.AddCommand(genManCmd())
	return root
}

// loadConfig finds the config: --config / VEDETTA_CONFIG, else the default
// path if it exists, else the built-in default.
func loadConfig(v *viper.Viper) (*config.Config, error) {
	path := v.GetString("config")
	if path == "" {
		if _, err := os.Stat(config.DefaultPath); err == nil {
			path = config.DefaultPath
		}
	}
	if path == "" {
		return config.Builtin(), nil
	}
	if f, err := os.Open(path); err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return nil, unreadableConfig(path, err)
		}
	} else {
		f.Close()
	}
	return config.Load(path)
}

// unreadableConfig explains a permission error: the Debian package's
// /etc/vedetta/vedetta.yaml is root:vedetta 0640, so a plain `vedetta run`
// or `vedetta check` by an ordinary user finds it (it is the default
// path) and cannot read it, and a bare "permission denied" does not say
// which way out there is.
func unreadableConfig(path string, err error) error {
	if path != config.DefaultPath {
		return err // a file of the user's own: the error says it all
	}
	return fmt.Errorf("%w\n(the installed config is readable by root and group vedetta only: run as root, or as the service does with "+
		"`sudo runuser -u vedetta -- vedetta ...`, or pass --config with a file of your own)", err)
}

func newLogger(w io.Writer, cfg *config.Config, override string) *slog.Logger {
	lvl := cfg.Log.Level
	if override != "" {
		lvl = override
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(lvl)); err != nil {
		l = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: l}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func checkCmd(v *viper.Viper) *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Validate a config and its rule files; print every problem",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(v)
			var problems []error
			if err != nil {
				problems = append(problems, err)
			}
			var p *parts
			if cfg != nil {
				var errs []error
				p, errs = build(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
				problems = append(problems, errs...)
			}
			printWarnings(cmd.ErrOrStderr(), p)
			out := cmd.ErrOrStderr()
			if len(problems) > 0 {
				for _, p := range problems {
					fmt.Fprintln(out, p)
				}
				return exitCode(1)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: OK (%d targets, %d rules, %d receivers)\n", cfg.File, len(cfg.Targets), len(cfg.Rules), len(cfg.Receivers))
			printNotes(cmd.OutOrStdout(), p)
			return nil
		},
	}
}

func probeCmd(v *viper.Viper) *cobra.Command {
	var target string
	c := &cobra.Command{
		Use:   "probe --config FILE --target NAME",
		Short: "Collect one target once and print its samples (Prometheus text)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(v)
			if err != nil {
				return err
			}
			log := newLogger(cmd.ErrOrStderr(), cfg, v.GetString("log-level"))
			profiles, err := snmp.ConfigProfiles(cfg) // the config's profile_dirs too, as the daemon
			if err != nil {
				return err
			}
			var spec *collectors.Target
			for _, t := range cfg.Targets {
				if t.Name == target {
					ct, err := newTarget(newKinds(profiles), cfg, t, log)
					if err != nil {
						return err
					}
					spec = &ct
				}
			}
			if spec == nil {
				return fmt.Errorf("no target named %q in %s", target, cfg.File)
			}
			s := collectors.NewScheduler([]collectors.Target{*spec}, 1, func(model.Batch) {}, log)
			b, _ := s.CollectOnce(cmd.Context(), target)
			writeSamples(cmd.OutOrStdout(), b.Samples)
			if b.Err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "vedetta: target %s could not be read: %v\n", target, b.Err)
				return exitCode(2)
			}
			return nil
		},
	}
	c.Flags().StringVarP(&target, "target", "t", "", "target name")
	_ = c.MarkFlagRequired("target")
	// Ad-hoc forms: `vedetta probe snmp ADDRESS ...` polls a device that is
	// not in any config yet.
	c.AddCommand(probeSNMPSubcommand())
	return c
}

// writeSamples prints samples in the Prometheus text format, sorted.
func writeSamples(w io.Writer, samples []model.Sample) {
	lines := make([]string, 0, len(samples))
	for _, s := range samples {
		lines = append(lines, s.Name+s.Labels.String()+" "+strconv.FormatFloat(s.Value, 'g', -1, 64))
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
}
