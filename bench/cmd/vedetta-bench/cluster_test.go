package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// A /metrics page as the daemon's Prometheus registry writes it.
const txnPage = `# HELP vedetta_cluster_txn_seconds Latency of alarm-change transactions in the replicated store.
# TYPE vedetta_cluster_txn_seconds histogram
vedetta_cluster_txn_seconds_bucket{le="0.0005"} 0
vedetta_cluster_txn_seconds_bucket{le="0.001"} 10
vedetta_cluster_txn_seconds_bucket{le="0.002"} 60
vedetta_cluster_txn_seconds_bucket{le="0.005"} 90
vedetta_cluster_txn_seconds_bucket{le="0.01"} 99
vedetta_cluster_txn_seconds_bucket{le="+Inf"} 100
vedetta_cluster_txn_seconds_sum 0.25
vedetta_cluster_txn_seconds_count 100
vedetta_cluster_txn_seconds_other{le="1"} 7
`

func TestHistogramQuantile(t *testing.T) {
	h := parseHistogram(txnPage, "vedetta_cluster_txn_seconds")
	if len(h.bounds) != 6 || !math.IsInf(h.bounds[5], 1) || h.count() != 100 {
		t.Fatalf("parsed %+v", h)
	}
	for _, c := range []struct {
		q    float64
		want float64
		ok   bool
	}{
		{0.05, 0.00075, true}, // rank 5 of the 10 in (0.5, 1] ms
		{0.5, 0.0018, true},   // rank 50: 40 of the 50 in (1, 2] ms
		{0.9, 0.005, true},    // exactly the 0.005 bucket's count
		{0.99, 0.01, true},    // rank 99: the top of (5, 10] ms
		{0.995, 0, false},     // in +Inf: above 10 ms is all we know
		{1.5, 0, false},       // not a quantile
		{0.0, 0.0005, true},   // rank 0 falls in the first non-empty bucket's bottom
	} {
		got, ok := h.quantile(c.q)
		if ok != c.ok || (ok && math.Abs(got-c.want) > 1e-9) {
			t.Errorf("q%.3f = %v %v, want %v %v", c.q, got, ok, c.want, c.ok)
		}
	}
	// Three members: the counts add up; a page without it changes nothing.
	sum := h.add(h).add(parseHistogram("up 1\n", "vedetta_cluster_txn_seconds")).add(h)
	if sum.count() != 300 {
		t.Fatalf("sum of three: %v observations", sum.count())
	}
	if v, _ := sum.quantile(0.5); math.Abs(v-0.0018) > 1e-9 {
		t.Fatalf("sum's median %v", v)
	}
	// Not a count (NaN, negative): dropped. Buckets out of order: unreadable.
	bad := strings.Replace(txnPage, `{le="0.002"} 60`, `{le="0.002"} NaN`, 1)
	if h := parseHistogram(bad, "vedetta_cluster_txn_seconds"); len(h.bounds) != 5 {
		t.Fatalf("NaN bucket kept: %+v", h)
	}
	swapped := strings.Replace(txnPage, `{le="0.005"} 90`, `{le="0.005"} 50`, 1)
	if h := parseHistogram(swapped, "vedetta_cluster_txn_seconds"); h.count() != 0 {
		t.Fatalf("decreasing counts read as %+v", h)
	}
	if _, ok := (histogram{}).quantile(0.5); ok {
		t.Fatal("a quantile of nothing")
	}
}

func TestSpliceCluster(t *testing.T) {
	section := clusterBegin + "\n## Cluster\n\nnew\n" + clusterEnd
	for _, c := range []struct{ name, old, want string }{
		{"before section 6", "# b\n\n## 5. x\n\nold 5\n\n## 6. y\n\nsix\n",
			"# b\n\n## 5. x\n\nold 5\n\n" + section + "\n\n## 6. y\n\nsix\n"},
		{"replaced in place", "a\n" + clusterBegin + "\nold\n" + clusterEnd + "\n\n## 6. y\n",
			"a\n" + section + "\n\n## 6. y\n"},
		{"appended", "a\nb", "a\nb\n\n" + section + "\n"},
	} {
		if got := spliceCluster(c.old, section); got != c.want {
			t.Errorf("%s:\n%q\nwant\n%q", c.name, got, c.want)
		}
	}
}

