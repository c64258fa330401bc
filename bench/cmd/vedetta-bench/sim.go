package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// sim is one or more running vedetta-sim processes: agent i listens on
// 127.0.0.1:base+i, whichever process serves it.
type sim struct {
	ps    []*proc
	base  int
	kinds []string // device name per agent
	alive []bool   // answers (ok or slow)
	slow  []bool   // answers after the simulator's --slow-delay
}

// target is the name of agent i's target in the daemon's config.
func (s *sim) target(i int) string { return fmt.Sprintf("%s-%d", s.kinds[i], i) }

func (s *sim) addr(i int) string { return fmt.Sprintf("127.0.0.1:%d", s.base+i) }

// cpu is the simulator's CPU seconds, every process of it.
func (s *sim) cpu() float64 {
	var sum float64
	for _, p := range s.ps {
		c, _ := cpuSeconds(p.pid())
		sum += c
	}
	return sum
}

func (s *sim) stop() {
	for _, p := range s.ps {
		p.stop()
	}
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

// agentsPerSim is how many agents one simulator process serves at most: it
// holds a socket per agent, and the bench cannot always raise ulimit -n
// (in a container, not even root can), so more agents than the limit
// allows are shared out among several processes. The chunk is a multiple
// of the mix's period so that every process deals the devices in the same
// order as one would.
func agentsPerSim(nofile uint64, mix string) int {
	period := 0
	for _, f := range strings.Split(mix, ",") {
		_, w, _ := strings.Cut(f, ":")
		n, err := strconv.Atoi(w)
		if err != nil || n < 1 {
			n = 1
		}
		period += n
	}
	per := int(nofile) - 512 // stdio, the Go runtime, the admin listener
	return max(period, per/period*period)
}

// startSim runs the simulator with agents agents over devices (name=file)
// mixed by mix, and waits for its ready line and port table; extra are
// more flags (--slow). Past agentsPerSim agents it runs several processes
// on consecutive port ranges, each choosing its own dead and slow share.
func startSim(ctx context.Context, o *options, agents int, dead float64, devices []string, mix string, extra ...string) (*sim, error) {
	base, err := freeUDPRange(agents)
	if err != nil {
		return nil, err
	}
	nofile, _ := raiseNoFile(uint64(agents + 512))
	per := agentsPerSim(nofile, mix)
	s := &sim{base: base, kinds: make([]string, agents), alive: make([]bool, agents), slow: make([]bool, agents)}
	for first := 0; first < agents; first += per {
		n := min(per, agents-first)
		args := []string{"--listen", "127.0.0.1", "--base-port", strconv.Itoa(base + first), "--agents", strconv.Itoa(n),
			"--mix", mix, "--seed", "1", "--community", o.community, "--dead", strconv.FormatFloat(dead, 'f', -1, 64)}
		for _, d := range devices {
			args = append(args, "--device", d)
		}
		args = append(args, extra...)
		p, err := startProc(ctx, "", nil, o.tools.sim, args...)
		if err != nil {
			s.stop()
			return nil, err
		}
		s.ps = append(s.ps, p)
	}
	for _, p := range s.ps {
		if err := s.readTable(p); err != nil {
			s.stop()
			return nil, err
		}
	}
	for i, k := range s.kinds {
		if k == "" {
			s.stop()
			return nil, fmt.Errorf("vedetta-sim printed no line for agent %d", i)
		}
	}
	return s, nil
}

// readTable waits for one process's ready line and reads its port table.
func (s *sim) readTable(p *proc) error {
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(p.output(), "vedetta-sim ready") {
		if p.exited() || time.Now().After(deadline) {
			return fmt.Errorf("vedetta-sim did not start: %s", tail(p.output(), 600))
		}
		time.Sleep(50 * time.Millisecond)
	}
	sc := bufio.NewScanner(strings.NewReader(p.output()))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) < 4 || !strings.HasPrefix(f[0], "127.0.0.1:") {
			continue
		}
		port, _ := strconv.Atoi(strings.TrimPrefix(f[0], "127.0.0.1:"))
		if i := port - s.base; i >= 0 && i < len(s.kinds) {
			s.kinds[i], s.alive[i], s.slow[i] = f[1], f[3] != "dead", f[3] == "slow"
		}
	}
	return nil
}

