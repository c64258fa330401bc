package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// config is the parsed command line.
type config struct {
	listen      string
	basePort    int
	agents      int // 0: one per device (or per mix slot)
	devices     []device
	dataDir     string
	mix         []mixPart
	dead, slow  float64
	slowDelay   time.Duration
	seed        uint64
	community   string
	singlePort  bool
	counterRate float64
	maxMsg      int
	stats       bool
	statsEvery  time.Duration
	quiet       bool
	admin       string // --admin HOST:PORT (loopback), "" = off
}

type device struct{ name, path string }

type mixPart struct {
	name   string
	weight int
}

// deviceList is the repeatable --device NAME=PATH flag.
type deviceList []device

func (d *deviceList) String() string { return fmt.Sprint(*d) }
func (d *deviceList) Set(v string) error {
	name, path, ok := strings.Cut(v, "=")
	if !ok {
		path, name = v, recordingName(v)
	}
	if name == "" || path == "" {
		return fmt.Errorf("want NAME=PATH, got %q", v)
	}
	*d = append(*d, device{name, path})
	return nil
}

func parseMix(s string) ([]mixPart, error) {
	var out []mixPart
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		name, w, ok := strings.Cut(p, ":")
		weight := 1
		if ok {
			n, err := strconv.Atoi(w)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("--mix: bad weight in %q", p)
			}
			weight = n
		}
		out = append(out, mixPart{name, weight})
	}
	return out, nil
}

// parseFlags reads the command line (args without the program name).
func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	var devs deviceList
	var mix string
	fs := flag.NewFlagSet("vedetta-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: vedetta-sim [flags]   (see `go doc ./cmd/vedetta-sim`)")
		fs.PrintDefaults()
	}
	fs.StringVar(&c.listen, "listen", "127.0.0.1", "IP address the agents listen on")
	fs.IntVar(&c.basePort, "base-port", 20000, "UDP port of agent 0; agent i listens on base-port+i")
	fs.IntVar(&c.agents, "agents", 0, "number of agents (default: one per device, or per --mix slot)")
	fs.Var(&devs, "device", "NAME=PATH of a .snmprec recording (repeatable)")
	fs.StringVar(&c.dataDir, "data-dir", "", "folder of *.snmprec recordings: one device per file, named after the file")
	fs.StringVar(&mix, "mix", "", "round-robin weights of devices over agents, e.g. ups:1,switch:1 (default: each device once)")
	fs.Float64Var(&c.dead, "dead", 0, "fraction of agents that never answer (0..1)")
	fs.Float64Var(&c.slow, "slow", 0, "fraction of agents that answer after --slow-delay (0..1)")
	fs.DurationVar(&c.slowDelay, "slow-delay", 2*time.Second, "delay of the slow agents")
	fs.Uint64Var(&c.seed, "seed", 1, "seed choosing dead/slow agents and counter rates")
	fs.StringVar(&c.community, "community", "public", "SNMP community of every agent (not with --single-port)")
	fs.BoolVar(&c.singlePort, "single-port", false, "serve every device on --base-port; the community is the device name")
	fs.Float64Var(&c.counterRate, "counter-rate", 0, "Counter32/64 increase per second (0.5x-1.5x per agent and OID); also advances sysUpTime. 0: static values")
	fs.IntVar(&c.maxMsg, "max-msg", 65507, "largest response in bytes (GETBULK is cut to fit; GET/GETNEXT answer tooBig)")
	fs.BoolVar(&c.stats, "stats", false, "print requests served per second to stderr")
	fs.DurationVar(&c.statsEvery, "stats-interval", 10*time.Second, "interval of --stats")
	fs.BoolVar(&c.quiet, "quiet", false, "do not print the port → recording table")
	fs.StringVar(&c.admin, "admin", "", "serve the admin endpoint (POST /set, POST /reset, GET /values) on this loopback HOST:PORT; off by default")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	c.devices = devs
	var err error
	if c.mix, err = parseMix(mix); err != nil {
		return c, err
	}
	switch {
	case len(c.devices) == 0 && c.dataDir == "":
		return c, errors.New("give at least one --device NAME=PATH or --data-dir DIR")
	case c.dead < 0 || c.slow < 0 || c.dead+c.slow > 1:
		return c, errors.New("--dead and --slow are fractions whose sum is at most 1")
	case c.basePort < 1 || c.basePort > 65535:
		return c, errors.New("--base-port must be 1..65535")
	case c.agents < 0:
		return c, errors.New("--agents must be positive")
	case c.maxMsg < 484 || c.maxMsg > 65507:
		return c, errors.New("--max-msg must be 484..65507")
	case c.counterRate < 0:
		return c, errors.New("--counter-rate must be >= 0")
	case c.singlePort && c.agents > 0:
		return c, errors.New("--single-port serves each device once: drop --agents")
	}
	if c.admin != "" {
		if err := checkAdminAddr(c.admin); err != nil {
			return c, err
		}
	}
	return c, nil
}

