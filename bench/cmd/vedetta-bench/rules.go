package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ruleResult is what `go test -bench=BenchmarkRuleEvaluation` printed.
type ruleResult struct {
	present      bool
	lines        []string // the benchmark result lines, verbatim
	nsOp, allocs float64  // of the first result line
	bytesOp      float64
	seriesXRules float64 // 100,000 × 200 unless the name says otherwise
	note         string
	extraMetrics map[string]float64
}

var benchLine = regexp.MustCompile(`^(BenchmarkRuleEvaluation\S*)\s+(\d+)\s+(.*)$`)

// ruleBench runs the rules engine's benchmark on one core.
func ruleBench(ctx context.Context, o *options) ruleResult {
	res := ruleResult{seriesXRules: 100000 * 200, extraMetrics: map[string]float64{}}
	args := []string{"test", "-run=^$", "-bench=BenchmarkRuleEvaluation", "-benchmem", "-cpu=1", "-count=1"}
	if o.smoke {
		args = append(args, "-benchtime=1x")
	}
	args = append(args, "./rules/")
	r := runCmd(ctx, 10*time.Minute, o.repo, goEnv, "go", args...)
	for _, l := range strings.Split(r.out, "\n") {
		m := benchLine.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil {
			continue
		}
		res.lines = append(res.lines, strings.Join(strings.Fields(l), " "))
		if res.present {
			continue
		}
		res.present = true
		f := strings.Fields(m[3])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				res.nsOp = v
			case "allocs/op":
				res.allocs = v
			case "B/op":
				res.bytesOp = v
			default:
				res.extraMetrics[f[i+1]] = v
			}
		}
	}
	if !res.present {
		res.note = "benchmark not present"
		if r.exitError != nil && !strings.Contains(r.out, "no test files") && strings.Contains(r.out, "FAIL") {
			res.note = "benchmark not present or failing: " + firstLine(tail(r.out, 200))
		}
		slog.Warn("rule evaluation", "note", res.note)
	}
	return res
}

// memResult is vedetta's memory with many targets and series.
type memResult struct {
	targets, up, series int
	rssMB, hwmMB        float64
	note                string
	ok                  bool
	heap                *componentTable // without a limit: where the heap is, after the RSS reading
}

// memoryRun: o.memTargets SNMP targets on the simulator serving a
// recording of ~480 series each (dnos_z9100-on), the SNMP rule file, the
// default windows; RSS after three rounds. limit, when set, is the
// daemon's memory_limit (its Go soft memory limit).
func memoryRun(ctx context.Context, o *options, limit string) memResult {
	res := memResult{}
	s, err := startSim(ctx, o, o.memTargets, 0, []string{"switch=" + filepath.Join(o.snmprec, o.memRec)}, "switch:1")
	if err != nil {
		res.note = err.Error()
		return res
	}
	defer s.stop()
	iv := o.memInterval
	body := snmpTargets(s, o, iv.String()) + "rule_files: [" + filepath.Join(o.repo, "configs", "rules.d", "snmp.yaml") + "]\n"
	if limit != "" {
		body += "memory_limit: " + limit + "\n"
	}
	t0 := time.Now()
	d, err := startVedetta(ctx, o, "memory", body)
	if err != nil {
		res.note = firstLine(err.Error())
		return res
	}
	defer d.p.stop()
	if sleepCtx(ctx, time.Until(t0.Add(3*iv-iv/20))) != nil {
		return res
	}
	res.hwmMB, res.rssMB = memMB(d.p.pid())
	if limit == "" {
		// After the RSS reading: the profile's own allocations stay out of it.
		if res.heap, err = heapProfile(ctx, o, d, "heap-memory"); err != nil {
			slog.Warn("memory: heap profile", "err", err)
		}
	}
	ri, err := scrapeRound(ctx, d.http, t0.Add(2*iv-iv/2))
	if err != nil {
		res.note = "scrape: " + err.Error()
		return res
	}
	res.targets, res.up, res.series, res.ok = len(s.kinds), ri.up, ri.series, true
	res.note = fmt.Sprintf("%s, interval %v, after 3 rounds; live series counted on /metrics after the RSS reading", o.memRec, iv)
	if limit != "" {
		res.note = "`memory_limit: " + limit + "`; " + res.note
	} else {
		res.note = "no memory limit (none in the config, no cgroup memory.max); " + res.note
	}
	return res
}
