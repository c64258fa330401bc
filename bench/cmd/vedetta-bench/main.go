// Command vedetta-bench measures vedetta side by side with the tools an
// operator would use instead (issue 6): SNMP poll cost at scale against
// prometheus snmp_exporter, Telegraf inputs.snmp and a net-snmp
// snmpbulkwalk loop; alarm latency (trap and poll) against Alertmanager;
// the rules engine's benchmark; memory with 1,000 targets; vedetta alone
// at scale (5,000 and 10,000 devices, 5 % dead, 5 % slow: does it keep its
// round, and what stops it), with CPU and heap profiles charged to
// vedetta's components where a goal is missed. Everything runs
// on 127.0.0.1; the peers are built from the Go module proxy into
// $BENCH_TOOLS at run time. It prints a Markdown table and, with --out,
// writes it to a file (the repository's BENCHMARKS.md).
//
//	go run ./bench/cmd/vedetta-bench --out BENCHMARKS.md   # the full run (~20 min on 2 cores)
//	go run ./bench/cmd/vedetta-bench --smoke               # a tiny run, no peers (CI)
//	go run ./bench/cmd/vedetta-bench --only scale --out /tmp/scale.md   # one section (~7 min); never over BENCHMARKS.md
//	go run ./bench/cmd/vedetta-bench cluster --out BENCHMARKS.md   # three members in namespaces (root)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

type options struct {
	out, repo, snmprec, toolsDir, work string
	smoke, keep                        bool
	only                               sections
	devices, scale                     []int
	dead                               float64
	trials, concurrency, memTargets    int
	pollInterval, latencyInterval      time.Duration
	memInterval, timeout               time.Duration
	community, memLimit                string
	upsRec, switchRec, memRec          string
	tools                              tools
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "cluster" {
		os.Exit(clusterMain(os.Args[2:])) // the cluster scenario (cluster.go)
	}
	o := &options{}
	var devices, level, only, scale string
	flag.StringVar(&o.out, "out", "", "also write the Markdown report to this file (BENCHMARKS.md)")
	flag.BoolVar(&o.smoke, "smoke", false, "tiny run for CI: 5 devices, 3 latency trials, a scale of 50 devices, no peers")
	flag.StringVar(&o.repo, "repo", "", "repository root (default: the folder holding go.mod above the working directory)")
	flag.StringVar(&o.snmprec, "snmprec", "", "folder of .snmprec recordings (default: <repo>/../shared/testdata/snmprec)")
	flag.StringVar(&o.toolsDir, "tools", envOr("BENCH_TOOLS", "/tmp/vedetta-bench-tools"), "where peers are built and cached ($BENCH_TOOLS)")
	flag.StringVar(&devices, "devices", "100,1000", "device counts of the poll-cost runs (a device = one UPS agent + one switch agent)")
	flag.StringVar(&only, "only", "", "comma list of the sections to run among "+strings.Join(allSections, ",")+" (default: all)")
	flag.StringVar(&scale, "scale", "", "device counts of the scale scenario, vedetta alone (default 5000,10000; --smoke: 50)")
	flag.Float64Var(&o.dead, "dead", 0.05, "fraction of dead agents in the second run of each size")
	flag.IntVar(&o.trials, "trials", 50, "alarm latency trials per pipeline")
	flag.IntVar(&o.concurrency, "concurrency", 64, "parallel polls of the peers' loops (vedetta's max_concurrent_collections default)")
	flag.IntVar(&o.memTargets, "mem-targets", 1000, "targets of the memory run")
	flag.DurationVar(&o.pollInterval, "poll-interval", 60*time.Second, "vedetta's interval in the poll-cost runs")
	flag.DurationVar(&o.latencyInterval, "latency-interval", 10*time.Second, "poll interval of the poll-only latency run")
	flag.DurationVar(&o.memInterval, "mem-interval", 30*time.Second, "interval of the memory run")
	flag.StringVar(&o.memLimit, "mem-limit", "256MiB", "memory_limit of a second memory run (\"\": none)")
	flag.DurationVar(&o.timeout, "timeout", 45*time.Minute, "the whole run's deadline")
	flag.BoolVar(&o.keep, "keep", false, "keep the work folder (configs, logs)")
	flag.StringVar(&level, "log-level", "info", "debug, info, warn")
	flag.Parse()
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv})))
	if o.smoke {
		devices, o.trials, o.memTargets = "5", 3, 5
		o.pollInterval, o.latencyInterval, o.memInterval = 4*time.Second, 2*time.Second, 3*time.Second
		if scale == "" {
			scale = "50" // enough CPU for the profile to hold samples
		}
	}
	if scale == "" {
		scale = "5000,10000"
	}
	var err error
	if o.only, err = parseSections(only); err == nil {
		if o.devices, err = parseCounts("--devices", devices); err == nil {
			o.scale, err = parseCounts("--scale", scale)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "vedetta-bench:", err)
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	report, err := run(ctx, o)
	stop()
	cancel()
	stopAll()
	if report != "" {
		fmt.Print(report)
	}
	if err != nil {
		slog.Error("vedetta-bench", "err", err)
		os.Exit(1)
	}
}

