package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// The secret every URL of these tests carries; nothing vedetta shows may
// contain it.
const urlSecret = "s3cret"

// TestHeartbeatLogRedactsKey: a heartbeat that fails (refused) logs the URL
// and net/http's error without the watcher's key.
func TestHeartbeatLogRedactsKey(t *testing.T) {
	var logs testpeer.Buffer
	d := &daemon{log: slog.New(slog.NewTextHandler(&logs, nil)), m: newMetrics()}
	hb := &config.Heartbeat{
		URL:      fmt.Sprintf("http://watch:%s@127.0.0.1:%d/ping?key=%s", urlSecret, closedPort(t), urlSecret),
		Interval: 50 * time.Millisecond,
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { d.heartbeat(ctx, hb) })
	testpeer.WaitFor(t, 5*time.Second, "a failed heartbeat in the log", func() bool {
		return strings.Contains(logs.String(), "heartbeat failed")
	})
	cancel()
	wg.Wait()
	out := logs.String()
	if strings.Contains(out, urlSecret) {
		t.Errorf("the heartbeat log reveals the key:\n%s", out)
	}
	if !strings.Contains(out, "key=xxxxx") {
		t.Errorf("the heartbeat log should still name the URL, redacted:\n%s", out)
	}
}

// TestE2ERedactedURLs: a probe whose URL carries a password and a token
// fails; the alarm is in /api/v1/alerts and the probe's samples in
// /metrics, both with the redacted URL. The daemon's log (probe, webhook
// and heartbeat failures, all with credentials in their URLs) never shows
// the secret.
func TestE2ERedactedURLs(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var gotPass, gotToken string
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		_, gotPass, _ = r.BasicAuth()
		gotToken = r.URL.Query().Get("token")
		mu.Unlock()
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer svc.Close()
	host := strings.TrimPrefix(svc.URL, "http://")
	closed := closedPort(t)
	dir := t.TempDir()
	port := testpeer.FreePort(t)
	cfg := fmt.Sprintf(`site: e2e
state_dir: %s
http:
  listen: 127.0.0.1:%d
targets:
  - name: intranet
    kind: probe
    interval: 1s
    probe:
      http: "http://bob:%[3]s@%[4]s/health?token=%[3]s&lang=en"
      timeout: 500ms
rules:
  - name: ServiceDown
    expr: probe_success == 0
    for: 1s
    severity: critical
    summary: "{{ .Labels.address }} is down"
notify:
  probe_interval: 1s
  heartbeat: {url: "http://127.0.0.1:%[5]d/ping?key=%[3]s", interval: 500ms}
  webhooks:
    - {name: chat, url: "http://bot:%[3]s@127.0.0.1:%[5]d/hook?token=%[3]s", timeout: 1s}
receivers:
  - name: noc
    webhooks: [chat]
routes:
  - receivers: [noc]
`, filepath.Join(dir, "state"), port, urlSecret, host, closed)
	path := filepath.Join(dir, "vedetta.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, path, port)

	const redacted = "http://bob:xxxxx@"
	var alarm apiAlert
	testpeer.WaitFor(t, 10*time.Second, "ServiceDown firing in /api/v1/alerts", func() bool {
		for _, a := range d.alerts() {
			if a.Rule == "ServiceDown" && a.State == "firing" {
				alarm = a
				return true
			}
		}
		return false
	})
	if got := alarm.Labels["address"]; !strings.HasPrefix(got, redacted) || !strings.Contains(got, "token=xxxxx&lang=en") {
		t.Errorf("alarm address label = %q, want the redacted URL", got)
	}
	if _, body := d.get("/api/v1/alerts"); strings.Contains(body, urlSecret) {
		t.Errorf("/api/v1/alerts reveals the secret:\n%s", body)
	}
	// Let the webhook fail a few times (and the heartbeat, and its probe).
	testpeer.WaitFor(t, 10*time.Second, "webhook and heartbeat failures in the log", func() bool {
		out := d.proc.Output()
		return strings.Contains(out, "heartbeat failed") && strings.Contains(out, "webhook chat")
	})
	_, metrics := d.get("/metrics")
	if !strings.Contains(metrics, `probe_success{address="`+redacted) {
		t.Errorf("/metrics lacks probe_success with the redacted address")
	}
	if strings.Contains(metrics, urlSecret) {
		t.Errorf("/metrics reveals the secret:\n%s", linesWith(metrics, urlSecret))
	}
	if out := d.proc.Output(); strings.Contains(out, urlSecret) {
		t.Errorf("the daemon's log reveals the secret:\n%s", linesWith(out, urlSecret))
	}
	mu.Lock()
	defer mu.Unlock()
	if gotPass != urlSecret || gotToken != urlSecret {
		t.Errorf("the service got password %q token %q: redaction must not change what is sent", gotPass, gotToken)
	}
}

func linesWith(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