func TestFiredAt(t *testing.T) {
	logs := []string{
		"time=2026-12-01T18:00:01.500Z level=ERROR msg=\"ALARM FIRING\" id=a1 rule=UPSOnBattery severity=critical target=ups-1 value=1 summary=\"ups-1 is on battery\"\n" +
			"time=2026-12-01T18:00:01.400Z level=INFO msg=\"ALARM RESOLVED\" id=a2 rule=UPSOnBattery severity=critical target=ups-2 value=0 summary=x\n",
		"time=2026-12-01T18:00:01.200Z level=ERROR msg=\"ALARM FIRING\" id=a1 rule=UPSOnBattery severity=critical target=ups-1 value=1 summary=\"ups-1 is on battery\"\n" +
			"garbage msg=\"ALARM FIRING\" target=ups-3\n",
	}
	got := firedAt(logs)
	want := time.Date(2026, 12, 1, 18, 0, 1, 200_000_000, time.UTC)
	if len(got) != 1 || !got["ups-1"].Equal(want) {
		t.Fatalf("firedAt = %v, want only ups-1 at %v (the earliest; RESOLVED and unparsable lines ignored)", got, want)
	}
}

func TestDuplicates(t *testing.T) {
	ms := []benchMail{{MessageID: "a"}, {MessageID: "b"}, {MessageID: "a"}, {MessageID: "a"}, {MessageID: ""}, {MessageID: ""}}
	if n := duplicates(ms); n != 2 {
		t.Fatalf("%d duplicates, want 2 (a twice more; no Message-ID is no key)", n)
	}
}

// The report says what was measured and whether each goal is met, from
// the numbers alone.
func TestClusterMarkdown(t *testing.T) {
	ds := func(msec ...int) []time.Duration {
		var out []time.Duration
		for _, m := range msec {
			out = append(out, time.Duration(m)*time.Millisecond)
		}
		return out
	}
	r := &clusterResult{
		date: time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC), took: 3 * time.Minute, leaseTTL: 3 * time.Second,
		rto:       ds(2600, 3700, 4400, 5200), // p99 over 5 s: not met
		trapEmail: ds(50, 60, 70), trapSMS: ds(40, 50, 300), traps: 3,
		trapRecorded: ds(20, 30), recordedMail: ds(40, 40),
		txn: parseHistogram(txnPage, "vedetta_cluster_txn_seconds"),
		rss: [3]float64{60, 61, 62}, hwm: [3]float64{63, 64, 65}, targets: 15,
		size: binSizes{now: 35_200_000, with: 33_500_000, before: 22_300_000, withC: "d3be86e", beforeC: "d3be86e^"},
		load: loadRange{min: 1.5, max: 3, n: 4}, dupMails: 1,
	}
	md := r.markdown(&clusterOptions{upsRec: "apc.snmprec"})
	for _, want := range []string{
		clusterBegin + "\n## Cluster: `vedetta-bench cluster`",
		"load average (1 min) during the run: 1.5–3.0",
		"| 4 runs (0 lost): min 2.60 s, median 3.70 s, p99 5.20 s | ≤ 5 s p99 | **no** |",
		"| trap → e-mail, cluster mode | 3 traps (0 lost): p50 60 ms, p99 70 ms, max 70 ms | p99 < 250 ms | yes |",
		"| trap → SMS, cluster mode | 3 traps (0 lost): p50 50 ms, p99 300 ms, max 300 ms | p99 < 250 ms | **no** |",
		"| of which: trap sent → alarm recorded by the UPS's poller (trap, poll, rule, etcd txn; its log) | 2: p50 20 ms, p99 30 ms |",
		"| of which: alarm recorded → e-mail stored (the dispatcher's watch, drain txn, SMTP) | 2: p50 40 ms, p99 40 ms |",
		"| 100 txns: p50 1.80 ms (bucket 1.00 ms–2.00 ms), p99 10.00 ms (bucket 5.00 ms–10.00 ms) |",
		"n0 60 MiB (peak 63)",
		"(d3be86e) 33.5 MB, its parent 22.3 MB: **+11.2 MB**",
		"| 1 over 4 changes of dispatcher | ≤ 8 per change (README), target ≤ 1 | yes |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if !strings.HasSuffix(md, clusterEnd) {
		t.Error("the section does not end with its marker")
	}
}