// daemon is a running `vedetta run`.
type daemon struct {
	p     *proc
	http  string
	dir   string
	token string // the API token (http.token), for /debug/pprof
}

// startVedetta writes cfg (a YAML body without http/state_dir) to a fresh
// folder and runs the daemon on it until /healthz answers.
func startVedetta(ctx context.Context, o *options, name, body string) (*daemon, error) {
	dir, err := os.MkdirTemp(o.work, name+"-")
	if err != nil {
		return nil, err
	}
	port := freeTCPPort()
	token := rand.Text() // /debug/pprof answers only with the API token
	cfg := fmt.Sprintf("site: bench\nstate_dir: %s\nhttp:\n  listen: 127.0.0.1:%d\n  token: %s\nlog:\n  level: warn\n%s", filepath.Join(dir, "state"), port, token, body)
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
	d := &daemon{p: p, http: fmt.Sprintf("http://127.0.0.1:%d", port), dir: dir, token: token}
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
		fmt.Fprintf(&b, "  - {name: %s, kind: snmp, class: %s, interval: %s, snmp: {address: \"%s\", community: %s}}\n",
			s.target(i), classOf(k), interval, s.addr(i), o.community)
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

// collection is a target's latest collection as /metrics tells it.
type collection struct {
	start time.Time
	dur   time.Duration
	wait  time.Duration // for a collection slot, before start
	up    bool
}

// scrapeRound reads /metrics once and summarizes the collections that
// started after since.
func scrapeRound(ctx context.Context, url string, since time.Time) (roundInfo, error) {
	var ri roundInfo
	cs, series, err := scrapeCollections(ctx, url)
	ri.series = series
	for _, c := range cs {
		if c.start.Before(since) {
			continue
		}
		if c.up {
			ri.up++
		}
		ri.targets++
		end := c.start.Add(c.dur)
		if ri.start.IsZero() || c.start.Before(ri.start) {
			ri.start = c.start
		}
		if end.After(ri.end) {
			ri.end = end
		}
	}
	return ri, err
}

// scrapeCollections reads /metrics once: every target's latest collection
// (a target that never finished one is absent) and the number of series.
func scrapeCollections(ctx context.Context, url string) (map[string]collection, int, error) {
	series := 0
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(cctx, http.MethodGet, url+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	up, dur, wait, started := map[string]float64{}, map[string]float64{}, map[string]float64{}, map[string]time.Time{}
	for sc.Scan() {
		l := sc.Text()
		if l == "" || l[0] == '#' {
			continue
		}
		if strings.HasPrefix(l, "go_") || strings.HasPrefix(l, "process_") || strings.HasPrefix(l, "promhttp_") {
			continue
		}
		series++
		// /metrics has no sample timestamps: a collection's start is its
		// vedetta_collection_start_timestamp_seconds, joined by target.
		var kind string
		for _, k := range []string{"vedetta_collection_duration_seconds{", "vedetta_target_up{", "vedetta_collection_start_timestamp_seconds{", "vedetta_collection_wait_seconds{"} {
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
		case "vedetta_collection_wait_seconds{":
			wait[t] = v
		default:
			started[t] = time.Unix(0, int64(v*1e9))
		}
	}
	cs := make(map[string]collection, len(started))
	for t, ts := range started {
		cs[t] = collection{start: ts, dur: time.Duration(dur[t] * float64(time.Second)), wait: time.Duration(wait[t] * float64(time.Second)), up: up[t] == 1}
	}
	return cs, series, sc.Err()
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
