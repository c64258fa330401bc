package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Poll cost: a "device" is one UPS agent plus one 48-port-class switch
// agent of the simulator (two SNMP agents, two vedetta targets).

const (
	toolVedetta  = "vedetta"
	toolExporter = "snmp_exporter"
	toolTelegraf = "telegraf"
	toolBulkwalk = "snmpbulkwalk"
)

// pollResult is one tool's round in one scenario.
type pollResult struct {
	tool     string
	cpu      float64 // CPU seconds of the tool for the round
	simCPU   float64 // the simulator's CPU over the same round
	varbinds int64
	wall     time.Duration
	peakMB   float64
	note     string // why a figure is missing or what it includes
	ok       bool
	profile  *componentTable // vedetta's CPU by component, when asked
	heap     *componentTable // and its heap after the round, by component
}

func (r pollResult) perK() float64 { return r.cpu / (float64(r.varbinds) / 1000) }

// scenario is N devices with a fraction dead.
type scenario struct {
	devices int
	dead    float64
	profile bool // take a CPU profile of vedetta's measured interval
	results []pollResult
}

// calibration is what each tool fetches from one UPS and one switch,
// counted on the wire by a relaying proxy.
type calibration struct {
	varbinds map[string]map[string]int64 // tool -> kind -> varbinds per poll
	samples  map[string]int              // kind -> samples vedetta emits
	profiles map[string]string           // kind -> profiles auto-detection picked
	useful   map[string]int64            // kind -> objects of the recording every tool is asked for
	first    map[string]int64            // kind -> vedetta's first poll (auto-detection, GETBULKs not yet sized)
}

// usefulVarbinds counts the objects of a recording that the polled
// scalars and columns hold: the same denominator for every tool, whatever
// each fetches beyond them (GETBULK overshoot past a column's end).
func usefulVarbinds(path string, gets, walks []string) (int64, error) {
	pdus, err := readSnmprec(path)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, p := range pdus {
		o := trimOID(p.Name)
		hit := false
		for _, g := range gets {
			hit = hit || o == g
		}
		for _, w := range walks {
			hit = hit || strings.HasPrefix(o, w+".")
		}
		if hit {
			n++
		}
	}
	return n, nil
}

func (o *options) devicesArgs() []string {
	return []string{"ups=" + filepath.Join(o.snmprec, o.upsRec), "switch=" + filepath.Join(o.snmprec, o.switchRec)}
}

var profilesLine = regexp.MustCompile(`(?m)^# profiles: (.*)$`)

// usefulOnly is a calibration holding only the denominator (the objects
// a poll of each kind reads), which needs no run of any tool.
func usefulOnly(o *options) (*calibration, error) {
	cal := &calibration{varbinds: map[string]map[string]int64{}, samples: map[string]int{}, profiles: map[string]string{}, useful: map[string]int64{},
		first: map[string]int64{}}
	var err error
	if cal.useful["ups"], err = usefulVarbinds(filepath.Join(o.snmprec, o.upsRec), apcUPSScalars, upsWalks); err != nil {
		return nil, err
	}
	if cal.useful["switch"], err = usefulVarbinds(filepath.Join(o.snmprec, o.switchRec), nil, switchWalks); err != nil {
		return nil, err
	}
	return cal, nil
}

