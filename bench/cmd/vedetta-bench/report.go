package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

type report struct {
	o          *options
	date       time.Time
	took       time.Duration
	cal        *calibration
	scenarios  []*scenario
	latency    []latencyResult
	rules      ruleResult
	mem        memResult
	memLimited memResult // the same with --mem-limit
	scale      []*scaleResult

	// The CPU and the heap after the round, by component, of section 1's
	// largest 0 %-dead scenario (of cpuProfileDevices devices); section
	// 4's heap is in mem.
	cpuProfile        *componentTable
	pollHeap          *componentTable
	cpuProfileDevices int
}

// machine describes this host: cores, CPU model, memory.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb float64
		fmt.Sscanf(strings.TrimPrefix(strings.Split(string(b), "\n")[0], "MemTotal:"), "%f", &kb)
		mem = fmt.Sprintf(", %.1f GiB RAM", kb/1024/1024)
	}
	return fmt.Sprintf("%d cores (nproc), %s%s, %s/%s", runtime.NumCPU(), model, mem, runtime.GOOS, runtime.GOARCH)
}

func ms(d time.Duration) string {
	if d < 0 {
		return "–"
	}
	if d >= 10*time.Second {
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
}

func (r *report) markdown() string {
	var b strings.Builder
	o := r.o
	mode := "full run"
	cmd := "go run ./bench/cmd/vedetta-bench --out BENCHMARKS.md"
	if o.smoke {
		mode, cmd = "SMOKE run (tiny; not a measurement)", "go run ./bench/cmd/vedetta-bench --smoke"
	}
	title := fullReportTitle
	if o.only.partial() {
		title += " (partial run: " + o.only.String() + ")"
		cmd = strings.Replace(cmd, " --out BENCHMARKS.md", "", 1) + " --only " + o.only.String()
		mode = strings.Replace(mode, "full run", "partial run", 1) + "; the sections left out are not in this report"
	}
	fmt.Fprintf(&b, "%s\n\nWritten by `%s` (%s) — do not edit by hand.\n\n", title, cmd, mode)
	fmt.Fprintf(&b, "- date: %s; the run took %s\n- machine: %s\n- Go: %s\n", r.date.UTC().Format("2006-01-02 15:04 MST"), r.took.Round(time.Second), machine(), o.tools.goVersion)
	if o.only.has(secPoll) || o.only.has(secLatency) {
		fmt.Fprintf(&b, "- peers: snmp_exporter %s, Telegraf %s (`-tags custom,inputs.snmp,outputs.discard`), Alertmanager %s, net-snmp `snmpbulkwalk`; all on 127.0.0.1\n",
			snmpExporterVersion, telegrafVersion, alertmanagerVersion)
	}
	b.WriteString("- everything shares the 2 cores with the simulator and the other tools' idle processes; other work on the machine shows up as noise\n\n")

	if o.only.has(secPoll) {
		r.pollMarkdown(&b)
	}
	if o.only.has(secScale) {
		r.scaleMarkdown(&b)
	}
	if o.only.has(secLatency) {
		r.latencyMarkdown(&b)
	}
	if o.only.has(secRules) {
		r.rulesMarkdown(&b)
	}
	if o.only.has(secMemory) {
		r.memoryMarkdown(&b)
	}
	b.WriteString("\n" + r.goals())
	return b.String()
}

func (r *report) pollMarkdown(b *strings.Builder) {
	o := r.o
	b.WriteString("## 1. Poll cost\n\n")
	fmt.Fprintf(b, "A device is two simulated SNMP agents (`cmd/vedetta-sim`): a UPS (`%s`) and a switch (`%s`, 44 interfaces); N devices = 2N agents. "+
		"vedetta polls them as 2N `kind: snmp` targets at `interval: %v` with `configs/rules.d/snmp.yaml`; its CPU is the daemon's utime+stime "+
		"(`/proc/<pid>/stat`) over one whole interval holding its second round (the first also auto-detects profiles), so rule evaluation and "+
		"idle ticks are counted; its round's wall time is from the `vedetta_collection_duration_seconds` samples (first start to last end). "+
		"snmp_exporter: one warm-up round, then one measured round of `/snmp?target=…&module=ups|switch` over every agent, %d at a time "+
		"(exporter CPU only: no Prometheus). Telegraf: `telegraf --once`, one `[[inputs.snmp]]` per device kind listing every agent. "+
		"snmpbulkwalk: one process per table, %d at a time (the floor: no parsing, no storage). "+
		"**Varbinds** (the denominator, the same for every tool) = answering agents × the objects of the recording that the polled scalars and columns hold "+
		"(UPS %d, switch %d: %d per device). What each tool really fetches for one poll, counted on the wire by a relaying proxy (GETBULK overshoot "+
		"past a column's end, whole tables for snmpbulkwalk, auto-detection excluded; vedetta: the daemon's second poll, whose GETBULKs are sized "+
		"by the row counts of the first), against the objects used (the denominator):\n\n", o.upsRec, o.switchRec, o.pollInterval, o.concurrency, o.concurrency,
		r.cal.useful["ups"], r.cal.useful["switch"], r.cal.useful["ups"]+r.cal.useful["switch"])
	b.WriteString("| tool | varbinds on the wire per UPS poll | per switch poll | per device | fetched / used |\n|---|---:|---:|---:|---:|\n")
	used := r.cal.useful["ups"] + r.cal.useful["switch"]
	fmt.Fprintf(b, "| *used (objects in the polled scalars and columns)* | %d | %d | %d | 1.00 |\n", r.cal.useful["ups"], r.cal.useful["switch"], used)
	for _, t := range []string{toolVedetta, toolExporter, toolTelegraf, toolBulkwalk} {
		if v, ok := r.cal.varbinds[t]; ok {
			fmt.Fprintf(b, "| %s | %d | %d | %d | %.2f |\n", t, v["ups"], v["switch"], v["ups"]+v["switch"], float64(v["ups"]+v["switch"])/float64(max(used, 1)))
		}
		if t == toolVedetta && r.cal.first["ups"] > 0 {
			f := r.cal.first["ups"] + r.cal.first["switch"]
			fmt.Fprintf(b, "| vedetta, first poll (auto-detection, GETBULKs not yet sized) | %d | %d | %d | %.2f |\n",
				r.cal.first["ups"], r.cal.first["switch"], f, float64(f)/float64(max(used, 1)))
		}
	}
	fmt.Fprintf(b, "\nvedetta's profiles: UPS `%s` (%d samples), switch `%s` (%d samples).\n\n", r.cal.profiles["ups"], r.cal.samples["ups"],
		r.cal.profiles["switch"], r.cal.samples["switch"])
	b.WriteString("| devices | dead | tool | CPU s / 1k varbinds | × vedetta's | round wall time | peak RSS | varbinds | CPU s | simulator CPU s | note |\n")
	b.WriteString("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, sc := range r.scenarios {
		var base float64
		for _, x := range sc.results {
			if x.tool == toolVedetta && x.ok {
				base = x.perK()
			}
		}
		for _, x := range sc.results {
			if !x.ok {
				fmt.Fprintf(b, "| %d | %.0f %% | %s | n/a | n/a | n/a | n/a | n/a | n/a | n/a | %s |\n", sc.devices, sc.dead*100, x.tool, x.note)
				continue
			}
			ratio := "1.00"
			if x.tool != toolVedetta {
				ratio = "n/a"
				if base > 0 {
					ratio = fmt.Sprintf("%.2f", x.perK()/base)
				}
			}
			fmt.Fprintf(b, "| %d | %.0f %% | %s | %.4f | %s | %s | %.0f MB | %d | %.2f | %.2f | %s |\n", sc.devices, sc.dead*100, x.tool,
				x.perK(), ratio, ms(x.wall), x.peakMB, x.varbinds, x.cpu, x.simCPU, x.note)
		}
	}
	b.WriteString("\n\"× vedetta's\" is the tool's CPU per 1,000 varbinds divided by vedetta's in the same scenario (goal: ≥ 5 for snmp_exporter and Telegraf).\n\n")

	if r.cpuProfile != nil {
		fmt.Fprintf(b, "Where vedetta's CPU goes at %d devices, 0 %% dead (a CPU profile of the daemon over %s of the measured interval, `/debug/pprof/profile`):\n\n", r.cpuProfileDevices, r.cpuProfile.span)
		b.WriteString(r.cpuProfile.markdown())
		b.WriteString("\n")
	}
	if r.pollHeap != nil {
		fmt.Fprintf(b, "What vedetta's heap holds at %d devices, 0 %% dead, after the measured round (`/debug/pprof/heap`, %s; the peak RSS above is about twice the live heap under Go's default GOGC):\n\n", r.cpuProfileDevices, r.pollHeap.span)
		b.WriteString(r.pollHeap.markdown())
		b.WriteString("\n")
	}
}

func (r *report) latencyMarkdown(b *strings.Builder) {
	o := r.o
	b.WriteString("## 2. Alarm latency\n\n")
	fmt.Fprintf(b, "A UPS served by an SNMP agent inside the benchmark (`%s`) switches upsBasicOutputStatus to onBattery at a random moment; "+
		"rule `ups_on_battery == 1`, `for: 0s`, critical, routed to e-mail (Mailpit, time = the message's `Created`, i.e. SMTP DATA done) "+
		"and SMS (the Twilio-speaking test server of `internal/testpeer`, time = the POST). **trap**: the agent sends upsTrapOnBattery at the change "+
		"(vedetta polls the UPS at once). **poll**: no trap. Alertmanager: the same alert POSTed to `/api/v2/alerts`, time to the SMTP DATA at the same Mailpit.\n\n", o.upsRec)
	b.WriteString("| pipeline | trials | lost | e-mail p50 | e-mail p99 | SMS p50 | SMS p99 | e-mail p50 × vedetta trap's | note |\n|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
	var trapP50 time.Duration
	for _, l := range r.latency {
		if l.name == "trap" {
			trapP50 = pct(l.email, 0.5)
		}
	}
	for _, l := range r.latency {
		ratio := "n/a"
		if trapP50 > 0 && len(l.email) > 0 {
			ratio = fmt.Sprintf("%.0f", float64(pct(l.email, 0.5))/float64(trapP50))
		}
		name := "vedetta " + l.name
		if strings.HasPrefix(l.name, "alertmanager") {
			name = l.name
		}
		if len(l.email) == 0 && len(l.sms) == 0 {
			fmt.Fprintf(b, "| %s | %d | %d | n/a | n/a | n/a | n/a | n/a | %s |\n", name, l.trials, l.lost, l.note)
			continue
		}
		fmt.Fprintf(b, "| %s | %d | %d | %s | %s | %s | %s | %s | %s |\n", name, l.trials, l.lost, ms(pct(l.email, 0.5)), ms(pct(l.email, 0.99)),
			ms(pct(l.sms, 0.5)), ms(pct(l.sms, 0.99)), ratio, l.note)
	}

}

func (r *report) rulesMarkdown(b *strings.Builder) {
	b.WriteString("\n## 3. Rule evaluation\n\n`go test -run='^$' -bench=BenchmarkRuleEvaluation -benchmem -cpu=1 ./rules/` (100,000 series × 200 rules per cycle):\n\n")
	b.WriteString("| benchmark | ns/op (one cycle) | ns per series-rule | allocs/op | B/op | note |\n|---|---:|---:|---:|---:|---|\n")
	if !r.rules.present {
		fmt.Fprintf(b, "| BenchmarkRuleEvaluation | n/a | n/a | n/a | n/a | %s |\n", r.rules.note)
	} else {
		per, how := r.rules.nsOp/r.rules.seriesXRules, "ns/op ÷ (100,000 × 200)"
		if v, ok := r.rules.extraMetrics["ns/rule-series"]; ok {
			per, how = v, "as the benchmark reports it (ns/rule-series)"
		}
		fmt.Fprintf(b, "| %s | %.0f | %.2f (%s) | %.0f | %.0f | %s |\n", strings.Fields(r.rules.lines[0])[0], r.rules.nsOp, per, how,
			r.rules.allocs, r.rules.bytesOp, r.rules.note)
		b.WriteString("\nWhat the benchmark printed:\n\n```\n" + strings.Join(r.rules.lines, "\n") + "\n```\n")
	}

}

func (r *report) memoryMarkdown(b *strings.Builder) {
	o := r.o
	b.WriteString("\n## 4. Memory\n\n| targets | up | live series | VmRSS | VmHWM | note |\n|---:|---:|---:|---:|---:|---|\n")
	for _, m := range []memResult{r.mem, r.memLimited} {
		switch {
		case m.ok:
			fmt.Fprintf(b, "| %d | %d | %d | %.0f MB | %.0f MB | %s |\n", m.targets, m.up, m.series, m.rssMB, m.hwmMB, m.note)
		case m.note != "":
			fmt.Fprintf(b, "| %d | n/a | n/a | n/a | n/a | %s |\n", o.memTargets, m.note)
		}
	}
	if r.mem.heap != nil {
		fmt.Fprintf(b, "\nWhere the heap is (no memory limit; `/debug/pprof/heap`, inuse_space, taken after the RSS reading):\n\n")
		b.WriteString(r.mem.heap.markdown())
	}
}

// goals compares the results with issue 6's targets.
func (r *report) goals() string {
	var b strings.Builder
	b.WriteString("## Goals\n\n| goal | result | met |\n|---|---|---|\n")
	row := func(goal, result string, met *bool) {
		m := "n/a"
		if met != nil {
			m = map[bool]string{true: "yes", false: "**no**"}[*met]
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", goal, result, m)
	}
	yes := func(v bool) *bool { return &v }
	// The goals missed, by the profile that shows their remaining cost.
	var missedCPU, missedPollHeap, missedHeap, missedScale []string
	for _, sc := range r.scenarios {
		var v, worst float64
		var rest []string
		for _, x := range sc.results {
			if x.tool == toolVedetta && x.ok {
				v = x.perK()
				if sc.devices >= 1000 {
					// Issue 13: "RSS, 1,000 devices polling < 200 MB".
					goal := fmt.Sprintf("%d devices, %.0f %% dead: vedetta's peak RSS while polling < 200 MB", sc.devices, sc.dead*100)
					met := x.peakMB < 200
					row(goal, fmt.Sprintf("%.0f MB", x.peakMB), yes(met))
					if !met {
						missedPollHeap = append(missedPollHeap, goal)
					}
				}
				if sc.dead > 0 {
					goal := fmt.Sprintf("%d devices, %.0f %% dead: round well inside the %v interval", sc.devices, sc.dead*100, r.o.pollInterval)
					met := x.wall < r.o.pollInterval/2 && x.note == ""
					row(goal, ms(x.wall), yes(met))
					if !met {
						missedCPU = append(missedCPU, goal)
					}
				}
			}
		}
		for _, x := range sc.results {
			if (x.tool == toolExporter || x.tool == toolTelegraf) && x.ok && v > 0 {
				rest = append(rest, fmt.Sprintf("%s %.2f×", x.tool, x.perK()/v))
				if worst == 0 || x.perK()/v < worst {
					worst = x.perK() / v
				}
			}
		}
		if len(rest) > 0 {
			goal := fmt.Sprintf("%d devices, %.0f %% dead: CPU/1k varbinds ≤ 1/5 of snmp_exporter's and Telegraf's", sc.devices, sc.dead*100)
			row(goal, strings.Join(rest, ", "), yes(worst >= 5))
			if worst < 5 {
				missedCPU = append(missedCPU, goal)
			}
		}
	}
	for _, l := range r.latency {
		switch {
		case l.name == "trap" && len(l.email) > 0:
			p := max(pct(l.email, 0.99), pct(l.sms, 0.99))
			row("trap → SMS/e-mail p99 < 250 ms", "e-mail "+ms(pct(l.email, 0.99))+", SMS "+ms(pct(l.sms, 0.99)), yes(p < 250*time.Millisecond && l.lost == 0))
		case l.name == "poll" && len(l.email) > 0:
			p := max(pct(l.email, 0.99), pct(l.sms, 0.99))
			row(fmt.Sprintf("poll-detected → dispatched within interval + 100 ms (%v)", r.o.latencyInterval+100*time.Millisecond),
				"p99 e-mail "+ms(pct(l.email, 0.99))+", SMS "+ms(pct(l.sms, 0.99)), yes(p < r.o.latencyInterval+100*time.Millisecond && l.lost == 0))
		}
	}
	switch {
	case !r.o.only.has(secRules):
	case r.rules.present:
		row("rule evaluation 100,000 × 200 < 1 s on one core", fmt.Sprintf("%.3f s", r.rules.nsOp/1e9), yes(r.rules.nsOp < 1e9))
		row("no allocations per series in the steady state", fmt.Sprintf("%.0f allocs per cycle", r.rules.allocs), yes(r.rules.allocs < 100000))
	default:
		row("rule evaluation 100,000 × 200 < 1 s on one core", r.rules.note, nil)
	}
	for i, m := range []memResult{r.mem, r.memLimited} {
		if m.ok {
			how := "no memory limit"
			if i == 1 {
				how = "memory_limit: " + r.o.memLimit
			}
			goal := fmt.Sprintf("< 300 MB RSS for %d targets / ~500,000 series (%s)", m.targets, how)
			row(goal, fmt.Sprintf("%.0f MB (peak %.0f MB), %d series", m.rssMB, m.hwmMB, m.series), yes(m.hwmMB < 300))
			if m.hwmMB >= 300 {
				missedHeap = append(missedHeap, goal)
			}
		}
	}
	r.scaleGoals(func(goal, result string, met *bool) {
		row(goal, result, met)
		if met != nil && !*met {
			missedScale = append(missedScale, goal)
		}
	})
	// Each missed goal with the profile, the remaining cost by component.
	for _, m := range []struct {
		goals []string
		what  string
		t     *componentTable
	}{
		{missedCPU, fmt.Sprintf("vedetta's CPU at %d devices, 0 %% dead (section 1)", r.cpuProfileDevices), r.cpuProfile},
		{missedPollHeap, fmt.Sprintf("vedetta's heap after a round at %d devices, 0 %% dead (section 1)", r.cpuProfileDevices), r.pollHeap},
		{missedHeap, "vedetta's heap, no memory limit (section 4)", r.mem.heap},
		{missedScale, "vedetta's CPU in the scale scenario (section 1b)", r.scaleProfileOnly()},
	} {
		if len(m.goals) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\nMissed: %s. The profile, the remaining cost by component (%s):\n\n", strings.Join(m.goals, "; "), m.what)
		if m.t == nil {
			b.WriteString("no profile was taken (see the log).\n")
			continue
		}
		b.WriteString(m.t.markdown())
	}
	return b.String()
}
