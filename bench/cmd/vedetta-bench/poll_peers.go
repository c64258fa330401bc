package main

// The peers' rounds of the poll-cost scenarios: snmp_exporter, Telegraf,
// net-snmp snmpbulkwalk, each measured as vedettaRound measures vedetta.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// exporter is a running snmp_exporter.
type exporter struct {
	p   *proc
	url string
	hc  *http.Client
}

func startExporter(ctx context.Context, o *options) (*exporter, error) {
	dir, err := os.MkdirTemp(o.work, "snmp_exporter-")
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "snmp.yml")
	if err := os.WriteFile(cfg, []byte(exporterYAML(o.community)), 0o644); err != nil {
		return nil, err
	}
	port := freeTCPPort()
	p, err := startProc(ctx, dir, nil, o.tools.exporter, "--config.file="+cfg, fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--log.level=warn")
	if err != nil {
		return nil, err
	}
	ex := &exporter{p: p, url: fmt.Sprintf("http://127.0.0.1:%d", port), hc: &http.Client{Timeout: 60 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 128}}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if r, err := http.Get(ex.url + "/"); err == nil {
			r.Body.Close()
			return ex, nil
		}
		if p.exited() || time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("snmp_exporter did not start: %s", tail(p.output(), 800))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (ex *exporter) scrape(ctx context.Context, target, module string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ex.url+"/snmp?auth=bench&module="+module+"&target="+target, nil)
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "30")
	r, err := ex.hc.Do(req)
	if err != nil {
		return err
	}
	defer r.Body.Close()
	_, err = io.Copy(io.Discard, r.Body)
	if r.StatusCode != 200 {
		return fmt.Errorf("HTTP %d", r.StatusCode)
	}
	return err
}

// scrapeAll is one Prometheus round: every agent once, o.concurrency at a time.
func (ex *exporter) scrapeAll(ctx context.Context, o *options, s *sim) (errs int64) {
	var wg sync.WaitGroup
	var failed atomic.Int64
	jobs := make(chan int)
	for w := 0; w < o.concurrency; w++ {
		wg.Go(func() {
			for i := range jobs {
				if ex.scrape(ctx, s.addr(i), s.kinds[i]) != nil {
					failed.Add(1)
				}
			}
		})
	}
	for i := range s.kinds {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return failed.Load()
}

func exporterRound(ctx context.Context, o *options, s *sim) pollResult {
	res := pollResult{tool: toolExporter}
	ex, err := startExporter(ctx, o)
	if err != nil {
		res.note = err.Error()
		return res
	}
	defer ex.p.stop()
	ex.scrapeAll(ctx, o, s) // warm-up round, like vedetta's first
	c1, s1, start := mustCPU(ex.p.pid()), s.cpu(), time.Now()
	ex.scrapeAll(ctx, o, s)
	res.wall = time.Since(start)
	res.cpu, res.simCPU = mustCPU(ex.p.pid())-c1, s.cpu()-s1
	res.peakMB, _ = memMB(ex.p.pid())
	res.ok = ctx.Err() == nil
	return res
}

func runTelegraf(ctx context.Context, o *options, ups, switches []string) runResult {
	dir, err := os.MkdirTemp(o.work, "telegraf-")
	if err != nil {
		return runResult{exitError: err}
	}
	cfg := filepath.Join(dir, "telegraf.conf")
	if err := os.WriteFile(cfg, []byte(telegrafConf(o.community, ups, switches)), 0o644); err != nil {
		return runResult{exitError: err}
	}
	return runCmd(ctx, 5*time.Minute, dir, nil, o.tools.telegraf, "--config", cfg, "--once")
}

// telegrafRound is `telegraf --once`: one gather of every agent and a
// flush to outputs.discard, CPU and peak RSS from the process's rusage
// (start-up included: a few tens of ms).
func telegrafRound(ctx context.Context, o *options, s *sim) pollResult {
	res := pollResult{tool: toolTelegraf}
	var ups, sw []string
	for i, k := range s.kinds {
		if k == "ups" {
			ups = append(ups, s.addr(i))
		} else {
			sw = append(sw, s.addr(i))
		}
	}
	s1 := s.cpu()
	r := runTelegraf(ctx, o, ups, sw)
	res.simCPU = s.cpu() - s1
	res.cpu, res.wall, res.peakMB = r.cpu, r.wall, r.maxRSSMB
	if r.exitError != nil && !strings.Contains(r.out, "Error in plugin") {
		res.note = "failed: " + firstLine(tail(r.out, 200))
		return res
	}
	res.ok, res.note = true, "--once (one gather, start-up included)"
	return res
}

// bulkwalkJobs are the net-snmp commands that fetch one device: a GET of
// the UPS scalars and a bulk walk of each whole table vedetta reads.
func bulkwalkJobs(o *options, addr, kind string) [][]string {
	common := []string{"-v2c", "-c", o.community, "-m", "", "-On", "-Oq", "-t", "2", "-r", "1"}
	var out [][]string
	tables := []string{"1.3.6.1.2.1.2.2.1", "1.3.6.1.2.1.31.1.1.1"}
	if kind == "ups" {
		out = append(out, append(append([]string{"snmpget"}, common...), append([]string{addr}, apcUPSScalars...)...))
		tables = append(tables, "1.3.6.1.4.1.318.1.1.25.1.2.1")
	} else {
		tables = append(tables, "1.3.6.1.4.1.11.2.14.11.1.2.6.1", "1.3.6.1.2.1.99.1.1.1", "1.3.6.1.2.1.47.1.1.1.1")
	}
	for _, t := range tables {
		out = append(out, append(append([]string{"snmpbulkwalk", "-Cr25"}, common...), addr, t))
	}
	return out
}

// bulkwalkRound runs every job with o.concurrency workers; CPU and peak
// RSS are the children's rusage (sum and max).
func bulkwalkRound(ctx context.Context, o *options, s *sim) pollResult {
	res := pollResult{tool: toolBulkwalk}
	var jobs [][]string
	for i, k := range s.kinds {
		jobs = append(jobs, bulkwalkJobs(o, s.addr(i), k)...)
	}
	ch := make(chan []string)
	var mu sync.Mutex
	var wg sync.WaitGroup
	s1, start := s.cpu(), time.Now()
	for w := 0; w < o.concurrency; w++ {
		wg.Go(func() {
			for j := range ch {
				r := runCmd(ctx, 30*time.Second, "", nil, j[0], j[1:]...)
				mu.Lock()
				res.cpu += r.cpu
				res.peakMB = max(res.peakMB, r.maxRSSMB)
				mu.Unlock()
			}
		})
	}
	for _, j := range jobs {
		select {
		case ch <- j:
		case <-ctx.Done():
		}
	}
	close(ch)
	wg.Wait()
	res.wall, res.simCPU = time.Since(start), s.cpu()-s1
	res.ok = ctx.Err() == nil
	res.note = fmt.Sprintf("%d processes (whole tables), %d at a time; peak RSS of one", len(jobs), o.concurrency)
	return res
}
