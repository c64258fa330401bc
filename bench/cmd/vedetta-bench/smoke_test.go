package main

import (
	"context"
	"math"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// TestSmoke runs `vedetta-bench --smoke` in-process (vedetta, the
// simulator, Mailpit and the Twilio server; no peers built) and checks
// that the report has every row with numbers in it, so the benchmark
// command cannot rot.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	testpeer.MailpitBin(t) // skips outside CI when Mailpit is missing, fails under CI=true
	if _, err := exec.LookPath("go"); err != nil {
		testpeer.Missing(t, "go is not on PATH")
	}
	o := &options{smoke: true, devices: []int{5}, scale: []int{50}, dead: 0.05, trials: 3, concurrency: 8, memTargets: 5,
		pollInterval: 4 * time.Second, latencyInterval: 2 * time.Second, memInterval: 3 * time.Second}
	o.snmprec = testpeer.SharedTestdata(t, "snmprec")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	report, err := run(ctx, o)
	t.Log("\n" + report)
	if err != nil {
		t.Fatal(err)
	}
	num := `[0-9.]+`
	for _, row := range []string{
		`\| vedetta \| ` + num + ` \| ` + num + ` \| ` + num + ` \|`,
		`\| 5 \| 0 % \| vedetta \| ` + num + ` \| 1\.00 \| ` + num + ` m?s \| ` + num + ` MB \| ` + num + ` \|`,
		`\| 5 \| 5 % \| vedetta \| ` + num + ` \| 1\.00 \| ` + num + ` m?s \| ` + num + ` MB \| ` + num + ` \|`,
		`\| vedetta trap \| 3 \| 0 \| ` + num + ` ms \| ` + num + ` ms \| ` + num + ` ms \| ` + num + ` ms \|`,
		`\| vedetta poll \| 3 \| 0 \| ` + num + ` m?s \| ` + num + ` m?s \| ` + num + ` m?s \| ` + num + ` m?s \|`,
		`\| BenchmarkRuleEvaluation \| n/a .*not run in --smoke`,
		`\| 5 \| 5 \| ` + num + ` \| ` + num + ` MB \| ` + num + ` MB \|`,
		`\| trap → SMS/e-mail p99 < 250 ms \|`,
		// The scale section: its row, its verdict, its goal.
		`\| 50 \| 100 \(` + num + ` / ` + num + `\) \| (yes|\*\*no\*\*) \| ` + num + ` m?s \| ` + num + ` m?s \| ` + num + ` m?s \(` + num + ` m?s\) \| ` + num + `/` + num + ` \| ` + num + ` \| ` + num + ` \|`,
		`\*\*Where it stops\*\*: (kept up to 50 devices|50 devices, the first size that does not keep)`,
		`\| 50 devices, 5 % dead, 5 % slow, vedetta alone: keeps the 4s round \| max gap .* \| (yes|\*\*no\*\*) \|`,
	} {
		if !regexp.MustCompile(row).MatchString(report) {
			t.Errorf("no row matching %s", row)
		}
	}
	// The profile tables: section 1's CPU, section 4's heap, the scale
	// section's CPU.
	// At 5 devices the daemon is nearly idle: its 3 s profile may hold no
	// sample at 100 Hz. The scale's 50 devices and the heap always do.
	checkComponentTable(t, report, "Where vedetta's CPU goes at 5 devices, 0 % dead", true)
	checkComponentTable(t, report, "Where the heap is", false)
	checkComponentTable(t, report, "Where vedetta's CPU goes at 50 devices", false)
	// As words: function names in the profile tables hold "Info".
	if regexp.MustCompile(`\b(NaN|Inf)\b`).MatchString(report) {
		t.Error("the report has NaN/Inf cells")
	}
}

// checkComponentTable finds the table after title and checks it: a row per
// component present, known components only, shares summing to ~100 %.
func checkComponentTable(t *testing.T, report, title string, mayBeEmpty bool) {
	t.Helper()
	i := strings.Index(report, title)
	if i < 0 {
		t.Errorf("no table %q", title)
		return
	}
	lines := strings.Split(report[i:], "\n")
	if len(lines) > 2 && strings.HasPrefix(lines[2], "No samples in the profile") {
		if !mayBeEmpty {
			t.Errorf("%s: %s", title, lines[2])
		}
		return
	}
	var sum float64
	rows := 0
	seen := map[string]bool{}
	for _, l := range lines[1:] {
		if strings.HasPrefix(l, "| component |") || strings.HasPrefix(l, "|---") || l == "" && rows == 0 {
			continue
		}
		if !strings.HasPrefix(l, "| ") {
			break
		}
		f := strings.Split(l, " | ")
		if len(f) < 4 {
			t.Errorf("%s: short row %q", title, l)
			continue
		}
		name := strings.TrimPrefix(f[0], "| ")
		if !slices.Contains(componentOrder, name) || seen[name] {
			t.Errorf("%s: unknown or repeated component %q", title, name)
		}
		seen[name] = true
		share, err := strconv.ParseFloat(strings.TrimSuffix(f[2], " %"), 64)
		if err != nil {
			t.Errorf("%s: share %q: %v", title, f[2], err)
		}
		sum += share
		rows++
	}
	if rows == 0 {
		t.Errorf("%s: no component rows", title)
	}
	if math.Abs(sum-100) > 0.5 {
		t.Errorf("%s: shares sum to %.1f %%, want ~100 %%", title, sum)
	}
}