// TestClusterSmoke runs `vedetta-bench cluster --smoke` in-process: three
// members in network namespaces (root), 3 traps, 1 failover; the report
// must have each row with numbers, and the namespaces and bridge must be
// gone afterwards.
func TestClusterSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	testpeer.MailpitBin(t)
	testpeer.Need(t, "ip")
	if os.Geteuid() != 0 {
		testpeer.Missing(t, "the cluster scenario needs root (network namespaces)")
	}
	if before := netState(t); before != "" {
		t.Fatalf("namespaces of this process's ids exist before the run: %s", before)
	}
	o := &clusterOptions{smoke: true, failovers: 1, traps: 3, leaseTTL: 3 * time.Second, toolsDir: t.TempDir()}
	o.snmprec = testpeer.SharedTestdata(t, "snmprec")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	report, err := runCluster(ctx, o)
	t.Log("\n" + report)
	if err != nil {
		t.Fatal(err)
	}
	num := `[0-9.]+`
	for _, row := range []string{
		`\| failover RTO: .* \| 1 runs \(0 lost\): min ` + num + ` s, median ` + num + ` s, p99 ` + num + ` s \|`,
		`\| trap → e-mail, cluster mode \| 3 traps \(0 lost\): p50 ` + num + ` m?s, p99 ` + num + ` m?s`,
		`\| trap → SMS, cluster mode \| 3 traps \(0 lost\): p50 ` + num + ` m?s, p99 ` + num + ` m?s`,
		`\| of which: trap sent → alarm recorded .* \| 3: p50 ` + num + ` m?s, p99 ` + num + ` m?s \|`,
		`\| of which: alarm recorded → e-mail stored .* \| 3: p50 ` + num + ` m?s, p99 ` + num + ` m?s \|`,
		`\| commit latency .* \| [1-9][0-9]* txns: p50 (> )?` + num + ` ms( \(bucket [^)]*\))?, p99 (> )?` + num + ` ms( \(bucket [^)]*\))? \|`,
		`\| RSS per member.* \| n0 [1-9][0-9]* MiB .*, n1 [1-9][0-9]* MiB .*, n2 [1-9][0-9]* MiB `,
		`\| binary size, stripped .* \| now [1-9][0-9.]* MB;`,
		`\| duplicate mails .* \| [0-9]+ over 1 changes of dispatcher \|`,
	} {
		if !regexp.MustCompile(row).MatchString(report) {
			t.Errorf("no row matching %s", row)
		}
	}
	if strings.Contains(report, "NaN") || strings.Contains(report, "Inf") {
		t.Error("the report has NaN/Inf cells")
	}
	if after := netState(t); after != "" {
		t.Errorf("namespaces or bridges left behind: %s", after)
	}
}

// netState lists the namespaces and bridges this process may have made
// (testpeer.Net names them vbr<id>, vn<id>-<i>, id = a per-process
// sequence + pid%40*5): other tests on the machine make their own.
func netState(t *testing.T) string {
	out, err := exec.Command("sh", "-c", "ip netns list; ip -br link show type bridge").CombinedOutput()
	if err != nil {
		t.Fatalf("ip: %v %s", err, out)
	}
	ours := map[string]bool{}
	for k := 1; k <= 5; k++ {
		id := k + os.Getpid()%40*5
		ours[fmt.Sprintf("vbr%d", id)] = true
		for i := 0; i < 3; i++ {
			ours[fmt.Sprintf("vn%d-%d", id, i)] = true
		}
	}
	var mine []string
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 && ours[f[0]] {
			mine = append(mine, f[0])
		}
	}
	return strings.Join(mine, " ")
}

// The bench reads the members' /metrics pages: whatever they hold, the
// histogram it keeps is ordered, its counts are numbers, and a quantile
// of it lies within its bounds.
func FuzzParseHistogram(f *testing.F) {
	f.Add(txnPage)
	f.Add(`vedetta_cluster_txn_seconds_bucket{le="+Inf"} 3` + "\n")
	f.Add(`vedetta_cluster_txn_seconds_bucket{le="0.1"} 2` + "\n" + `vedetta_cluster_txn_seconds_bucket{le="0.05"} 1` + "\n")
	f.Fuzz(func(t *testing.T, page string) {
		h := parseHistogram(page, "vedetta_cluster_txn_seconds")
		if len(h.bounds) != len(h.counts) || !slices.IsSorted(h.bounds) || !slices.IsSorted(h.counts) {
			t.Fatalf("unordered histogram %+v", h)
		}
		for _, c := range h.counts {
			if math.IsNaN(c) || c < 0 {
				t.Fatalf("count %v kept", c)
			}
		}
		for _, q := range []float64{0, 0.5, 0.99, 1} {
			if v, ok := h.quantile(q); ok && (math.IsNaN(v) || v < min(0, h.bounds[0]) || v > h.bounds[len(h.bounds)-1]) {
				t.Fatalf("q%v = %v outside the bounds %v", q, v, h.bounds)
			}
		}
	})
}

// The bench reads the members' logs: any text gives times it parsed.
func FuzzFiredAt(f *testing.F) {
	f.Add(`time=2026-12-01T18:00:01.500Z level=ERROR msg="ALARM FIRING" id=a1 rule=R severity=critical target=ups-1 value=1 summary=x`)
	f.Fuzz(func(t *testing.T, log string) {
		for target, at := range firedAt([]string{log}) {
			if target == "" || at.IsZero() {
				t.Fatalf("%q at %v", target, at)
			}
		}
	})
}