// parseCounts reads a comma list of positive counts.
func parseCounts(flagName, s string) ([]int, error) {
	var out []int
	for _, d := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(d))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad %s %q: a comma list of counts ≥ 1", flagName, s)
		}
		out = append(out, n)
	}
	return out, nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// run does the whole benchmark and returns the report.
func run(ctx context.Context, o *options) (string, error) {
	defer stopAll()
	if err := o.defaults(); err != nil {
		return "", err
	}
	if err := checkPartialOut(o.only, o.out); err != nil {
		return "", err
	}
	work, err := os.MkdirTemp("", "vedetta-bench-")
	if err != nil {
		return "", err
	}
	o.work = work
	if !o.keep {
		defer os.RemoveAll(work)
	} else {
		slog.Info("work folder kept", "dir", work)
	}
	started := time.Now()
	rep := &report{o: o, date: started}
	if err := buildOurs(ctx, o, &o.tools); err != nil {
		return "", err
	}
	switch {
	case o.smoke:
		o.tools.exporterWhy, o.tools.telegrafWhy, o.tools.amWhy = "--smoke: peers not built", "--smoke: peers not built", "--smoke: peers not built"
	case !o.only.has(secPoll) && !o.only.has(secLatency):
		// Only the poll and latency sections run the peers.
	default:
		buildPeers(ctx, o, &o.tools)
		if p, err := exec.LookPath("snmpbulkwalk"); err == nil {
			o.tools.snmpbulkwalk = p
		}
	}
	slog.Info("tools ready", "exporter", o.tools.exporter != "", "telegraf", o.tools.telegraf != "",
		"alertmanager", o.tools.alertmanager != "", "snmpbulkwalk", o.tools.snmpbulkwalk != "")

	if err := runSections(ctx, o, rep); err != nil {
		return "", err
	}
	rep.took = time.Since(started)
	text := rep.markdown()
	if old, err := os.ReadFile(o.out); err == nil && o.out != "" && !o.only.partial() {
		// Sections measured by other commands (the cluster's) follow the
		// marker and are kept as they are.
		if i := strings.Index(string(old), keptMarker); i >= 0 {
			text += "\n" + string(old[i:])
		}
	}
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(text), 0o644); err != nil {
			return text, err
		}
		slog.Info("report written", "file", o.out)
	}
	return text, nil
}