// calibrate counts the varbinds of one poll of each kind by each tool.
func calibrate(ctx context.Context, o *options) (*calibration, error) {
	cal, err := usefulOnly(o)
	if err != nil {
		return nil, err
	}
	s, err := startSim(ctx, o, 2, 0, o.devicesArgs(), "ups:1,switch:1")
	if err != nil {
		return nil, err
	}
	defer s.stop()
	proxies := map[string]*countingProxy{}
	for i, k := range s.kinds {
		px, err := newCountingProxy(ctx, s.addr(i))
		if err != nil {
			return nil, err
		}
		proxies[k] = px
	}
	record := func(tool, kind string) {
		if cal.varbinds[tool] == nil {
			cal.varbinds[tool] = map[string]int64{}
		}
		cal.varbinds[tool][kind] = proxies[kind].varbinds.Load()
		slog.Info("calibration", "tool", tool, "device", kind, "counted", proxies[kind].String())
		proxies[kind].reset()
	}
	for _, k := range []string{"ups", "switch"} {
		// The first probe auto-detects; the steady state polls the
		// profiles it found, which the second probe names.
		r := runCmd(ctx, time.Minute, "", nil, o.tools.vedetta, "probe", "snmp", proxies[k].addr(), "--community", o.community)
		m := profilesLine.FindStringSubmatch(r.out)
		if r.exitError != nil || m == nil {
			return nil, fmt.Errorf("vedetta probe snmp (%s): %v\n%s", k, r.exitError, tail(r.out, 800))
		}
		cal.profiles[k] = strings.ReplaceAll(m[1], " ", "")
		proxies[k].reset()
		r = runCmd(ctx, time.Minute, "", nil, o.tools.vedetta, "probe", "snmp", proxies[k].addr(), "--community", o.community, "--profile", cal.profiles[k])
		if r.exitError != nil {
			return nil, fmt.Errorf("vedetta probe snmp --profile (%s): %v", k, r.exitError)
		}
		for _, l := range strings.Split(r.out, "\n") {
			if l != "" && l[0] != '#' {
				cal.samples[k]++
			}
		}
		proxies[k].reset()
	}
	if err := calibrateDaemon(ctx, o, cal, proxies); err != nil {
		return nil, err
	}
	if o.tools.exporter != "" {
		ex, err := startExporter(ctx, o)
		if err == nil {
			for _, k := range []string{"ups", "switch"} {
				if err := ex.scrape(ctx, proxies[k].addr(), k); err != nil {
					slog.Warn("snmp_exporter calibration", "err", err)
				}
				record(toolExporter, k)
			}
			ex.p.stop()
		} else {
			slog.Warn("snmp_exporter", "err", err)
			o.tools.exporter, o.tools.exporterWhy = "", "does not start: "+firstLine(err.Error())
		}
	}
	if o.tools.telegraf != "" {
		for _, k := range []string{"ups", "switch"} {
			var ups, sw []string
			if k == "ups" {
				ups = []string{proxies[k].addr()}
			} else {
				sw = []string{proxies[k].addr()}
			}
			if r := runTelegraf(ctx, o, ups, sw); r.exitError != nil {
				slog.Warn("telegraf calibration", "err", r.exitError, "out", tail(r.out, 800))
				o.tools.telegraf, o.tools.telegrafWhy = "", "fails: "+firstLine(tail(r.out, 200))
				break
			}
			record(toolTelegraf, k)
		}
	}
	if o.tools.snmpbulkwalk != "" {
		for _, k := range []string{"ups", "switch"} {
			for _, job := range bulkwalkJobs(o, proxies[k].addr(), k) {
				runCmd(ctx, 30*time.Second, "", nil, job[0], job[1:]...)
			}
			record(toolBulkwalk, k)
		}
	}
	return cal, nil
}

