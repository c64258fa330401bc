package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// `vedetta-bench cluster` measures vedetta as a cluster (issue 10): three
// `vedetta run` processes, each in its own network namespace on one
// bridge (internal/testpeer's Net, as the end-to-end tests do), Mailpit
// and the Twilio-speaking server reachable on the bridge address. It
// measures the failover RTO (kill -9 of the dispatcher → the first mail
// sent by the next one), trap → e-mail/SMS in cluster mode, the
// alarm-change commit latency, each member's RSS and what the cluster adds
// to the binary, and writes the "Cluster" section of BENCHMARKS.md.
//
//	go run ./bench/cmd/vedetta-bench cluster --out BENCHMARKS.md   # as root
//	go run ./bench/cmd/vedetta-bench cluster --smoke

type clusterOptions struct {
	out, repo, snmprec string
	toolsDir, work     string
	smoke              bool
	failovers, traps   int
	leaseTTL           time.Duration
	timeout            time.Duration
	vedetta            string // the daemon under test, built from the checkout
	community, upsRec  string
}

func clusterMain(args []string) int {
	o := &clusterOptions{}
	fs := flag.NewFlagSet("vedetta-bench cluster", flag.ExitOnError)
	fs.StringVar(&o.out, "out", "", "also write the Cluster section into this file (BENCHMARKS.md)")
	fs.BoolVar(&o.smoke, "smoke", false, "tiny run: 1 failover, 3 traps, no build of older commits")
	fs.StringVar(&o.repo, "repo", "", "repository root (default: the folder holding go.mod above the working directory)")
	fs.StringVar(&o.toolsDir, "tools", envOr("BENCH_TOOLS", "/tmp/vedetta-bench-tools"), "where the older commits' binaries are cached ($BENCH_TOOLS)")
	fs.IntVar(&o.failovers, "failovers", 10, "kill -9s of the dispatcher")
	fs.IntVar(&o.traps, "traps", 200, "traps, one UPS each, one after the other")
	fs.DurationVar(&o.leaseTTL, "lease-ttl", 3*time.Second, "cluster.lease_ttl of the members (3s is the default)")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Minute, "the whole run's deadline")
	level := fs.String("log-level", "info", "debug, info, warn")
	_ = fs.Parse(args)
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(*level))
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv})))
	if o.smoke {
		o.failovers, o.traps = 1, 3
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	text, err := runCluster(ctx, o)
	stop()
	cancel()
	if text != "" {
		fmt.Print(text)
	}
	if err != nil {
		slog.Error("vedetta-bench cluster", "err", err)
		return 1
	}
	return 0
}

// clusterResult is what one run measured.
type clusterResult struct {
	date      time.Time
	took      time.Duration
	leaseTTL  time.Duration
	rto       []time.Duration // kill -9 → first mail of the next dispatcher
	rtoLost   int             // runs whose mail never came
	dupMails  int             // copies of one Message-ID beyond the first, over the whole run
	trapEmail []time.Duration
	trapSMS   []time.Duration
	// The trap's path in two legs, from the members' logs: trap sent →
	// alarm recorded by the member polling the UPS (trap, poll, rule, the
	// fenced etcd transaction), and recorded → e-mail stored (the
	// dispatcher's watch, its drain transaction, SMTP).
	trapRecorded, recordedMail []time.Duration
	traps                      int
	trapsLost                  int
	txn                        histogram  // vedetta_cluster_txn_seconds summed over the members
	rss, hwm                   [3]float64 // MiB (memMB reads kB / 1024)
	targets                    int        // shared targets (racks + UPS)
	size                       binSizes
	load                       loadRange // the machine's 1-minute load average during the run
}