// runSections measures the sections --only selects, in report order.
func runSections(ctx context.Context, o *options, rep *report) error {
	if o.only.has(secPoll) {
		if err := pollSection(ctx, o, rep); err != nil {
			return err
		}
	}
	if o.only.has(secScale) {
		if err := scaleSection(ctx, o, rep); err != nil {
			return err
		}
	}
	if o.only.has(secLatency) {
		if err := latencySection(ctx, o, rep); err != nil {
			return err
		}
	}
	if o.only.has(secRules) {
		if o.smoke {
			rep.rules = ruleResult{note: "not run in --smoke"}
		} else {
			rep.rules = ruleBench(ctx, o)
		}
	}
	if o.only.has(secMemory) {
		rep.mem = memoryRun(ctx, o, "")
		if o.memLimit != "" {
			rep.memLimited = memoryRun(ctx, o, o.memLimit)
		}
	}
	return ctx.Err()
}

// pollSection is section 1: the calibration, then every tool on each size.
func pollSection(ctx context.Context, o *options, rep *report) error {
	cal, err := calibrate(ctx, o)
	if err != nil {
		return fmt.Errorf("calibration: %w", err)
	}
	rep.cal = cal
	largest := slices.Max(o.devices)
	for _, n := range o.devices {
		for _, dead := range []float64{0, o.dead} {
			// The largest size, nothing dead (1,000 devices in a full run),
			// is where the profile by component is taken.
			sc := &scenario{devices: n, dead: dead, profile: n == largest && dead == 0}
			if err := runScenario(ctx, o, cal, sc); err != nil {
				return fmt.Errorf("poll scenario %d devices: %w", n, err)
			}
			rep.scenarios = append(rep.scenarios, sc)
			for _, x := range sc.results {
				if sc.profile && x.tool == toolVedetta && x.profile != nil {
					rep.cpuProfile, rep.pollHeap, rep.cpuProfileDevices = x.profile, x.heap, n
				}
			}
		}
	}
	return nil
}

// latencySection is section 2, against the test suite's own Mailpit and
// Twilio server.
func latencySection(ctx context.Context, o *options, rep *report) error {
	tb := &benchTB{}
	defer tb.close()
	p := &peers{}
	if err := try(func() { p.mail = testpeer.StartMailpit(tb); p.twilio = testpeer.StartTwilio(tb) }); err != nil {
		return fmt.Errorf("mailpit/twilio: %w", err)
	}
	rep.latency = append(rep.latency, alarmLatency(ctx, o, p, true))
	p.clearMail(ctx)
	rep.latency = append(rep.latency, alarmLatency(ctx, o, p, false))
	if !o.smoke {
		p.clearMail(ctx)
		rep.latency = append(rep.latency, alertmanagerLatency(ctx, o, p, ""))
		p.clearMail(ctx)
		rep.latency = append(rep.latency, alertmanagerLatency(ctx, o, p, "1s"))
	}
	return ctx.Err()
}

// keptMarker starts the part of BENCHMARKS.md that vedetta-bench does not
// write.
const keptMarker = "<!-- kept by vedetta-bench: measured by other commands -->"

// defaults fills the paths and the recordings.
func (o *options) defaults() error {
	if o.repo == "" {
		dir, err := os.Getwd()
		if err != nil {
			return err
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				break
			}
			if filepath.Dir(dir) == dir {
				return errors.New("go.mod not found above the working directory (use --repo)")
			}
			dir = filepath.Dir(dir)
		}
		o.repo = dir
	}
	if o.snmprec == "" {
		o.snmprec = filepath.Join(o.repo, "..", "shared", "testdata", "snmprec")
	}
	o.community = "public"
	o.upsRec, o.switchRec, o.memRec = "apc_smt750x-nmc2.snmprec", "procurve_2520.snmprec", "dnos_z9100-on.snmprec"
	for _, r := range []string{o.upsRec, o.switchRec, o.memRec} {
		if _, err := os.Stat(filepath.Join(o.snmprec, r)); err != nil {
			return fmt.Errorf("recording %s: %w (use --snmprec)", r, err)
		}
	}
	if o.toolsDir != "" && !filepath.IsAbs(o.toolsDir) {
		o.toolsDir, _ = filepath.Abs(o.toolsDir)
	}
	if o.out != "" && !filepath.IsAbs(o.out) {
		o.out, _ = filepath.Abs(o.out)
	}
	return nil
}
