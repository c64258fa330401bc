package main

// The scale scenario (issue 13): vedetta alone on thousands of devices,
// some dead, some slow. Does it keep its round, and if not, what stops it?

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vedetta-dc/vedetta/internal/config"
)

const (
	scaleDead = 0.05
	scaleSlow = 0.05
	// gapSlack is how late a round may start and still keep the interval.
	gapSlack = time.Second
	// saturated is the share of every core's time at which the CPU is the
	// limit.
	saturated = 0.9
)

// scaleSlowDelay is how late a slow agent answers each request: under the
// SNMP request timeout (2 s by default, 1 retry) with room to spare, so a
// slow agent is slow, not dead (an answer after the timeout is dropped and
// the request sent again), and small enough that a switch's poll, a few
// dozen requests one after the other, ends inside the target's deadline
// (4/5 of the interval). 500 ms at 60 s; the smoke's short interval gets
// a hundredth of it.
func scaleSlowDelay(iv time.Duration) time.Duration { return min(500*time.Millisecond, iv/100) }

// scaleResult is one size of the scale scenario.
type scaleResult struct {
	devices, agents, alive, slow int
	interval                     time.Duration
	ok                           bool   // measured
	note                         string // why not, or what to know

	// Rounds 2 and 3 of every answering target.
	kept             bool
	maxGap           time.Duration // between the two rounds' starts
	p99Dur, maxDur   time.Duration // of a round
	maxSlowDur       time.Duration // of a slow agent's round
	late, unfinished int           // targets over interval + 1 s; without a third round seen
	up               int           // answering targets up in round 3

	// busy is round 3's collections' time summed over every target, dead
	// ones too, divided by the scheduler's slots: the wall time the round
	// needs at the least, however many cores.
	busy               time.Duration
	busyDead, busySlow time.Duration // of the sum (not per slot)
	slots              int
	maxWait            time.Duration // round 3's longest wait for a slot (vedetta_collection_wait_seconds)

	scrape    time.Duration // the longest /metrics scrape
	series    int           // on /metrics
	scrapeErr string        // a scrape that failed: the rounds are not known

	cpu, simCPU float64 // CPU s per interval
	varbinds    int64   // per interval
	peakMB      float64
	fds, socks  int // most seen
	nofile      uint64
	simDrops    int64  // datagrams the simulator's sockets dropped
	fdErrors    int    // "too many open files" in the daemon's log
	load        string // /proc/loadavg's three, at the end
	profile     *componentTable
}

func (r *scaleResult) perK() float64 { return r.cpu / (float64(r.varbinds) / 1000) }

// coreSeconds is what the machine's cores offer in one interval.
func (r *scaleResult) coreSeconds() float64 { return float64(runtime.NumCPU()) * r.interval.Seconds() }

// limit names what stopped a size that did not keep its round.
func (r *scaleResult) limit() string {
	used := r.cpu + r.simCPU
	switch {
	case r.scrapeErr != "":
		return fmt.Sprintf("%s (the API's write timeout is 60 s): the rounds are not known; CPU %.0f of %.0f core-seconds", r.scrapeErr, used, r.coreSeconds())
	case used >= saturated*r.coreSeconds():
		return fmt.Sprintf("CPU saturated: vedetta + simulator %.0f of %.0f core-seconds per interval", used, r.coreSeconds())
	case r.busy.Seconds() >= saturated*r.interval.Seconds():
		return fmt.Sprintf("the scheduler's slots: round 3's collections add up to %s (dead agents %s, slow ones %s), %s on each of the %d slots (max_concurrent_collections) of a %v interval; CPU %.0f of %.0f core-seconds",
			ms(r.busy*time.Duration(r.slots)), ms(r.busyDead), ms(r.busySlow), ms(r.busy), r.slots, r.interval, used, r.coreSeconds())
	case r.fdErrors > 0 || uint64(r.fds) >= r.nofile*9/10:
		return fmt.Sprintf("file descriptors: %d open of ulimit -n %d, %d \"too many open files\" in the log", r.fds, r.nofile, r.fdErrors)
	case r.simCPU >= saturated*r.interval.Seconds() || r.simDrops > 0:
		return fmt.Sprintf("the simulator: %.0f CPU s per %v interval, %d datagrams dropped", r.simCPU, r.interval, r.simDrops)
	default:
		return fmt.Sprintf("not identified: CPU %.0f of %.0f core-seconds, %d fds, simulator %.0f CPU s, no drops", used, r.coreSeconds(), r.fds, r.simCPU)
	}
}

