package main

import (
	"fmt"
	"strings"
)

// scaleMarkdown is the scale section: a row per size, where it stops, and
// the profile of the largest size that kept its round.
func (r *report) scaleMarkdown(b *strings.Builder) {
	o := r.o
	iv := o.pollInterval
	b.WriteString("## 1b. Scale: vedetta alone\n\n")
	fmt.Fprintf(b, "vedetta alone: no peers run at these sizes (section 1 compares them). N devices = 2N agents of `cmd/vedetta-sim`, "+
		"the UPS + switch mix of section 1, `--dead %.2f --slow %.2f --slow-delay %v`: a slow agent answers each request %v late, "+
		"under the SNMP request timeout (2 s, 1 retry) so it is slow and not dead, and a switch's requests in a row still end "+
		"inside the target's deadline (4/5 of the interval; the slow agents' rounds are in the table). `interval: %v`, `configs/rules.d/snmp.yaml`. Round 1 auto-detects; rounds 2 and 3 "+
		"are measured, with one `/metrics` scrape after each (as a Prometheus scraping every interval would: its cost is in the CPU). "+
		"**Kept** = for every answering target, round 3 started within interval + %v of round 2 "+
		"(`vedetta_collection_start_timestamp_seconds`) and both rounds finished inside the interval (`vedetta_collection_duration_seconds`). "+
		"**Slots busy** = round 3's (or, when its scrape failed, round 2's) collection times summed over every target (dead ones too) ÷ the scheduler's slots (`max_concurrent_collections`, default: one per 16 targets, 64..1,024; `config.DefaultMaxConcurrent`): the least wall time the round needs, however many cores; **slot wait** = the longest an answering target's round 3 waited for a slot (`vedetta_collection_wait_seconds`). CPU is utime+stime per interval over both rounds; fds and sockets are the most seen in `/proc/<pid>/fd`; the simulator's drops are "+
		"the `drops` of its sockets in `/proc/net/udp`; the simulator holds one socket per agent, so past `ulimit -n` it runs as several processes (its CPU is their sum).\n\n",
		scaleDead, scaleSlow, scaleSlowDelay(iv), scaleSlowDelay(iv), iv, gapSlack)
	b.WriteString("| devices | agents (answering / slow) | kept the round | max gap | round p99 | round max (slow agents') | up | CPU s / interval | CPU s / 1k varbinds | simulator CPU s / interval | core-seconds used | peak RSS | slots busy | slot wait | fds (sockets) | ulimit -n | simulator drops | load avg | note |\n")
	b.WriteString("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|\n")
	for _, x := range r.scale {
		if !x.ok {
			fmt.Fprintf(b, "| %d | %d | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | %d | n/a | n/a | %s |\n", x.devices, x.agents, x.nofile, x.note)
			continue
		}
		note := strings.TrimPrefix(x.note+fmt.Sprintf("; /metrics: %d series, scraped in %s", x.series, ms(x.scrape)), "; ")
		if x.scrapeErr != "" {
			note += "; " + x.scrapeErr
		}
		if x.late > 0 || x.unfinished > 0 {
			note = strings.TrimPrefix(note+fmt.Sprintf("; %d targets late, %d without round 3 seen", x.late, x.unfinished), "; ")
		}
		kept, gap, p99, longest, up := yesNo(x.kept), ms(x.maxGap), ms(x.p99Dur), fmt.Sprintf("%s (%s)", ms(x.maxDur), ms(x.maxSlowDur)), fmt.Sprintf("%d/%d", x.up, x.alive)
		if x.scrapeErr != "" {
			kept, gap, p99, longest, up = "n/a (no /metrics)", "n/a", "n/a", "n/a", "n/a"
		}
		fmt.Fprintf(b, "| %d | %d (%d / %d) | %s | %s | %s | %s | %s | %.2f | %.4f | %.2f | %.1f of %.0f (%.0f %%) | %.0f MB | %s of %v (%.0f %%) | %s | %d (%d) | %d | %d | %s | %s |\n",
			x.devices, x.agents, x.alive, x.slow, kept, gap, p99, longest, up,
			x.cpu, x.perK(), x.simCPU, x.cpu+x.simCPU, x.coreSeconds(), 100*(x.cpu+x.simCPU)/x.coreSeconds(), x.peakMB, ms(x.busy), x.interval, 100*x.busy.Seconds()/x.interval.Seconds(), ms(x.maxWait), x.fds, x.socks, x.nofile,
			x.simDrops, x.load, note)
	}
	b.WriteString("\n" + r.scaleVerdict() + "\n")
	if p, n, kept := r.scaleProfile(); p != nil {
		what := "the largest size that kept its round"
		if !kept {
			what = "no size kept its round: the smallest measured"
		}
		fmt.Fprintf(b, "\nWhere vedetta's CPU goes at %d devices (%s; a CPU profile over %s of round 3 and its scrape):\n\n", n, what, p.span)
		b.WriteString(p.markdown())
	}
	b.WriteString("\n")
}