// loadDevices reads every recording named by --device and --data-dir.
func loadDevices(c config) ([]*recording, error) {
	devs := append([]device(nil), c.devices...)
	if c.dataDir != "" {
		files, err := filepath.Glob(filepath.Join(c.dataDir, "*.snmprec"))
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("--data-dir %s: no *.snmprec file", c.dataDir)
		}
		sort.Strings(files)
		for _, f := range files {
			devs = append(devs, device{recordingName(f), f})
		}
	}
	var recs []*recording
	seen := map[string]bool{}
	for _, d := range devs {
		if seen[d.name] {
			return nil, fmt.Errorf("device name %q given twice", d.name)
		}
		seen[d.name] = true
		r, err := loadRecording(d.name, d.path)
		if err != nil {
			return nil, err
		}
		if r.skipped > 0 {
			slog.Warn("recording lines skipped", "device", d.name, "lines", r.skipped)
		}
		recs = append(recs, r)
	}
	return recs, nil
}

// pickModes marks round(dead*n) agents dead and round(slow*n) slow, chosen
// by seed.
func pickModes(n int, deadF, slowF float64, seed uint64) []behaviour {
	modes := make([]behaviour, n)
	perm := rand.New(rand.NewPCG(seed, 0x5eed)).Perm(n)
	nd := int(math.Round(deadF * float64(n)))
	ns := int(math.Round(slowF * float64(n)))
	for k, i := range perm {
		switch {
		case k < nd:
			modes[i] = dead
		case k < nd+ns:
			modes[i] = slow
		}
	}
	return modes
}

// rateFactors gives each agent a counter-rate factor in [0.5, 1.5).
func rateFactors(n int, seed uint64) []float64 {
	r := rand.New(rand.NewPCG(seed, 0xc0de))
	out := make([]float64, n)
	for i := range out {
		out[i] = 0.5 + r.Float64()
	}
	return out
}

// printTable writes "port → recording" so users know what is where.
func printTable(w io.Writer, s *sim) {
	for _, a := range s.agents {
		fmt.Fprintf(w, "%s:%d\t%s\tcommunity=%s\t%s\t%s\n", s.cfg.listen, a.port, a.rec.name,
			a.community, a.mode, a.rec.path)
	}
}

// run starts the simulator and serves until ctx ends. ready, if not nil,
// receives the running simulator.
func run(ctx context.Context, c config, stdout io.Writer, ready func(*sim)) error {
	recs, err := loadDevices(c)
	if err != nil {
		return err
	}
	if c.agents == 0 && !c.singlePort {
		c.agents = len(recs)
		if len(c.mix) > 0 {
			c.agents = 0
			for _, m := range c.mix {
				c.agents += m.weight
			}
		}
	}
	s, err := newSim(c, recs)
	if err != nil {
		return err
	}
	if err := s.start(ctx); err != nil {
		return err
	}
	if c.admin != "" {
		if s.adminAddr, err = s.serveAdmin(ctx, c.admin); err != nil {
			s.close()
			s.wait()
			return err
		}
		slog.Info("admin endpoint", "addr", s.adminAddr.String())
	}
	if !c.quiet {
		printTable(stdout, s)
	}
	var oids int
	for _, r := range recs {
		oids += len(r.entries)
	}
	counts := map[behaviour]int{}
	for _, a := range s.agents {
		counts[a.mode]++
	}
	slog.Info("vedetta-sim ready", "agents", len(s.agents), "recordings", len(recs), "oids", oids,
		"listen", c.listen, "base_port", c.basePort, "single_port", c.singlePort,
		"dead", counts[dead], "slow", counts[slow])
	if c.stats {
		go s.reportStats(ctx, c.statsEvery)
	}
	if ready != nil {
		ready(s)
	}
	<-ctx.Done()
	s.close()
	s.wait()
	if s.adminWG != nil {
		s.adminWG.Wait()
	}
	slog.Info("vedetta-sim stopped", "served", s.served(), "dropped", s.dropped.Load())
	return nil
}

func main() {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, nil)))
	c, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "vedetta-sim:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c, os.Stdout, nil); err != nil {
		slog.Error("vedetta-sim", "err", err)
		os.Exit(1)
	}
}