// runCluster does the whole cluster scenario. Everything it starts (the
// namespaces, the bridge, the members, Mailpit) is torn down when it
// returns, failed or not.
func runCluster(ctx context.Context, o *clusterOptions) (string, error) {
	defer stopAll()
	if err := o.defaults(); err != nil {
		return "", err
	}
	if os.Geteuid() != 0 {
		return "", errors.New("the cluster scenario needs root (network namespaces)")
	}
	work, err := os.MkdirTemp("", "vedetta-bench-cluster-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	o.work = work
	res := &clusterResult{date: time.Now(), leaseTTL: o.leaseTTL}
	started := time.Now()
	lctx, lstop := context.WithCancel(ctx)
	loadDone := make(chan struct{})
	go func() { defer close(loadDone); res.load.sample(lctx, 5*time.Second) }()
	defer func() { lstop(); <-loadDone }()

	res.size = binarySizes(ctx, o)
	if res.size.nowErr != "" {
		return "", fmt.Errorf("building vedetta: %s", res.size.nowErr)
	}
	o.vedetta = res.size.bin

	tb := &benchTB{}
	defer tb.close() // members, Mailpit, the relay, namespaces and bridge, last first
	var rig *benchRig
	if err := try(func() { rig = startBenchRig(ctx, tb, o) }); err != nil {
		return "", fmt.Errorf("cluster rig: %w", err)
	}
	res.targets = len(rig.racks) + len(rig.ups)
	if err := rig.trapRun(ctx, res); err != nil {
		return "", err
	}
	res.txn = rig.txnHistogram()
	for i, m := range rig.nodes {
		res.hwm[i], res.rss[i] = memMB(m.Cmd.Process.Pid)
	}
	if err := try(func() { rig.failoverRuns(ctx, res) }); err != nil {
		return "", fmt.Errorf("failover runs: %w", err)
	}
	if ms, err := rig.mails(ctx); err == nil {
		res.dupMails = duplicates(ms)
	}
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	res.took = time.Since(started)
	lstop()
	<-loadDone
	text := res.markdown(o)
	if o.out != "" {
		old, err := os.ReadFile(o.out)
		if err != nil {
			return text, err
		}
		if err := os.WriteFile(o.out, []byte(spliceCluster(string(old), text)), 0o644); err != nil {
			return text, err
		}
		slog.Info("cluster section written", "file", o.out)
	}
	return text, nil
}

func (o *clusterOptions) defaults() error {
	if o.repo == "" {
		oo := &options{}
		if err := oo.defaults(); err != nil {
			return err
		}
		o.repo = oo.repo
	}
	if o.snmprec == "" {
		o.snmprec = filepath.Join(o.repo, "..", "shared", "testdata", "snmprec")
	}
	o.community, o.upsRec = "public", "apc_smt750x-nmc2.snmprec"
	if _, err := os.Stat(filepath.Join(o.snmprec, o.upsRec)); err != nil {
		return fmt.Errorf("recording %s: %w", o.upsRec, err)
	}
	if o.out != "" && !filepath.IsAbs(o.out) {
		o.out, _ = filepath.Abs(o.out)
	}
	return nil
}

// trapRun: each UPS in turn goes on battery and sends upsTrapOnBattery to
// the three members (as a device configured with every member does); the
// member that polls it polls it at once, records the alarm, and the
// dispatcher (often another member) mails and texts it. Time: the trap
// sent → Mailpit's Created / the Twilio server's POST.
func (r *benchRig) trapRun(ctx context.Context, res *clusterResult) error {
	_ = sleepCtx(ctx, 5*time.Second)  // first polls (and profile detection) done
	sent := map[string][2]time.Time{} // target → trap sent, e-mail stored
	for i, a := range r.ups {
		if sleepCtx(ctx, time.Duration(200+rand.IntN(800))*time.Millisecond) != nil {
			return ctx.Err()
		}
		a.onBattery.Store(true)
		t0 := time.Now()
		for j := 0; j < 3; j++ {
			dst := fmt.Sprintf("%s:%d", r.net.Addr(j), benchTrapPort)
			if err := sendTrap(a.conn.LocalAddr().(*net.UDPAddr).IP, dst, r.o.community, ".1.3.6.1.2.1.33.2.0.1"); err != nil {
				slog.Warn("trap", "to", dst, "err", err)
			}
		}
		em, sm, ok := r.p.waitBoth(ctx, fmt.Sprintf("ups-%d@bench.example", i), phone(i), "FIRING", t0, 20*time.Second)
		res.traps++
		if !ok {
			res.trapsLost++
			slog.Warn("trap trial lost", "ups", i)
			continue
		}
		res.trapEmail, res.trapSMS = append(res.trapEmail, em.Sub(t0)), append(res.trapSMS, sm.Sub(t0))
		sent[fmt.Sprintf("ups-%d", i)] = [2]time.Time{t0, em}
	}
	var logs []string
	for _, n := range r.nodes {
		logs = append(logs, n.Output())
	}
	recorded := firedAt(logs)
	for target, tm := range sent {
		if at, ok := recorded[target]; ok {
			res.trapRecorded = append(res.trapRecorded, at.Sub(tm[0]))
			res.recordedMail = append(res.recordedMail, tm[1].Sub(at))
		}
	}
	slog.Info("traps done", "trials", res.traps, "lost", res.trapsLost)
	return nil
}

var alarmFired = regexp.MustCompile(`^time=(\S+) .*msg="ALARM FIRING" .* target=(\S+)`)

// firedAt is, per target, the first "ALARM FIRING" a member logged: the
// daemon logs it once the change and its inbox entry are committed.
func firedAt(logs []string) map[string]time.Time {
	out := map[string]time.Time{}
	for _, l := range logs {
		for _, line := range strings.Split(l, "\n") {
			m := alarmFired.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			at, err := time.Parse(time.RFC3339Nano, m[1])
			if err != nil {
				continue
			}
			if old, ok := out[m[2]]; !ok || at.Before(old) {
				out[m[2]] = at
			}
		}
	}
	return out
}

// failoverRuns kills the dispatcher o.failovers times, each time at the
// moment a rack another member polls gets hot: the RTO runs from the kill
// to that alarm's mail in Mailpit, which only the next dispatcher can
// send. The killed member is started again before the next run.
func (r *benchRig) failoverRuns(ctx context.Context, res *clusterResult) {
	all := []int{0, 1, 2}
	used := map[string]time.Time{}
	for run := 0; run < r.o.failovers && ctx.Err() == nil; run++ {
		lead, err := r.dispatcher(ctx, 30*time.Second, all...)
		if err != nil {
			r.tb.Fatal(err)
		}
		rack := ""
		for _, i := range without(all, lead) {
			if v, ok := r.view(i); ok {
				for _, t := range v.Owned {
					if strings.HasPrefix(t, "rack") && (rack == "" || used[t].Before(used[rack])) {
						rack = t
					}
				}
			}
		}
		if rack == "" {
			r.tb.Fatalf("run %d: the dispatcher n%d polls every rack", run, lead)
		}
		if wait := rackRest - time.Since(used[rack]); wait > 0 && !used[rack].IsZero() {
			_ = sleepCtx(ctx, wait)
		}
		var ri int
		fmt.Sscanf(rack, "rack%d", &ri)
		killed := time.Now()
		r.kill9(lead)
		r.setRack(ri, true)
		at, ok := r.waitMail(ctx, "noc@bench.example", "FIRING", rack+":", killed, 30*time.Second)
		if ok {
			res.rto = append(res.rto, at.Sub(killed))
			slog.Info("failover", "run", run, "killed", fmt.Sprintf("n%d", lead), "rto", at.Sub(killed).Round(time.Millisecond))
		} else {
			res.rtoLost++
			slog.Warn("failover: no FIRING mail", "run", run, "rack", rack)
		}
		r.setRack(ri, false)
		r.start(lead)
		if _, ok := r.waitMail(ctx, "noc@bench.example", "RESOLVED", rack+":", killed, 30*time.Second); !ok {
			slog.Warn("failover: no RESOLVED mail", "run", run, "rack", rack)
		}
		used[rack] = time.Now()
	}
}

// benchMail is a Mailpit message summary with what the cluster run reads.
type benchMail struct {
	MessageID string
	Subject   string
	To        []struct{ Address string }
	Created   time.Time
}

func (r *benchRig) mails(ctx context.Context) ([]benchMail, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.mail.API+"/api/v1/messages?limit=5000", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct{ Messages []benchMail }
	return out.Messages, json.NewDecoder(resp.Body).Decode(&out)
}

// waitMail waits for the first mail to addr whose subject holds both
// words, stored after t0.
func (r *benchRig) waitMail(ctx context.Context, addr, w1, w2 string, t0 time.Time, within time.Duration) (time.Time, bool) {
	for deadline := time.Now().Add(within); time.Now().Before(deadline) && ctx.Err() == nil; time.Sleep(20 * time.Millisecond) {
		ms, err := r.mails(ctx)
		if err != nil {
			continue
		}
		var best time.Time
		for _, m := range ms {
			if len(m.To) == 0 || m.To[0].Address != addr || !strings.Contains(m.Subject, w1) || !strings.Contains(m.Subject, w2) ||
				m.Created.Before(t0) {
				continue
			}
			if best.IsZero() || m.Created.Before(best) {
				best = m.Created
			}
		}
		if !best.IsZero() {
			return best, true
		}
	}
	return time.Time{}, false
}

// duplicates counts the copies of one Message-ID (vedetta's delivery key)
// beyond the first.
func duplicates(ms []benchMail) int {
	seen := map[string]bool{}
	n := 0
	for _, m := range ms {
		if m.MessageID == "" {
			continue
		}
		if seen[m.MessageID] {
			n++
		}
		seen[m.MessageID] = true
	}
	return n
}

// txnHistogram sums every live member's vedetta_cluster_txn_seconds.
func (r *benchRig) txnHistogram() histogram {
	var h histogram
	for i := range r.nodes {
		if code, body := httpGet(r.http(i) + "/metrics"); code == 200 {
			h = h.add(parseHistogram(body, "vedetta_cluster_txn_seconds"))
		}
	}
	return h
}

// loadRange is the lowest and highest 1-minute load average seen: the
// other work on the machine, which the latencies carry.
type loadRange struct {
	min, max float64
	n        int
}

func (l *loadRange) sample(ctx context.Context, every time.Duration) {
	for {
		if b, err := os.ReadFile("/proc/loadavg"); err == nil {
			var v float64
			if _, err := fmt.Sscan(string(b), &v); err == nil {
				if l.n == 0 || v < l.min {
					l.min = v
				}
				l.max = max(l.max, v)
				l.n++
			}
		}
		if sleepCtx(ctx, every) != nil {
			return
		}
	}
}

func without(xs []int, x int) []int {
	var out []int
	for _, v := range xs {
		if v != x {
			out = append(out, v)
		}
	}
	return out
}

func httpGet(url string) (int, string) {
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Get(url)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	return resp.StatusCode, string(b)
}

// bridgeOf names the interface that holds addr (the Net's bridge).
func bridgeOf(tb *benchTB, addr string) string {
	ifs, err := net.Interfaces()
	if err != nil {
		tb.Fatal(err)
	}
	for _, ifc := range ifs {
		as, _ := ifc.Addrs()
		for _, a := range as {
			if n, ok := a.(*net.IPNet); ok && n.IP.String() == addr {
				return ifc.Name
			}
		}
	}
	tb.Fatalf("no interface holds %s", addr)
	return ""
}

// relayTCP forwards connections made to host:<free port> to upstream
// (host:port), until the run ends; it returns http://host:port.
func relayTCP(tb *benchTB, host, upstream string) string {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		tb.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	track := func(c net.Conn) {
		mu.Lock()
		defer mu.Unlock()
		conns = append(conns, c)
	}
	tb.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			track(c)
			go func() {
				defer c.Close()
				u, err := net.DialTimeout("tcp", upstream, 5*time.Second)
				if err != nil {
					return
				}
				track(u)
				defer u.Close()
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(u, c); done <- struct{}{} }()
				go func() { _, _ = io.Copy(c, u); done <- struct{}{} }()
				<-done // one side ended: close both, which ends the other copy
			}()
		}
	}()
	return "http://" + l.Addr().String()
}
