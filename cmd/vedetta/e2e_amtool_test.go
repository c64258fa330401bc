package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// alertmanagerVersion is the amtool the Alertmanager-compatible API is
// tested with (built from the Go module proxy at test time, never a
// dependency of vedetta's go.mod).
const alertmanagerVersion = "v0.35.0"

var (
	amtoolOnce sync.Once
	amtoolPath string
	amtoolErr  error
)

// amtoolBin builds Alertmanager's amtool in a temporary module, once: the
// binary is kept in $TMPDIR/vedetta-amtool-<version> for the next runs.
// Without it (no module proxy) the test is skipped, or fails under
// CI=true.
func amtoolBin(t testing.TB) string {
	t.Helper()
	amtoolOnce.Do(func() {
		kept := filepath.Join(os.TempDir(), "vedetta-amtool-"+alertmanagerVersion)
		if exec.Command(kept, "--version").Run() == nil {
			amtoolPath = kept
			return
		}
		dir, err := os.MkdirTemp("", "vedetta-amtool-build")
		if err != nil {
			amtoolErr = err
			return
		}
		defer os.RemoveAll(dir)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		run := func(args ...string) error {
			cmd := exec.CommandContext(ctx, "go", args...)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			return nil
		}
		if amtoolErr = run("mod", "init", "amtoolbuild"); amtoolErr != nil {
			return
		}
		if amtoolErr = run("get", "github.com/prometheus/alertmanager/cmd/amtool@"+alertmanagerVersion); amtoolErr != nil {
			return
		}
		p := filepath.Join(dir, "amtool")
		if amtoolErr = run("build", "-o", p, "github.com/prometheus/alertmanager/cmd/amtool"); amtoolErr != nil {
			return
		}
		// rename is atomic: a concurrent run sees the old binary or the new
		if amtoolErr = os.Rename(p, kept); amtoolErr == nil {
			amtoolPath = kept
		}
	})
	if amtoolErr != nil {
		testpeer.Missing(t, "amtool cannot be built: "+amtoolErr.Error())
	}
	return amtoolPath
}