// calibrateDaemon counts what the daemon fetches in its steady state: its
// second poll of each agent, whose GETBULKs are sized by the first one's
// row counts (the probe's single poll is a first poll).
func calibrateDaemon(ctx context.Context, o *options, cal *calibration, proxies map[string]*countingProxy) error {
	kinds := []string{"ups", "switch"}
	var b strings.Builder
	b.WriteString("targets:\n")
	for _, k := range kinds {
		fmt.Fprintf(&b, "  - {name: %s, kind: snmp, class: %s, interval: 2s, snmp: {address: \"%s\", community: %s}}\n",
			k, classOf(k), proxies[k].addr(), o.community)
	}
	d, err := startVedetta(ctx, o, "calibration", b.String())
	if err != nil {
		return err
	}
	defer d.p.stop()
	deadline := time.Now().Add(30 * time.Second)
	for {
		done := true
		for _, k := range kinds {
			done = done && len(proxies[k].burstCounts()) >= 3 // the third poll ends the second
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("calibration: the daemon did not poll three times in 30 s")
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	if cal.varbinds[toolVedetta] == nil {
		cal.varbinds[toolVedetta] = map[string]int64{}
	}
	for _, k := range kinds {
		bs := proxies[k].burstCounts()
		cal.first[k], cal.varbinds[toolVedetta][k] = bs[0], bs[1]
		slog.Info("calibration", "tool", toolVedetta, "device", k, "polls", bs)
		proxies[k].reset()
	}
	return nil
}

// varbindsOf is the objects a round of s reads (the same for every tool).
func (c *calibration) varbindsOf(s *sim) int64 {
	return c.useful["ups"]*int64(s.aliveOf("ups")) + c.useful["switch"]*int64(s.aliveOf("switch"))
}

// runScenario measures every tool on N devices (2N agents).
func runScenario(ctx context.Context, o *options, cal *calibration, sc *scenario) error {
	s, err := startSim(ctx, o, 2*sc.devices, sc.dead, o.devicesArgs(), "ups:1,switch:1")
	if err != nil {
		return err
	}
	defer s.stop()
	slog.Info("scenario", "devices", sc.devices, "agents", len(s.kinds), "dead", sc.dead)
	add := func(r pollResult) {
		if r.ok {
			r.varbinds = cal.varbindsOf(s)
		}
		sc.results = append(sc.results, r)
		slog.Info("round", "devices", sc.devices, "dead", sc.dead, "tool", r.tool, "cpu_s", r.cpu, "sim_cpu_s", r.simCPU,
			"varbinds", r.varbinds, "wall", r.wall, "peak_mb", r.peakMB, "note", r.note)
	}
	add(vedettaRound(ctx, o, s, sc.profile))
	if o.tools.exporter != "" {
		add(exporterRound(ctx, o, s))
	} else if !o.smoke {
		add(pollResult{tool: toolExporter, note: o.tools.exporterWhy})
	}
	if o.tools.telegraf != "" {
		add(telegrafRound(ctx, o, s))
	} else if !o.smoke {
		add(pollResult{tool: toolTelegraf, note: o.tools.telegrafWhy})
	}
	if o.tools.snmpbulkwalk != "" {
		add(bulkwalkRound(ctx, o, s))
	}
	return ctx.Err()
}

// vedettaRound runs the daemon with every agent as a target and measures
// its second round (the first one also auto-detects profiles): CPU over
// one whole interval starting just before the round, so the rules
// engine's ticks in that interval are counted too.
//
// With profile, a CPU profile of the daemon covers most of that interval.
func vedettaRound(ctx context.Context, o *options, s *sim, profile bool) pollResult {
	res := pollResult{tool: toolVedetta}
	iv := o.pollInterval
	body := snmpTargets(s, o, iv.String()) + "rule_files: [" + filepath.Join(o.repo, "configs", "rules.d", "snmp.yaml") + "]\n"
	t0 := time.Now()
	d, err := startVedetta(ctx, o, "poll", body)
	if err != nil {
		res.note = "did not start: " + firstLine(err.Error())
		return res
	}
	defer d.p.stop()
	if sleepCtx(ctx, time.Until(t0.Add(iv*95/100))) != nil {
		return res
	}
	c1, s1 := mustCPU(d.p.pid()), s.cpu()
	prof := make(chan *componentTable, 1)
	if profile {
		go func() {
			t, err := cpuProfile(ctx, o, d, profileSeconds(iv), fmt.Sprintf("cpu-poll-%d", len(s.kinds)/2))
			if err != nil {
				slog.Warn("poll: CPU profile", "err", err)
			}
			prof <- t
		}()
	} else {
		prof <- nil
	}
	if sleepCtx(ctx, time.Until(t0.Add(iv*195/100))) != nil {
		return res
	}
	c2, s2 := mustCPU(d.p.pid()), s.cpu()
	res.profile = <-prof
	res.peakMB, _ = memMB(d.p.pid())
	if profile {
		// What the peak RSS holds: the live heap after the round (RSS is
		// about twice it under Go's default GOGC).
		if res.heap, err = heapProfile(ctx, o, d, fmt.Sprintf("heap-poll-%d", len(s.kinds)/2)); err != nil {
			slog.Warn("poll: heap profile", "err", err)
		}
	}
	ri, err := scrapeRound(ctx, d.http, t0.Add(iv/2))
	if err != nil {
		res.note = "scrape: " + err.Error()
		return res
	}
	res.cpu, res.simCPU, res.wall, res.ok = c2-c1, s2-s1, ri.end.Sub(ri.start), true
	alive := s.aliveOf("ups") + s.aliveOf("switch")
	if ri.targets < len(s.kinds) || ri.up < alive {
		res.note = fmt.Sprintf("round 2 incomplete within the interval: %d/%d targets, %d/%d up", ri.targets, len(s.kinds), ri.up, alive)
	}
	slog.Info("vedetta round", "targets", ri.targets, "up", ri.up, "series", ri.series)
	return res
}

func mustCPU(pid int) float64 {
	c, err := cpuSeconds(pid)
	if err != nil {
		slog.Warn("cpu", "pid", pid, "err", err)
	}
	return c
}
