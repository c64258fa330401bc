package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/collectors/snmp"
	"github.com/vedetta-dc/vedetta/dispatch"
	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/httpapi"
	"github.com/vedetta-dc/vedetta/internal/store"
	"github.com/vedetta-dc/vedetta/model"
	"github.com/vedetta-dc/vedetta/notify"
	"github.com/vedetta-dc/vedetta/notify/twilio"
	"github.com/vedetta-dc/vedetta/rules"
)

func runCmd(v *viper.Viper) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the daemon (with no config: watch this host, alarms to stderr)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(v)
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				fmt.Fprintln(cmd.ErrOrStderr(), "vedetta: not starting: the config has errors")
				return exitCode(1)
			}
			d := &daemon{v: v, cfg: cfg, log: newLogger(os.Stderr, cfg, v.GetString("log-level"))}
			window, err := startDigestWindow(cfg, v.GetString("start-digest"))
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				return exitCode(1)
			}
			// Counted from the process's start, once: a reload does not
			// open another window (dispatch/digest.go).
			d.digestEnd = dispatch.StartDigestEnd(time.Now(), window)
			setMemoryLimit(d.log, cfg)
			return d.run(cmd.Context())
		},
	}
	cmd.Flags().String("start-digest", "", "override notify.start_digest (0 sends every notification at once from the start)")
	_ = v.BindPFlag("start-digest", cmd.Flags().Lookup("start-digest"))
	return cmd
}

// startDigestWindow is notify.start_digest, or the --start-digest flag
// (VEDETTA_START_DIGEST) when given.
func startDigestWindow(cfg *config.Config, flag string) (time.Duration, error) {
	if flag == "" {
		return cfg.Notify.StartDigestWindow(), nil
	}
	w, err := config.ParseDuration(flag)
	if err != nil || w < 0 || w > dispatch.MaxStartDigest {
		return 0, fmt.Errorf("--start-digest %q: want 0 (off) to %v", flag, dispatch.MaxStartDigest)
	}
	return w, nil
}

// daemon owns the long-lived pieces (store, engine, HTTP) and one
// "generation" of config-dependent workers (scheduler, dispatcher, traps)
// that a reload replaces.
type daemon struct {
	v       *viper.Viper
	cfg     *config.Config
	log     *slog.Logger
	st      store.Store
	bolt    *store.Bolt
	lost    lostState // what could not be read at start: the StateLost alarm
	engine  *rules.Engine
	disp    atomic.Pointer[dispatch.Dispatcher]
	handoff sync.Mutex   // alarm changes vs. a new dispatcher reading the outbox
	parts   *parts       // what the running generation was built from
	broken  atomic.Value // string: why no generation runs (healthz fails)
	sched   atomic.Pointer[collectors.Scheduler]
	cl      *clustered // nil on a single node
	m       *metrics
	lastRun atomic.Int64                        // unix ns of the last engine tick: the watchdog's proof of life
	inbound atomic.Pointer[twilio.Inbound]      // SMS replies (inbound.go); nil: not read
	voice   atomic.Pointer[twilio.VoiceInbound] // keys pressed on calls (voice.go); nil: no voice channel
	// onCallSetup of the running generation (oncall_cmd.go).
	onCallSetup atomic.Pointer[onCallSetup]
	// snmpKind of the running generation: its profiles' help: texts are
	// the HELP of /metrics.
	snmpKind atomic.Pointer[snmp.Kind]

	genCancel context.CancelFunc
	genWait   sync.WaitGroup

	reloaded atomic.Pointer[httpapi.Reload] // the last reload's outcome, for the status page
	// digestEnd is when the start digest ends (zero: none), counted from
	// the process's start; every dispatcher this process makes gets it.
	digestEnd time.Time
}

