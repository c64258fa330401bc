package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// histogram is a Prometheus histogram read from /metrics: cumulative
// counts per upper bound, +Inf last.
type histogram struct {
	bounds []float64 // upper bounds, ascending, +Inf last
	counts []float64 // cumulative
}

// parseHistogram reads name's _bucket lines from a /metrics page (no
// labels besides le). A page without them is an empty histogram.
func parseHistogram(page, name string) histogram {
	var h histogram
	prefix := name + `_bucket{le="`
	for _, l := range strings.Split(page, "\n") {
		rest, ok := strings.CutPrefix(l, prefix)
		if !ok {
			continue
		}
		le, val, ok := strings.Cut(rest, `"} `)
		if !ok {
			continue
		}
		b, err1 := strconv.ParseFloat(le, 64) // "+Inf" parses as +Inf
		c, err2 := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err1 != nil || err2 != nil || math.IsNaN(c) || c < 0 {
			continue // not a count: dropped, never summed
		}
		h.bounds, h.counts = append(h.bounds, b), append(h.counts, c)
	}
	// The exposition lists buckets in order; a page that does not is not
	// one we can read.
	if !slices.IsSorted(h.bounds) || !slices.IsSorted(h.counts) {
		return histogram{}
	}
	return h
}

// add sums two histograms with the same buckets (an empty one is neutral).
func (h histogram) add(o histogram) histogram {
	if len(h.bounds) == 0 {
		return o
	}
	if len(o.bounds) == 0 {
		return h
	}
	if !slices.Equal(h.bounds, o.bounds) {
		return h // different buckets cannot be summed; keep the first
	}
	out := histogram{bounds: slices.Clone(h.bounds), counts: slices.Clone(h.counts)}
	for i := range out.counts {
		out.counts[i] += o.counts[i]
	}
	return out
}

func (h histogram) count() float64 {
	if len(h.counts) == 0 {
		return 0
	}
	return h.counts[len(h.counts)-1]
}

// quantile estimates the q-quantile as Prometheus' histogram_quantile
// does: linear within the bucket that holds the rank (from 0 for the
// first). ok is false with no observations, or when the rank falls in the
// +Inf bucket (then only "above the last bound" is known).
func (h histogram) quantile(q float64) (v float64, ok bool) {
	n := h.count()
	if n == 0 || q < 0 || q > 1 {
		return 0, false
	}
	rank := q * n
	i, _ := slices.BinarySearchFunc(h.counts, rank, func(c, r float64) int {
		switch {
		case c < r:
			return -1
		case c > r:
			return 1
		}
		return 0
	})
	if i >= len(h.bounds) || math.IsInf(h.bounds[i], 1) {
		return 0, false
	}
	lo, below := 0.0, 0.0
	if i > 0 {
		lo, below = h.bounds[i-1], h.counts[i-1]
	}
	in := h.counts[i] - below
	if in <= 0 {
		return h.bounds[i], true
	}
	if lo > h.bounds[i] { // a first bound below 0: nothing to interpolate from
		return h.bounds[i], true
	}
	// Rounding may put lo + (hi-lo)*f an ulp past hi.
	return min(lo+(h.bounds[i]-lo)*(rank-below)/in, h.bounds[i]), true
}

// bucket is the bucket v falls in: (lo, hi].
func (h histogram) bucket(v float64) (lo, hi float64) {
	for _, b := range h.bounds {
		if v <= b {
			return lo, b
		}
		lo = b
	}
	return lo, math.Inf(1)
}

// binSizes is the stripped size of vedetta now, and before and after the
// commit that brought the cluster.
type binSizes struct {
	bin            string // this tree's daemon (stripped), the one under test
	now            int64
	nowErr         string
	before, with   int64 // at clusterCommit^ and clusterCommit
	oldErr         string
	beforeC, withC string
}

// clusterCommit added cluster/ and the embedded etcd (go.etcd.io/etcd/
// server/v3/embed): its size minus its parent's is what the cluster costs
// in the binary, apart from every feature added since.
const clusterCommit = "d3be86e"

// stripFlags are the release build's (packaging/build-deb) without the
// version stamp.
var stripFlags = []string{"-trimpath", "-ldflags", "-s -w -buildid="}

func binarySizes(ctx context.Context, o *clusterOptions) binSizes {
	var s binSizes
	s.bin = filepath.Join(o.work, "vedetta")
	r := runCmd(ctx, 10*time.Minute, o.repo, goEnv, "go", append(append([]string{"build"}, stripFlags...), "-o", s.bin, "./cmd/vedetta")...)
	if r.exitError != nil {
		s.nowErr = fmt.Sprintf("%v: %s", r.exitError, tail(r.out, 400))
		return s
	}
	s.now = fileSize(s.bin)
	if o.smoke {
		s.oldErr = "--smoke: older commits not built"
		return s
	}
	var err error
	if s.with, s.withC, err = commitSize(ctx, o, clusterCommit); err == nil {
		s.before, s.beforeC, err = commitSize(ctx, o, clusterCommit+"^")
	}
	if err != nil {
		s.oldErr = firstLine(err.Error())
	}
	return s
}