// scaleSection runs every --scale size, smallest first, and profiles the
// daemon on each (the report shows the largest kept size's).
func scaleSection(ctx context.Context, o *options, rep *report) error {
	cal := rep.cal
	if cal == nil {
		var err error
		if cal, err = usefulOnly(o); err != nil {
			return err
		}
	}
	for _, n := range slices.Sorted(slices.Values(o.scale)) {
		r := scaleRun(ctx, o, cal, n)
		slog.Info("scale", "devices", n, "kept", r.kept, "max_gap", r.maxGap, "p99_dur", r.p99Dur, "cpu_s", r.cpu, "sim_cpu_s", r.simCPU,
			"peak_mb", r.peakMB, "fds", r.fds, "note", r.note)
		rep.scale = append(rep.scale, r)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

// scaleRun measures one size: round 1 auto-detects, rounds 2 and 3 are
// measured, one /metrics scrape after each (as a Prometheus scraping every
// interval would; its cost is in the CPU).
func scaleRun(ctx context.Context, o *options, cal *calibration, devices int) *scaleResult {
	iv := o.pollInterval
	r := &scaleResult{devices: devices, agents: 2 * devices, interval: iv, slots: config.DefaultMaxConcurrent(2 * devices)}
	delay := scaleSlowDelay(iv)
	s, err := startSim(ctx, o, r.agents, scaleDead, o.devicesArgs(), "ups:1,switch:1",
		"--slow", strconv.FormatFloat(scaleSlow, 'f', -1, 64), "--slow-delay", delay.String())
	if err != nil {
		r.note = "simulator: " + firstLine(err.Error())
		return r
	}
	defer s.stop()
	r.nofile, _ = raiseNoFile(0) // what startSim could set
	if len(s.ps) > 1 {
		r.note = fmt.Sprintf("the simulator in %d processes (one socket per agent, ulimit -n %d)", len(s.ps), r.nofile)
	}
	for i := range s.kinds {
		if s.alive[i] {
			r.alive++
		}
		if s.slow[i] {
			r.slow++
		}
	}
	body := snmpTargets(s, o, iv.String()) + "rule_files: [" + filepath.Join(o.repo, "configs", "rules.d", "snmp.yaml") + "]\n"
	d, err := startVedetta(ctx, o, fmt.Sprintf("scale-%d", devices), body)
	if err != nil {
		r.note = "vedetta: " + firstLine(err.Error())
		return r
	}
	defer d.p.stop()
	t0 := time.Now() // the scheduler's first round starts within min(iv/10, 2 s) of it
	watch := func() {
		f, so := openFDs(d.p.pid())
		r.fds, r.socks = max(r.fds, f), max(r.socks, so)
	}

	if sleepCtx(ctx, time.Until(t0.Add(iv*95/100))) != nil {
		return r
	}
	c1, s1, drops1, w1 := mustCPU(d.p.pid()), s.cpu(), udpDrops(s), time.Now()
	watch()
	prof := make(chan *componentTable, 1)
	go func() {
		// Round 3, the /metrics scrape after it included.
		if sleepCtx(ctx, time.Until(t0.Add(iv*195/100))) != nil {
			prof <- nil
			return
		}
		t, err := cpuProfile(ctx, o, d, profileSeconds(iv), fmt.Sprintf("cpu-scale-%d", devices))
		if err != nil {
			slog.Warn("scale: CPU profile", "devices", devices, "err", err)
		}
		prof <- t
	}()
	var rounds [2]map[string]collection
	for k := range rounds {
		// Three quarters into round k+2: it is over for every target that
		// keeps the interval, round k+3 not begun.
		if sleepCtx(ctx, time.Until(t0.Add(iv*time.Duration(175+100*k)/100))) != nil {
			return r
		}
		st := time.Now()
		var series int
		rounds[k], series, err = scrapeCollections(ctx, d.http)
		r.scrape = max(r.scrape, time.Since(st))
		if err != nil {
			// The rest is still measured: what a failed scrape costs is
			// part of the answer.
			r.scrapeErr = fmt.Sprintf("the /metrics scrape after round %d failed after %s: %v", k+2, ms(time.Since(st)), err)
			slog.Warn("scale: /metrics", "devices", devices, "err", r.scrapeErr)
			continue
		}
		r.series = series
		slog.Info("scale: /metrics scraped", "devices", devices, "round", k+2, "series", series, "took", time.Since(st))
		watch()
	}
	if sleepCtx(ctx, time.Until(t0.Add(iv*295/100))) != nil {
		return r
	}
	c2, s2, drops2, w2 := mustCPU(d.p.pid()), s.cpu(), udpDrops(s), time.Now()
	watch()
	r.peakMB, _ = memMB(d.p.pid())
	r.load = loadAvg()
	perIv := iv.Seconds() / w2.Sub(w1).Seconds() // the scrapes may stretch the window
	r.cpu, r.simCPU, r.simDrops = (c2-c1)*perIv, (s2-s1)*perIv, drops2-drops1
	r.varbinds = cal.varbindsOf(s)
	r.fdErrors = strings.Count(strings.ToLower(d.p.output()), "too many open files")
	switch {
	case r.scrapeErr == "":
		r.judge(s, rounds[0], rounds[1])
	case rounds[0] != nil: // round 3 unread: round 2 still tells the slots
		r.slotsBusy(s, rounds[0])
	}
	r.profile = <-prof
	r.ok = true
	return r
}

// judge compares each answering target's rounds 2 and 3: kept means every
// round started within interval + 1 s of the previous one and finished
// inside the interval.
func (r *scaleResult) judge(s *sim, a, b map[string]collection) {
	r.slotsBusy(s, b)
	var durs []time.Duration
	for i := range s.kinds {
		name := s.target(i)
		if !s.alive[i] {
			continue
		}
		ca, okA := a[name]
		cb, okB := b[name]
		r.maxWait = max(r.maxWait, cb.wait)
		if !okA || !okB || !cb.start.After(ca.start) {
			r.unfinished++ // its third round was not over three quarters into it
			continue
		}
		if cb.up {
			r.up++
		}
		gap := cb.start.Sub(ca.start)
		r.maxGap = max(r.maxGap, gap)
		if gap > r.interval+gapSlack {
			r.late++
		}
		durs = append(durs, ca.dur, cb.dur)
		if s.slow[i] {
			r.maxSlowDur = max(r.maxSlowDur, ca.dur, cb.dur)
		}
	}
	slices.Sort(durs)
	if len(durs) > 0 {
		r.p99Dur, r.maxDur = pct(durs, 0.99), durs[len(durs)-1]
	}
	r.kept = r.unfinished == 0 && r.late == 0 && r.maxDur < r.interval && len(durs) > 0
}

// slotsBusy sums one round's collection times over every target, dead
// ones too, per scheduler slot.
func (r *scaleResult) slotsBusy(s *sim, round map[string]collection) {
	var busy time.Duration
	r.busyDead, r.busySlow = 0, 0
	for i := range s.kinds {
		c, ok := round[s.target(i)]
		if !ok {
			continue
		}
		busy += c.dur
		if !s.alive[i] {
			r.busyDead += c.dur
		} else if s.slow[i] {
			r.busySlow += c.dur
		}
	}
	if r.slots > 0 {
		r.busy = busy / time.Duration(r.slots)
	}
}

// raiseNoFile lifts RLIMIT_NOFILE of the bench (inherited by the daemon
// and the simulator, which holds one socket per agent) to need if it is
// lower, the hard limit too when allowed (root outside a container); it
// returns the soft limit in force.
func raiseNoFile(need uint64) (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	if rl.Cur >= need {
		return rl.Cur, nil
	}
	want := rl
	want.Cur = need
	want.Max = max(rl.Max, need)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		// Not root: as far as the hard limit goes.
		want.Cur, want.Max = min(need, rl.Max), rl.Max
		if err2 := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err2 != nil {
			return rl.Cur, err2
		}
		return want.Cur, err
	}
	return want.Cur, nil
}

// openFDs counts a process's open descriptors and, of them, sockets.
func openFDs(pid int) (fds, sockets int) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0
	}
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && strings.HasPrefix(l, "socket:") {
			sockets++
		}
	}
	return len(ents), sockets
}

// udpDrops sums the drops counter of /proc/net/udp over the simulator's
// agent ports: datagrams its sockets had no room for.
func udpDrops(s *sim) int64 {
	b, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		return 0
	}
	var n int64
	for _, l := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(l)
		if len(f) < 13 {
			continue
		}
		_, hexPort, ok := strings.Cut(f[1], ":")
		port, err := strconv.ParseUint(hexPort, 16, 32)
		if !ok || err != nil || int(port) < s.base || int(port) >= s.base+len(s.kinds) {
			continue
		}
		d, _ := strconv.ParseInt(f[len(f)-1], 10, 64)
		n += d
	}
	return n
}

// loadAvg is /proc/loadavg's 1, 5 and 15 minute averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "n/a"
}