// The Alertmanager v2 API read and written by Alertmanager's own amtool:
// it lists the firing alarm, and `amtool silence add` makes a silence that
// vedetta applies to the alarm. amtool passes the token through its
// --http.config.file (authorization: credentials).
func TestE2EAmtool(t *testing.T) {
	t.Parallel()
	amtool := amtoolBin(t)
	mp := testpeer.StartMailpit(t)
	c := newE2EConfig(t, relay(mp.SMTPPort))
	cfg := strings.Replace(c.yaml(), "http:\n", "http:\n  token: "+apiToken+"\n", 1)
	path := filepath.Join(c.Dir, "vedetta.yaml")
	writeFile(t, path, cfg)
	d := startDaemon(t, path, c.HTTPPort)

	httpCfg := filepath.Join(c.Dir, "amtool-http.yaml")
	writeFile(t, httpCfg, "authorization:\n  type: Bearer\n  credentials: "+apiToken+"\n")
	am := func(withToken bool, args ...string) (string, error) {
		t.Helper()
		base := []string{"--alertmanager.url=" + d.http, "--timeout=10s"}
		if withToken {
			base = append(base, "--http.config.file="+httpCfg)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, amtool, append(base, args...)...).CombinedOutput()
		return string(out), err
	}

	writeFile(t, c.ValueFile, "rack_temperature_celsius 41.5\n")
	testpeer.WaitFor(t, 6*time.Second, "the firing e-mail", func() bool {
		return len(mp.Matching(t, "FIRING", "RackTooHot")) > 0
	})

	out, err := am(false, "alert", "query")
	if err != nil || !strings.Contains(out, "RackTooHot") || !strings.Contains(out, "rack rack1 at 41.5") {
		t.Fatalf("amtool alert query: %v\n%s", err, out)
	}
	out, err = am(false, "-o", "json", "alert", "query", "alertname=RackTooHot")
	if err != nil {
		t.Fatalf("amtool alert query -o json: %v\n%s", err, out)
	}
	var alerts []struct {
		Labels    map[string]string
		Receivers []struct{ Name string }
		Status    struct {
			State      string
			SilencedBy []string
		}
	}
	if err := json.Unmarshal([]byte(out), &alerts); err != nil || len(alerts) != 1 {
		t.Fatalf("amtool -o json: %v %d alerts\n%s", err, len(alerts), out)
	}
	a := alerts[0]
	if a.Labels["target"] != "rack1" || a.Labels["severity"] != "critical" || a.Status.State != "active" ||
		len(a.Receivers) != 1 || a.Receivers[0].Name != "noc" {
		t.Errorf("alert as amtool sees it: %+v", a)
	}

	// Without the token the write is refused.
	if out, err := am(false, "silence", "add", "alertname=RackTooHot", "-c", "maintenance"); err == nil {
		t.Fatalf("amtool silence add without a token was accepted:\n%s", out)
	}
	// A silence that would match everything is refused.
	if out, err := am(true, "silence", "add", `target=~".*"`, "-c", "maintenance"); err == nil || !strings.Contains(out, "outage") {
		t.Fatalf("a silence of everything was not refused clearly: %v\n%s", err, out)
	}
	out, err = am(true, "silence", "add", "alertname=RackTooHot", `target=~"rack[0-9]+"`, "-d", "2h", "-c", "maintenance by amtool", "-a", "ops")
	if err != nil {
		t.Fatalf("amtool silence add: %v\n%s", err, out)
	}
	silID := strings.TrimSpace(out)

	// vedetta holds the alarm under that silence.
	testpeer.WaitFor(t, 3*time.Second, "the alarm silenced", func() bool {
		_, body := d.get("/api/v2/alerts")
		return strings.Contains(body, `"suppressed"`) && strings.Contains(body, silID)
	})
	_, body := d.get("/api/v1/silences")
	if !strings.Contains(body, silID) || !strings.Contains(body, `"alertname": "RackTooHot"`) || !strings.Contains(body, "maintenance by amtool") {
		t.Fatalf("vedetta's silences lack the amtool one %q:\n%s", silID, body)
	}
	out, err = am(false, "silence", "query")
	if err != nil || !strings.Contains(out, silID) || !strings.Contains(out, "alertname=\"RackTooHot\"") || !strings.Contains(out, `target=~"rack[0-9]+"`) {
		t.Fatalf("amtool silence query: %v\n%s", err, out)
	}
	// Default query shows active alerts only: the silenced one is gone
	// from it, and back with --silenced.
	if out, _ := am(false, "alert", "query"); strings.Contains(out, "RackTooHot") {
		t.Errorf("a silenced alarm is listed as active:\n%s", out)
	}
	if out, _ := am(false, "alert", "query", "--silenced"); !strings.Contains(out, "RackTooHot") {
		t.Errorf("amtool alert query --silenced does not list the alarm:\n%s", out)
	}
	// The resolved e-mail is held back by the silence: vedetta applied it.
	writeFile(t, c.ValueFile, "rack_temperature_celsius 22\n")
	testpeer.WaitFor(t, 5*time.Second, "the alarm resolved", func() bool { return d.alertState("RackTooHot") == "resolved" })
	time.Sleep(1500 * time.Millisecond) // room for a RESOLVED e-mail to go out, if the silence did not hold it
	if n := len(mp.Matching(t, "RESOLVED", "RackTooHot")); n != 0 {
		t.Errorf("%d RESOLVED e-mails while silenced", n)
	}
	if out, err := am(true, "silence", "expire", silID); err != nil {
		t.Fatalf("amtool silence expire: %v\n%s", err, out)
	}
	out, _ = am(false, "silence", "query")
	if strings.Contains(out, silID) {
		t.Errorf("expired silence still listed as active:\n%s", out)
	}
	if strings.Contains(d.proc.Output(), apiToken) {
		t.Error("the token appears in the log")
	}
}
