package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// End-to-end tests run the real binary as a subprocess: real signals, a
// real kill -9, a real state dir, real peers.

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// vedettaBin builds the daemon once per test run.
func vedettaBin(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		// The tests written before the start digest expect a notification
		// at once: every daemon a test starts has it off unless the test
		// says otherwise (e2e_firststart_test.go passes its own).
		_ = os.Setenv("VEDETTA_START_DIGEST", "0")
		dir, err := os.MkdirTemp("", "vedetta-e2e-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "vedetta")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// daemonProc is one running vedetta.
type daemonProc struct {
	t    testing.TB
	proc *testpeer.Proc
	http string // http://127.0.0.1:port
}

// startDaemon runs `vedetta run --config cfg` and waits until /healthz
// answers. httpPort must match the config's http.listen.
func startDaemon(t testing.TB, cfg string, httpPort int, env ...string) *daemonProc {
	t.Helper()
	var p *testpeer.Proc
	// Registered before Start's own clean-up, so it runs after the daemon
	// stopped and sees its shutdown lines too.
	t.Cleanup(func() {
		if p != nil {
			checkLogKeys(t, "vedetta", p.Output)
		}
	})
	p = testpeer.Start(t, env, vedettaBin(t), "run", "--config", cfg, "--log-level", "debug")
	d := &daemonProc{t: t, proc: p, http: fmt.Sprintf("http://127.0.0.1:%d", httpPort)}
	testpeer.WaitFor(t, 15*time.Second, "vedetta /healthz", func() bool {
		if p.Exited() {
			t.Fatalf("vedetta exited during start-up:\n%s", p.Output())
		}
		r, err := http.Get(d.http + "/healthz")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == 200
	})
	return d
}

func (d *daemonProc) signal(s syscall.Signal) {
	d.t.Helper()
	if err := d.proc.Cmd.Process.Signal(s); err != nil {
		d.t.Fatalf("signal %v: %v", s, err)
	}
}

// kill9 kills the daemon without warning and waits for it to be gone.
func (d *daemonProc) kill9() {
	d.t.Helper()
	d.signal(syscall.SIGKILL)
	select {
	case <-d.proc.Done():
	case <-time.After(5 * time.Second):
		d.t.Fatal("vedetta did not die on SIGKILL")
	}
}

func (d *daemonProc) get(path string) (int, string) {
	d.t.Helper()
	r, err := http.Get(d.http + path)
	if err != nil {
		d.t.Fatalf("GET %s: %v", path, err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return r.StatusCode, string(b)
}

type apiAlert struct {
	ID       string
	Rule     string
	State    string
	Severity string
	Value    float64
	Summary  string
	Labels   map[string]string
}

func (d *daemonProc) alerts() []apiAlert {
	d.t.Helper()
	code, body := d.get("/api/v1/alerts")
	if code != 200 {
		d.t.Fatalf("/api/v1/alerts: HTTP %d %s", code, body)
	}
	var out []apiAlert
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		d.t.Fatalf("/api/v1/alerts: %v: %s", err, body)
	}
	return out
}

func (d *daemonProc) alertState(rule string) string {
	for _, a := range d.alerts() {
		if a.Rule == rule {
			return a.State
		}
	}
	return ""
}

// writeFile writes content atomically (rename), so a collector never reads
// half a value.
func writeFile(t testing.TB, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// closedPort is a loopback port nobody listens on: a relay that refuses.
func closedPort(t testing.TB) int { return testpeer.FreePort(t) }

// e2eConfig is a config whose exec target reads a value from a file.
type e2eConfig struct {
	Dir, StateDir, ValueFile string
	HTTPPort                 int
	Relays                   []string // YAML flow mappings
	For                      string
}

func newE2EConfig(t testing.TB, relays ...string) *e2eConfig {
	dir := t.TempDir()
	c := &e2eConfig{Dir: dir, StateDir: filepath.Join(dir, "state"), ValueFile: filepath.Join(dir, "value.prom"),
		HTTPPort: testpeer.FreePort(t), Relays: relays, For: "1s"}
	writeFile(t, c.ValueFile, "rack_temperature_celsius 21\n")
	return c
}

func (c *e2eConfig) yaml() string {
	return fmt.Sprintf(`site: e2e
state_dir: %s
http:
  listen: 127.0.0.1:%d
targets:
  - name: rack1
    kind: exec
    interval: 1s
    exec:
      command: [cat, %s]
      format: prometheus
rules:
  - name: RackTooHot
    expr: rack_temperature_celsius > 35
    clear: rack_temperature_celsius < 30
    for: %s
    severity: critical
    summary: "rack {{ .Labels.target }} at {{ .Value }} °C"
notify:
  email:
    from: vedetta@e2e.example
    timeout: 3s
    relays:
      - %s
receivers:
  - name: noc
    email: [noc@e2e.example]
routes:
  - receivers: [noc]
`, c.StateDir, c.HTTPPort, c.ValueFile, c.For, strings.Join(c.Relays, "\n      - "))
}

func (c *e2eConfig) write(t testing.TB) string {
	p := filepath.Join(c.Dir, "vedetta.yaml")
	writeFile(t, p, c.yaml())
	return p
}

func relay(port int) string {
	return fmt.Sprintf("{host: 127.0.0.1, port: %d, tls: none}", port)
}

func itoa(i int) string { return fmt.Sprint(i) }

// getQuiet is an HTTP GET that treats a refused connection as "not yet".
func getQuiet(url string) (int, string) {
	r, err := http.Get(url)
	if err != nil {
		return 0, ""
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return r.StatusCode, string(b)
}

// notifySocket stands in for systemd's NOTIFY_SOCKET.
type notifySocket struct {
	path string
	mu   sync.Mutex
	got  []string
}

func listenNotify(t testing.TB) *notifySocket {
	t.Helper()
	s := &notifySocket{path: filepath.Join(t.TempDir(), "notify.sock")}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: s.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.got = append(s.got, strings.Split(strings.TrimSpace(string(buf[:n])), "\n")...)
			s.mu.Unlock()
		}
	}()
	return s
}

func (s *notifySocket) expect(t testing.TB, msg string, within time.Duration) {
	t.Helper()
	testpeer.WaitFor(t, within, "sd_notify "+msg, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, g := range s.got {
			if g == msg {
				return true
			}
		}
		return false
	})
}
