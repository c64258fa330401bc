package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// sim is a running vedetta-sim: agent i listens on 127.0.0.1:base+i.
type sim struct {
	p     *proc
	base  int
	kinds []string // device name per agent
	alive []bool
}

func (s *sim) addr(i int) string { return fmt.Sprintf("127.0.0.1:%d", s.base+i) }

func (s *sim) cpu() float64 {
	c, _ := cpuSeconds(s.p.pid())
	return c
}

// aliveOf counts the answering agents of one kind.
func (s *sim) aliveOf(kind string) int {
	n := 0
	for i, k := range s.kinds {
		if k == kind && s.alive[i] {
			n++
		}
	}
	return n
}

// startSim runs the simulator with agents agents over devices (name=file)
// mixed by mix, and waits for its ready line and port table.
func startSim(ctx context.Context, o *options, agents int, dead float64, devices []string, mix string) (*sim, error) {
	base, err := freeUDPRange(agents)
	if err != nil {
		return nil, err
	}
	args := []string{"--listen", "127.0.0.1", "--base-port", strconv.Itoa(base), "--agents", strconv.Itoa(agents),
		"--mix", mix, "--seed", "1", "--community", o.community, "--dead", strconv.FormatFloat(dead, 'f', -1, 64)}
	for _, d := range devices {
		args = append(args, "--device", d)
	}
	p, err := startProc(ctx, "", nil, o.tools.sim, args...)
	if err != nil {
		return nil, err
	}
	s := &sim{p: p, base: base}
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(p.output(), "vedetta-sim ready") {
		if p.exited() || time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("vedetta-sim did not start: %s", tail(p.output(), 600))
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.kinds, s.alive = make([]string, agents), make([]bool, agents)
	sc := bufio.NewScanner(strings.NewReader(p.output()))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) < 4 || !strings.HasPrefix(f[0], "127.0.0.1:") {
			continue
		}
		port, _ := strconv.Atoi(strings.TrimPrefix(f[0], "127.0.0.1:"))
		if i := port - base; i >= 0 && i < agents {
			s.kinds[i], s.alive[i] = f[1], f[3] != "dead"
		}
	}
	for i, k := range s.kinds {
		if k == "" {
			p.stop()
			return nil, fmt.Errorf("vedetta-sim printed no line for agent %d", i)
		}
	}
	return s, nil
}

// daemon is a running `vedetta run`.
type daemon struct {
	p    *proc
	http string
	dir  string
}

// startVedetta writes cfg (a YAML body without http/state_dir) to a fresh
// folder and runs the daemon on it until /healthz answers.
func startVedetta(ctx context.Context, o *options, name, body string) (*daemon, error) {
	dir, err := os.MkdirTemp(o.work, name+"-")
	if err != nil {
		return nil, err
	}
	port := freeTCPPort()
	cfg := fmt.Sprintf("site: bench\nstate_dir: %s\nhttp:\n  listen: 127.0.0.1:%d\nlog:\n  level: warn\n%s", filepath.Join(dir, "state"), port, body)
	path := filepath.Join(dir, "vedetta.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	if r := runCmd(ctx, time.Minute, dir, nil, o.tools.vedetta, "check", "--config", path); r.exitError != nil {
		return nil, fmt.Errorf("vedetta check %s: %v\n%s", path, r.exitError, tail(r.out, 1500))
	}
	p, err := startProc(ctx, dir, nil, o.tools.vedetta, "run", "--config", path)
	if err != nil {
		return nil, err
	}
	d := &daemon{p: p, http: fmt.Sprintf("http://127.0.0.1:%d", port), dir: dir}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if r, err := http.Get(d.http + "/healthz"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return d, nil
			}
		}
		if p.exited() || time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("vedetta did not start: %s", tail(p.output(), 1500))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// snmpTargets is the targets: section for every agent of s.
func snmpTargets(s *sim, o *options, interval string) string {
	var b strings.Builder
	b.WriteString("targets:\n")
	for i, k := range s.kinds {
		fmt.Fprintf(&b, "  - {name: %s-%d, kind: snmp, class: %s, interval: %s, snmp: {address: \"%s\", community: %s}}\n",
			k, i, classOf(k), interval, s.addr(i), o.community)
	}
	return b.String()
}

func classOf(kind string) string {
	if kind == "ups" {
		return "ups"
	}
	return "switch"
}

// roundInfo is what /metrics says about the latest collection of every
// target: how many, when the round started and ended, how many series.
type roundInfo struct {
	targets, up, series int
	start, end          time.Time
}

// scrapeRound reads /metrics once and summarizes the collections that
// started after since.
func scrapeRound(ctx context.Context, url string, since time.Time) (roundInfo, error) {
	var ri roundInfo
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(cctx, http.MethodGet, url+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ri, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	up, dur, started := map[string]float64{}, map[string]float64{}, map[string]time.Time{}
	for sc.Scan() {
		l := sc.Text()
		if l == "" || l[0] == '#' {
			continue
		}
		if strings.HasPrefix(l, "go_") || strings.HasPrefix(l, "process_") || strings.HasPrefix(l, "promhttp_") {
			continue
		}
		ri.series++
		// /metrics has no sample timestamps: a collection's start is its
		// vedetta_collection_start_timestamp_seconds, joined by target.
		var kind string
		for _, k := range []string{"vedetta_collection_duration_seconds{", "vedetta_target_up{", "vedetta_collection_start_timestamp_seconds{"} {
			if strings.HasPrefix(l, k) {
				kind = k
			}
		}
		if kind == "" {
			continue
		}
		end := strings.LastIndexByte(l, '}')
		f := strings.Fields(l[end+1:])
		if len(f) != 1 {
			continue
		}
		v, _ := strconv.ParseFloat(f[0], 64)
		t := targetLabel(l[:end])
		switch kind {
		case "vedetta_target_up{":
			up[t] = v
		case "vedetta_collection_duration_seconds{":
			dur[t] = v
		default:
			started[t] = time.Unix(0, int64(v*1e9))
		}
	}
	for t, ts := range started {
		if ts.Before(since) {
			continue
		}
		if up[t] == 1 {
			ri.up++
		}
		ri.targets++
		end := ts.Add(time.Duration(dur[t] * float64(time.Second)))
		if ri.start.IsZero() || ts.Before(ri.start) {
			ri.start = ts
		}
		if end.After(ri.end) {
			ri.end = end
		}
	}
	return ri, sc.Err()
}

// targetLabel is the value of target="..." in a /metrics line's labels.
func targetLabel(labels string) string {
	// {target= or ,target=: not exported_target=.
	i := strings.Index(labels, `{target="`)
	if i < 0 {
		i = strings.Index(labels, `,target="`)
	}
	if i < 0 {
		return ""
	}
	rest := labels[i+len(`,target="`):]
	if j := strings.IndexByte(rest, '"'); j >= 0 {
		return rest[:j]
	}
	return rest
}