// commitSize builds ./cmd/vedetta of a commit (a git archive of it in the
// tools folder: the worktree is not touched) and returns the stripped
// size, cached by full commit hash.
func commitSize(ctx context.Context, o *clusterOptions, rev string) (int64, string, error) {
	out, err := exec.CommandContext(ctx, "git", "-C", o.repo, "rev-parse", rev).Output()
	if err != nil {
		return 0, "", fmt.Errorf("git rev-parse %s: %w", rev, err)
	}
	full := strings.TrimSpace(string(out))
	short := full[:min(7, len(full))]
	cache := filepath.Join(o.toolsDir, "vedetta-size-"+full)
	if b, err := os.ReadFile(cache); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 {
			return n, short, nil
		}
	}
	src := filepath.Join(o.work, "src-"+short)
	if err := os.MkdirAll(src, 0o755); err != nil {
		return 0, short, err
	}
	archive := exec.CommandContext(ctx, "sh", "-c", fmt.Sprintf("git -C %q archive %s | tar -x -C %q", o.repo, full, src))
	if b, err := archive.CombinedOutput(); err != nil {
		return 0, short, fmt.Errorf("git archive %s: %v %s", short, err, b)
	}
	bin := filepath.Join(o.work, "vedetta-"+short)
	r := runCmd(ctx, 15*time.Minute, src, goEnv, "go", append(append([]string{"build"}, stripFlags...), "-o", bin, "./cmd/vedetta")...)
	if r.exitError != nil {
		return 0, short, fmt.Errorf("go build at %s: %v: %s", short, r.exitError, tail(r.out, 300))
	}
	n := fileSize(bin)
	if err := os.MkdirAll(o.toolsDir, 0o755); err == nil {
		_ = os.WriteFile(cache, []byte(strconv.FormatInt(n, 10)), 0o644)
	}
	return n, short, nil
}