func (d *daemon) run(parent context.Context) error {
	if parent == nil {
		parent = context.Background()
	}
	p, errs := build(d.cfg, d.log)
	if len(errs) > 0 {
		for _, e := range errs {
			fmt.Fprintln(os.Stderr, e)
		}
		fmt.Fprintln(os.Stderr, "vedetta: not starting: the config has errors")
		return exitCode(1)
	}
	if d.cfg.File == config.BuiltinName {
		d.log.Info("no config file: watching this host with the built-in default; alarms go to this log",
			"see", "vedetta default-config")
	}
	d.m = newMetrics()
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	if p.cluster != nil {
		if err := d.startCluster(ctx, p.cluster); err != nil {
			return err
		}
		defer d.cl.etcd.Close()
	} else {
		st, err := store.OpenBolt(d.cfg.StateDir)
		if err != nil {
			return err
		}
		d.st, d.bolt = st, st
		defer st.Close()
		if l := st.Loss(); l != nil {
			d.lost.add("the state file was unreadable (" + l.Reason + ") and was moved aside")
			d.lost.kept = l.MovedTo
		}
	}
	d.watchState()
	d.engine = rules.New(rules.Options{
		Site: d.cfg.Site, Rules: p.rules, Intervals: p.intervals, Logger: d.log.With("component", "rules"),
		OnChange:      d.onChange,
		OnEvalFailure: func(rule string) { d.m.evalFailures.WithLabelValues(rule).Inc() },
		// In a cluster the dispatcher aggregates what members publish
		// (aggregate.go).
		ExternalAggregates: d.cl != nil,
	})
	saved, corrupt, err := dispatch.LoadAlarms(d.st)
	if err != nil {
		return fmt.Errorf("read saved alarms: %w", err)
	}
	if corrupt > 0 {
		d.noteCorrupt(fmt.Sprintf("%d saved alarm records could not be decoded", corrupt))
	}
	if d.cl != nil {
		saved = d.localAlarms(saved, p) // the shared targets' come with their ownership
	}
	d.engine.Restore(saved)
	d.m.watchEngine(d.engine)
	if len(saved) > 0 {
		d.log.Info("restored alarms from the state dir", "count", len(saved), "state_dir", d.cfg.StateDir)
	}

	srv, err := httpapi.New(d.cfg.HTTP.Listen, httpapi.Source{
		Alarms:      d.alarms,
		Latest:      d.engine.Latest,
		ExposeNames: d.engine.ExposeNames,
		ExposeName:  d.engine.ExposeName,
		Help:        func(name string) string { return d.snmpKind.Load().Help(name) },
		Notifications: func() httpapi.Notifications {
			if disp := d.disp.Load(); disp != nil {
				return disp
			}
			if d.cl != nil { // not the dispatcher: through the inbox
				return &dispatch.Relay{Store: d.st, Node: d.cl.self.Node}
			}
			return nil
		},
		Healthy:     d.healthy,
		Cluster:     d.clusterStatus(),
		Token:       d.cfg.HTTP.Token.Reveal(),
		Handlers:    d.inboundRoutes(),
		OnCall:      d.onCaller,
		TargetError: d.engine.Cause,
		UIAlways:    d.cfg.HTTP.UIAuth == "always",
		Version:     versionString(),
		Reloads: func() httpapi.Reload {
			if r := d.reloaded.Load(); r != nil {
				return *r
			}
			return httpapi.Reload{}
		},
	}, d.m.reg, d.log.With("component", "http"))
	if err != nil {
		return fmt.Errorf("http.listen %s: %w", d.cfg.HTTP.Listen, err)
	}
	go srv.Serve()

	if err := d.startGeneration(ctx, p); err != nil {
		return err
	}
	d.parts = p
	if disp := d.disp.Load(); disp != nil && disp.Corrupt() > 0 {
		n := disp.Corrupt()
		d.noteCorrupt(fmt.Sprintf("%d notification records (outbox, acks, silences) could not be decoded", n))
	}
	d.reportLost()
	var tickWG sync.WaitGroup
	tickWG.Go(func() { d.tickLoop(ctx) })
	tickWG.Go(func() { d.watchdog(ctx) })
	tickWG.Go(func() { d.stateLostLoop(ctx) })
	if d.cl != nil {
		tickWG.Go(func() { d.membership(ctx) })
		tickWG.Go(func() { d.quorumLoop(ctx) })
		tickWG.Go(func() { d.maintain(ctx) })
	} else {
		tickWG.Go(func() { d.compactLoop(ctx) })
	}

	if until := time.Until(d.digestEnd); until > 0 {
		d.log.Info("start digest: notifications are held and sent together, one message per receiver and channel",
			"until", d.digestEnd.Format(time.RFC3339), "for", until.Round(time.Second), "see", "notify.start_digest")
	}
	d.log.Info("vedetta started", "version", versionString(), "config", d.cfg.File, "targets", len(p.targets),
		"rules", len(p.rules), "http", srv.Addr(), "state_dir", d.cfg.StateDir)
	_, _ = sd.SdNotify(false, sd.SdNotifyReady)

	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	for {
		select {
		case <-parent.Done():
		case s := <-sig:
			if s == syscall.SIGHUP {
				d.reload(ctx)
				continue
			}
			d.log.Info("stopping", "signal", s.String())
		}
		break
	}
	_, _ = sd.SdNotify(false, sd.SdNotifyStopping)
	cancel()
	done := make(chan struct{})
	go func() { d.genWait.Wait(); tickWG.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(8 * time.Second):
		d.log.Warn("workers did not stop within 8s; exiting anyway (the outbox keeps what was not sent)")
	}
	sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
	srv.Shutdown(sctx)
	scancel()
	d.engine.Flush() // changes a failed store write left queued
	d.log.Info("stopped")
	return nil
}

