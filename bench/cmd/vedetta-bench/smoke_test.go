package main

import (
	"context"
	"os/exec"
	"regexp"
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
	o := &options{smoke: true, devices: []int{5}, dead: 0.05, trials: 3, concurrency: 8, memTargets: 5,
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
	} {
		if !regexp.MustCompile(row).MatchString(report) {
			t.Errorf("no row matching %s", row)
		}
	}
	if strings.Contains(report, "NaN") || strings.Contains(report, "Inf") {
		t.Error("the report has NaN/Inf cells")
	}
}
