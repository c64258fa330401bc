package probe

import (
	"bytes"
	"context"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/collectors/collectortest"
	"github.com/vedetta-dc/vedetta/model"
)

func run(t *testing.T, src string) map[string]float64 {
	t.Helper()
	c, err := New(collectors.Spec{Name: "svc", BaseDir: t.TempDir()}, collectortest.DecodeYAML(src))
	if err != nil {
		t.Fatalf("New(%s): %v", src, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := map[string]float64{}
	if err := c.Collect(ctx, func(s model.Sample) {
		if s.Labels.Get("probe") == "" || s.Labels.Get("address") == "" {
			t.Errorf("%s%s: want probe and address labels", s.Name, s.Labels)
		}
		got[s.Name] = s.Value
	}); err != nil {
		t.Fatalf("Collect: %v (a failed probe is a result, not an error)", err)
	}
	return got
}

func caFile(t *testing.T, ts *httptest.Server) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestProbe(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	mux.HandleFunc("/broken", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) })
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/health", http.StatusFound) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	plain := httptest.NewServer(mux)
	defer plain.Close()
	secure := httptest.NewTLSServer(mux)
	defer secure.Close()
	ca := caFile(t, secure)
	certLeft := time.Until(secure.Certificate().NotAfter).Seconds()

	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	tlsAddr := strings.TrimPrefix(secure.URL, "https://")

	cases := []struct {
		name string
		src  string
		want map[string]float64
		// expiry: probe_tls_cert_expiry_seconds must be about the test cert's
		expiry bool
	}{
		{"http up", fmt.Sprintf("probe: {http: %q}", plain.URL+"/health"),
			map[string]float64{"probe_success": 1, "probe_http_status_code": 200}, false},
		{"http 503", fmt.Sprintf("probe: {http: %q}", plain.URL+"/broken"),
			map[string]float64{"probe_success": 0, "probe_http_status_code": 503}, false},
		{"503 accepted when listed", fmt.Sprintf("probe: {http: %q, valid_status: [503]}", plain.URL+"/broken"),
			map[string]float64{"probe_success": 1, "probe_http_status_code": 503}, false},
		{"redirect followed", fmt.Sprintf("probe: {http: %q}", plain.URL+"/moved"),
			map[string]float64{"probe_success": 1, "probe_http_status_code": 200}, false},
		{"redirect not followed", fmt.Sprintf("probe: {http: %q, no_follow_redirects: true, valid_status: [200]}", plain.URL+"/moved"),
			map[string]float64{"probe_success": 0, "probe_http_status_code": 302}, false},
		{"timeout", fmt.Sprintf("probe: {http: %q, timeout: 300ms}", plain.URL+"/slow"),
			map[string]float64{"probe_success": 0}, false},
		{"https with ca_file", fmt.Sprintf("probe: {http: %q, ca_file: %s}", secure.URL+"/health", ca),
			map[string]float64{"probe_success": 1, "probe_http_status_code": 200}, true},
		{"https self-signed refused", fmt.Sprintf("probe: {http: %q}", secure.URL+"/health"),
			map[string]float64{"probe_success": 0}, true},
		{"https insecure_skip_verify", fmt.Sprintf("probe: {http: %q, insecure_skip_verify: true}", secure.URL+"/health"),
			map[string]float64{"probe_success": 1}, true},
		{"tcp up", fmt.Sprintf("probe: {tcp: %q}", strings.TrimPrefix(plain.URL, "http://")),
			map[string]float64{"probe_success": 1}, false},
		{"tcp refused", fmt.Sprintf("probe: {tcp: %q}", closedAddr),
			map[string]float64{"probe_success": 0}, false},
		{"tls handshake", fmt.Sprintf("probe: {tls: %q, ca_file: %s, server_name: example.com}", tlsAddr, ca),
			map[string]float64{"probe_success": 1}, true},
		{"tls wrong name", fmt.Sprintf("probe: {tls: %q, ca_file: %s, server_name: other.test}", tlsAddr, ca),
			map[string]float64{"probe_success": 0}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := run(t, tc.src)
			for k, v := range tc.want {
				if g, ok := got[k]; !ok || g != v {
					t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
				}
			}
			if d, ok := got["probe_duration_seconds"]; !ok || d <= 0 || d > 5 {
				t.Errorf("probe_duration_seconds = %v %v", d, ok)
			}
			exp, ok := got["probe_tls_cert_expiry_seconds"]
			if tc.expiry && (!ok || exp < certLeft-60 || exp > certLeft+60) {
				t.Errorf("probe_tls_cert_expiry_seconds = %v (present %v), want about %v", exp, ok, certLeft)
			}
			if !tc.expiry && ok {
				t.Errorf("probe_tls_cert_expiry_seconds emitted without TLS")
			}
		})
	}
}