// startGeneration starts the config-dependent workers.
func (d *daemon) startGeneration(parent context.Context, p *parts) error {
	// The new dispatcher reads the outbox, then takes over: no alarm change
	// may be written in between (the tick loop runs through a reload), or
	// its deliveries would be in the store and not in the new one's index.
	var disp *dispatch.Dispatcher
	if d.cl == nil {
		d.handoff.Lock()
		var err error
		disp, err = dispatch.NewDispatcher(d.st, d.cfg, p.channels, d.log.With("component", "dispatch"))
		if err != nil {
			d.handoff.Unlock()
			return err
		}
		disp.OnResult = d.m.notificationResult
		disp.TargetUp = d.engine.TargetUp
		disp.OnChannel = d.channelHealth
		disp.DigestUntil = d.digestEnd
		d.disp.Store(disp)
		d.handoff.Unlock()
	}
	d.inbound.Store(d.twilioInbound(d.cfg, p.channels))
	d.voice.Store(d.twilioVoice(d.cfg, p.channels))
	d.onCallSetup.Store(newOnCallSetup(d.cfg, p))
	gctx, cancel := context.WithCancel(parent)
	for _, n := range p.channels {
		if f, ok := n.(*notify.Failover); ok {
			f.OnAttempt = d.m.providerAttempt
		}
	}
	d.snmpKind.Store(p.snmp)
	if p.snmp != nil {
		// Shared with the previous generation's kind: the counts go on.
		if err := p.snmp.Register(d.m.reg); err != nil {
			d.log.Error("cannot serve vedetta_snmp_implausible_values_total", "err", err)
		}
	}
	sched := collectors.NewScheduler(p.targets, d.cfg.MaxConcurrent, d.ingest, d.log.With("component", "collect"))
	if d.cl != nil {
		sched.Owns = d.cl.owns
		d.shareTargets(p.shared)
	}
	d.sched.Store(sched)
	wait, err := startTraps(gctx, d.cfg, d.m.reg, d.ingest, sched.Trigger, d.log.With("component", "traps"))
	if err != nil {
		cancel()
		return err
	}
	d.genCancel = cancel
	if disp != nil {
		d.genWait.Go(func() { disp.Run(gctx) })
	} else {
		d.genWait.Go(func() { d.office(gctx, p) })
	}
	d.genWait.Go(func() { sched.Run(gctx) })
	if d.cl != nil {
		d.genWait.Go(func() { d.publishAggregates(gctx, p) })
	}
	d.genWait.Go(wait)
	d.genWait.Go(func() { d.probeLoop(gctx, p.channels) })
	d.modemReplies(gctx, d.cfg, p.channels)
	if hb := d.cfg.Notify.Heartbeat; hb != nil {
		d.genWait.Go(func() { d.heartbeat(gctx, hb) })
	}
	if disp != nil {
		disp.Wake()
	}
	return nil
}

func (d *daemon) ingest(b model.Batch) {
	if d.cl != nil && b.Target != model.ClusterTarget && !d.cl.owns(b.Target) {
		// A trap from a device another member polls: that member takes
		// it (devices send their traps to all three); an alarm kept
		// here would be a second, unwritten copy of the owner's.
		return
	}
	start := time.Now()
	d.engine.Ingest(b)
	d.m.evalSeconds.Observe(time.Since(start).Seconds())
}

// onChange persists alarm changes with their notifications, then logs the
// events (the log channel) and wakes the dispatcher.
func (d *daemon) onChange(changes []model.Change) error {
	var err error
	var disp *dispatch.Dispatcher
	if d.cl != nil {
		changes = d.cl.ours(changes)
		var alone bool
		if alone, err = d.recordDegraded(changes); !alone {
			start := time.Now()
			err = errNotAMember
			if f := d.cl.memberFence.Load(); f != nil {
				// Fenced by the membership: written only while it holds.
				err = dispatch.PersistInbox(d.cl.st.Fenced(*f), d.cl.self.Node, changes)
			}
			d.cl.txnSeconds.Observe(time.Since(start).Seconds())
			disp = d.disp.Load()
		}
	} else {
		d.handoff.Lock()
		disp = d.disp.Load()
		err = dispatch.Persist(d.st, disp, changes)
		d.handoff.Unlock()
	}
	if err != nil {
		d.m.storeErrors.Inc()
		return err
	}
	for _, c := range changes {
		if c.Event != "" {
			dispatch.LogEvent(d.log, c.Alarm, c.Event)
		}
	}
	if disp != nil {
		disp.Wake()
	}
	return nil
}