func yesNo(v bool) string {
	if v {
		return "yes"
	}
	return "**no**"
}

// scaleVerdict says where vedetta stops: the first size that did not keep
// its round and what limited it, or how much room is left.
func (r *report) scaleVerdict() string {
	var last *scaleResult
	for _, x := range r.scale {
		if !x.ok {
			return fmt.Sprintf("**Where it stops**: %d devices were not measured (%s).", x.devices, x.note)
		}
		if x.scrapeErr != "" {
			return fmt.Sprintf("**Where it stops**: at %d devices the rounds could not be read: %s.", x.devices, x.limit())
		}
		if !x.kept {
			return fmt.Sprintf("**Where it stops**: %d devices, the first size that does not keep the %v round; the limit as measured: %s.",
				x.devices, x.interval, x.limit())
		}
		last = x
	}
	if last == nil {
		return "**Where it stops**: no size measured."
	}
	used := last.cpu + last.simCPU
	return fmt.Sprintf("**Where it stops**: kept up to %d devices (every size measured). Headroom at %d: vedetta + simulator used %.1f of the %.0f core-seconds of an interval (%.0f %%; vedetta %.1f, simulator %.1f); the scheduler's slots were busy %.0f %% of it.",
		last.devices, last.devices, used, last.coreSeconds(), 100*used/last.coreSeconds(), last.cpu, last.simCPU, 100*last.busy.Seconds()/last.interval.Seconds())
}

// scaleProfile is the CPU profile of the largest size that kept its round
// or, when none did, of the smallest measured one.
func (r *report) scaleProfile() (*componentTable, int, bool) {
	var best *scaleResult
	for _, x := range r.scale {
		if x.ok && x.kept && x.profile != nil {
			best = x
		}
	}
	if best != nil {
		return best.profile, best.devices, true
	}
	for _, x := range r.scale {
		if x.ok && x.profile != nil {
			return x.profile, x.devices, false
		}
	}
	return nil, 0, false
}

// scaleGoals are the goal rows of the scale section.
func (r *report) scaleGoals(row func(goal, result string, met *bool)) {
	for _, x := range r.scale {
		goal := fmt.Sprintf("%d devices, %.0f %% dead, %.0f %% slow, vedetta alone: keeps the %v round", x.devices, scaleDead*100, scaleSlow*100, x.interval)
		if !x.ok || x.scrapeErr != "" {
			row(goal, strings.TrimPrefix(x.note+"; "+x.scrapeErr, "; "), nil)
			continue
		}
		kept := x.kept
		row(goal, fmt.Sprintf("max gap %s, round p99 %s, CPU %.1f of %.0f core-seconds", ms(x.maxGap), ms(x.p99Dur), x.cpu+x.simCPU, x.coreSeconds()), &kept)
	}
}

func (r *report) scaleProfileOnly() *componentTable {
	t, _, _ := r.scaleProfile()
	return t
}