func TestOptions(t *testing.T) {
	for _, tc := range []struct{ src, wantErr string }{
		{"probe: {http: 'https://intranet.example/health', timeout: 5s}", ""},
		{"probe: {tcp: 'db1:5432'}", ""},
		{"probe: {}", "exactly one"},
		{"probe: {http: 'http://a/', tcp: 'a:1'}", "exactly one"},
		{"probe: {http: 'ftp://a/'}", "http:// or https://"},
		{"probe: {tcp: 'db1'}", "host:port"},
		{"probe: {tcp: 'a:1', valid_status: [42]}", "not an HTTP status"},
		{"probe: {tcp: 'a:1', ca_file: /nonexistent.pem}", "ca_file"},
	} {
		_, err := New(collectors.Spec{Name: "x"}, collectortest.DecodeYAML(tc.src))
		if !collectortest.ErrMatches(err, tc.wantErr) {
			t.Errorf("%s: err = %v, want %q", tc.src, err, tc.wantErr)
		}
	}
}

// TestProbeRedactsCredentials: the URL's password and token reach the
// server, and nothing the probe shows (labels, so /metrics and alarms; log
// lines; errors) contains them.
func TestProbeRedactsCredentials(t *testing.T) {
	const secret = "s3cret"
	var gotUser, gotPass, gotToken string
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		gotUser, gotPass, _ = r.BasicAuth()
		gotToken = r.URL.Query().Get("token")
		fmt.Fprint(w, "ok")
	})
	mux.HandleFunc("/broken", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) })
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop?session="+secret+"&n="+r.URL.Query().Get("n")+"1", http.StatusFound)
	})
	ts := httptest.NewServer(mux)
	defer ts.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	host := strings.TrimPrefix(ts.URL, "http://")
	withSecrets := func(hostport, path string) string {
		return "http://bob:" + secret + "@" + hostport + path + "?token=" + secret + "&x=1"
	}

	cases := []struct {
		name    string
		url     string
		success float64
	}{
		{"up", withSecrets(host, "/health"), 1},
		{"HTTP 503", withSecrets(host, "/broken"), 0},
		{"connection refused", withSecrets(closedAddr, "/health"), 0},
		{"redirect loop with a secret", withSecrets(host, "/loop"), 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			c, err := New(collectors.Spec{Name: "svc", Logger: log}, collectortest.DecodeYAML(fmt.Sprintf("probe: {http: %q}", tc.url)))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var samples []model.Sample
			if err := c.Collect(ctx, func(s model.Sample) { samples = append(samples, s) }); err != nil {
				t.Fatal(err)
			}
			for _, s := range samples {
				if strings.Contains(s.Labels.String(), secret) {
					t.Errorf("sample %s%s reveals the secret", s.Name, s.Labels)
				}
				if s.Name == "probe_success" && s.Value != tc.success {
					t.Errorf("probe_success = %v, want %v", s.Value, tc.success)
				}
				if want := "http://bob:xxxxx@"; !strings.HasPrefix(s.Labels.Get("address"), want) {
					t.Errorf("address = %q, want the redacted URL", s.Labels.Get("address"))
				}
			}
			if len(samples) == 0 {
				t.Fatal("no samples")
			}
			if logs.Len() == 0 {
				t.Error("nothing logged on the first result")
			}
			if strings.Contains(logs.String(), secret) {
				t.Errorf("log reveals the secret:\n%s", logs.String())
			}
			r := c.(*Collector).probeHTTP(ctx)
			if r.err != nil && strings.Contains(r.err.Error(), secret) {
				t.Errorf("error reveals the secret: %v", r.err)
			}
			if (r.err == nil) != (tc.success == 1) {
				t.Errorf("err = %v, want success %v", r.err, tc.success)
			}
		})
	}
	if gotUser != "bob" || gotPass != secret || gotToken != secret {
		t.Errorf("the server got user %q password %q token %q: redaction must not change what is sent", gotUser, gotPass, gotToken)
	}

	for _, src := range []string{
		"probe: {http: 'ftp://bob:s3cret@h/?token=s3cret'}",
		"probe: {http: 'http://bob:s3cret@h:port/?token=s3cret'}",
		"probe: {http: 'http://bob:s3cret@/?token=s3cret'}",
	} {
		_, err := New(collectors.Spec{Name: "x"}, collectortest.DecodeYAML(src))
		if err == nil || strings.Contains(err.Error(), secret) {
			t.Errorf("%s: err = %v, want an error without the secret", src, err)
		}
	}
}