func (d *daemon) tickLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		d.engine.Tick()
		d.lastRun.Store(time.Now().UnixNano())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (d *daemon) healthy() error {
	if why, _ := d.broken.Load().(string); why != "" {
		return fmt.Errorf("no workers are running: %s", why)
	}
	if age := time.Since(time.Unix(0, d.lastRun.Load())); age > 30*time.Second {
		return fmt.Errorf("rules engine has not run for %v", age.Round(time.Second))
	}
	return nil
}

// watchdog pings systemd only while the engine keeps ticking: a wedged
// daemon stops pinging and systemd restarts it.
func (d *daemon) watchdog(ctx context.Context) {
	iv, err := sd.SdWatchdogEnabled(false)
	if err != nil || iv <= 0 {
		return
	}
	every(ctx, iv/3, func() {
		if d.healthy() == nil && time.Since(time.Unix(0, d.lastRun.Load())) < iv/2 {
			_, _ = sd.SdNotify(false, sd.SdNotifyWatchdog)
		}
	})
}

// every calls fn every iv until ctx ends.
func every(ctx context.Context, iv time.Duration, fn func()) {
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// reload swaps in a new config; a config with any error is refused and the
// running one stays.
func (d *daemon) reload(ctx context.Context) {
	_, _ = sd.SdNotify(false, sd.SdNotifyReloading)
	defer func() { _, _ = sd.SdNotify(false, sd.SdNotifyReady) }()
	path := d.cfg.File
	var cfg *config.Config
	var err error
	if path == config.BuiltinName {
		cfg = config.Builtin()
	} else {
		cfg, err = config.Load(path)
	}
	var problems []error
	if err != nil {
		problems = append(problems, err)
	}
	var p *parts
	if err == nil {
		var errs []error
		p, errs = build(cfg, d.log)
		problems = append(problems, errs...)
	}
	if len(problems) > 0 {
		d.m.reloads.WithLabelValues("failure").Inc()
		d.log.Error("reload refused: the new config has errors; still running on the previous one",
			"config", path, "errors", errors.Join(problems...).Error())
		d.reloaded.Store(&httpapi.Reload{At: time.Now(), Err: errors.Join(problems...).Error()})
		return
	}
	if (p.cluster == nil) != (d.parts.cluster == nil) || p.cluster != nil && !sameCluster(p.cluster, d.parts.cluster) {
		d.log.Warn("cluster changes take effect at the next restart")
		if d.parts.cluster == nil {
			p.cluster = nil
		} else {
			p.cluster = d.parts.cluster
		}
	}
	if cfg.StateDir != d.cfg.StateDir || cfg.HTTP.Listen != d.cfg.HTTP.Listen || cfg.HTTP.Token != d.cfg.HTTP.Token {
		d.log.Warn("state_dir and http (listen, token) changes take effect at the next restart")
		cfg.StateDir, cfg.HTTP = d.cfg.StateDir, d.cfg.HTTP
	}
	d.genCancel()
	d.genWait.Wait()
	closePorts(d.parts.channels)
	oldCfg, oldParts := d.cfg, d.parts
	d.cfg = cfg
	d.engine.SetRules(p.rules, p.intervals)
	if err := d.startGeneration(ctx, p); err != nil {
		// (A trap port another process took meanwhile.) Never stay without
		// workers: back to the generation that ran.
		d.log.Error("reload: cannot start the new workers; back to the previous config", "err", err)
		d.m.reloads.WithLabelValues("failure").Inc()
		d.reloaded.Store(&httpapi.Reload{At: time.Now(), Err: err.Error()})
		d.cfg = oldCfg
		d.engine.SetRules(oldParts.rules, oldParts.intervals)
		if err := d.startGeneration(ctx, oldParts); err != nil {
			// /healthz fails and the watchdog stops: systemd restarts us.
			d.log.Error("cannot restart the previous workers either: collection and notification are stopped", "err", err)
			d.broken.Store(err.Error())
		}
		return
	}
	d.parts = p
	d.m.reloads.WithLabelValues("success").Inc()
	d.reloaded.Store(&httpapi.Reload{At: time.Now(), OK: true})
	d.log.Info("config reloaded", "config", path, "targets", len(p.targets), "rules", len(p.rules))
}