func fileSize(p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return st.Size()
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

// Markers of the Cluster section in BENCHMARKS.md: the bench's full run
// keeps everything after keptMarker, and this command rewrites only what
// lies between these two.
const (
	clusterBegin = "<!-- vedetta-bench cluster: begin -->"
	clusterEnd   = "<!-- vedetta-bench cluster: end -->"
)

// spliceCluster puts section (which starts with clusterBegin and ends
// with clusterEnd) in place of the old one, or before section 6, or at the
// end.
func spliceCluster(old, section string) string {
	if i := strings.Index(old, clusterBegin); i >= 0 {
		if j := strings.Index(old[i:], clusterEnd); j >= 0 {
			return old[:i] + section + old[i+j+len(clusterEnd):]
		}
	}
	if i := strings.Index(old, "\n## 6."); i >= 0 {
		return old[:i+1] + section + "\n\n" + old[i+1:]
	}
	if !strings.HasSuffix(old, "\n") {
		old += "\n"
	}
	return old + "\n" + section + "\n"
}

func (r *clusterResult) markdown(o *clusterOptions) string {
	var b strings.Builder
	cmd := "go run ./bench/cmd/vedetta-bench cluster --out BENCHMARKS.md"
	mode := "as root"
	if o.smoke {
		cmd, mode = "go run ./bench/cmd/vedetta-bench cluster --smoke", "SMOKE run (tiny; not a measurement)"
	}
	b.WriteString(clusterBegin + "\n")
	fmt.Fprintf(&b, "## Cluster: `vedetta-bench cluster`\n\nWritten by `%s` (%s) — do not edit by hand.\n\n", cmd, mode)
	fmt.Fprintf(&b, "- date: %s; the run took %s\n- machine: %s\n", r.date.UTC().Format("2006-01-02 15:04 MST"), r.took.Round(time.Second), machine())
	if r.load.n > 0 {
		fmt.Fprintf(&b, "- load average (1 min) during the run: %.1f–%.1f on %d cores: other work on the machine shows in every latency below\n",
			r.load.min, r.load.max, runtime.NumCPU())
	}
	fmt.Fprintf(&b, "- three `vedetta run` (this tree, stripped build), each in its own network namespace on one bridge (`internal/testpeer` Net), "+
		"one zone each, embedded etcd, `lease_ttl: %s`; Mailpit on the bridge address, the Twilio-speaking test server through a relay there; "+
		"%d shared targets (%d racks: `kind: exec` every 1 s; %d UPS: `kind: snmp` every 1 m, an agent inside the bench serving `%s` on "+
		"its own bridge address); everything shares the machine's cores\n",
		r.leaseTTL, r.targets, benchRacks, r.targets-benchRacks, o.upsRec)
	fmt.Fprintf(&b, "- **failover**: %d times, the dispatcher is killed (`kill -9`) at the moment a rack polled by another member gets hot; "+
		"the time runs from the kill to that alarm's mail stored by Mailpit, which only the next dispatcher can send; the killed member "+
		"is started again (and a rack rests %v) before the next run\n", len(r.rto)+r.rtoLost, rackRest)
	fmt.Fprintf(&b, "- **trap**: %d times, one UPS goes on battery and sends `upsTrapOnBattery` to the three members; the member that polls "+
		"it polls it at once and records the alarm, the dispatcher (often another member) sends it; from the trap sent to Mailpit's "+
		"`Created` (SMTP DATA done) and to the Twilio server's POST\n", r.traps)
	b.WriteString("- **commit**: `vedetta_cluster_txn_seconds` of the three members after the trap runs (each alarm change written with its inbox " +
		"entry in one fenced etcd transaction), quantiles interpolated within its buckets as `histogram_quantile` does\n\n")

	met := func(ok bool) string { return map[bool]string{true: "yes", false: "**no**"}[ok] }
	b.WriteString("| what | result | goal | met |\n|---|---|---|---|\n")
	if len(r.rto) > 0 {
		s := slices.Clone(r.rto)
		slices.Sort(s)
		fmt.Fprintf(&b, "| failover RTO: kill -9 of the dispatcher → first mail sent by the next one | %d runs (%d lost): min %s, median %s, p99 %s | ≤ 5 s p99 | %s |\n",
			len(r.rto)+r.rtoLost, r.rtoLost, secs(s[0]), secs(pct(s, 0.5)), secs(pct(s, 0.99)), met(r.rtoLost == 0 && pct(s, 0.99) <= 5*time.Second))
	} else {
		fmt.Fprintf(&b, "| failover RTO | n/a: %d runs, none mailed | ≤ 5 s p99 | **no** |\n", r.rtoLost)
	}
	if len(r.trapEmail) > 0 {
		for _, c := range []struct {
			name string
			ds   []time.Duration
		}{{"e-mail", r.trapEmail}, {"SMS", r.trapSMS}} {
			fmt.Fprintf(&b, "| trap → %s, cluster mode | %d traps (%d lost): p50 %s, p99 %s, max %s | p99 < 250 ms | %s |\n",
				c.name, r.traps, r.trapsLost, ms(pct(c.ds, 0.5)), ms(pct(c.ds, 0.99)), ms(pct(c.ds, 1)),
				met(r.trapsLost == 0 && pct(c.ds, 0.99) < 250*time.Millisecond))
		}
	} else {
		fmt.Fprintf(&b, "| trap → e-mail/SMS, cluster mode | n/a: %d traps, none delivered | p99 < 250 ms | **no** |\n", r.traps)
	}
	if len(r.trapRecorded) > 0 {
		fmt.Fprintf(&b, "| of which: trap sent → alarm recorded by the UPS's poller (trap, poll, rule, etcd txn; its log) | %d: p50 %s, p99 %s | | |\n",
			len(r.trapRecorded), ms(pct(r.trapRecorded, 0.5)), ms(pct(r.trapRecorded, 0.99)))
		fmt.Fprintf(&b, "| of which: alarm recorded → e-mail stored (the dispatcher's watch, drain txn, SMTP) | %d: p50 %s, p99 %s | | |\n",
			len(r.recordedMail), ms(pct(r.recordedMail, 0.5)), ms(pct(r.recordedMail, 0.99)))
	}
	q := func(x float64) string {
		v, ok := r.txn.quantile(x)
		if !ok {
			if r.txn.count() > 0 {
				return fmt.Sprintf("> %s", fsecs(r.txn.bounds[max(0, len(r.txn.bounds)-2)]))
			}
			return "n/a"
		}
		lo, hi := r.txn.bucket(v)
		return fmt.Sprintf("%s (bucket %s–%s)", fsecs(v), fsecs(lo), fsecs(hi))
	}
	fmt.Fprintf(&b, "| commit latency (alarm change + inbox entry, one etcd txn) | %.0f txns: p50 %s, p99 %s | | |\n", r.txn.count(), q(0.5), q(0.99))
	var rss []string
	for i := range r.rss {
		rss = append(rss, fmt.Sprintf("n%d %.0f MiB (peak %.0f)", i, r.rss[i], r.hwm[i]))
	}
	fmt.Fprintf(&b, "| RSS per member, embedded etcd included, after the trap runs | %s | | |\n", strings.Join(rss, ", "))
	size := "now " + mb(r.size.now)
	if r.size.oldErr == "" {
		size += fmt.Sprintf("; the commit that brought the cluster (%s) %s, its parent %s: **+%s**", r.size.withC, mb(r.size.with), mb(r.size.before),
			mb(r.size.with-r.size.before))
	} else {
		size += "; delta n/a: " + r.size.oldErr
	}
	fmt.Fprintf(&b, "| binary size, stripped (`-trimpath -ldflags '-s -w'`, CGO off) | %s | | |\n", size)
	changes := len(r.rto) + r.rtoLost
	fmt.Fprintf(&b, "| duplicate mails (same Message-ID twice), whole run | %d over %d changes of dispatcher | ≤ 8 per change (README), target ≤ 1 | %s |\n",
		r.dupMails, changes, met(r.dupMails <= changes))
	b.WriteString("\n" + clusterEnd)
	return b.String()
}

func secs(d time.Duration) string {
	if d < 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func fsecs(s float64) string { return fmt.Sprintf("%.2f ms", s*1000) }
