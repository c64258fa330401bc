package httpapi

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vedetta-dc/vedetta/model"
)

// /debug/pprof answers only with the API token, is off without one, and
// neither the token nor a wrong one sent instead reaches the log.
func TestPprofNeedsToken(t *testing.T) {
	const token = "s3cret-pprof-token"
	cases := []struct {
		name       string
		configured string
		auth       string
		want       int
	}{
		{"no token configured", "", "Bearer " + token, http.StatusForbidden},
		{"no header", token, "", http.StatusUnauthorized},
		{"wrong token", token, "Bearer wrong-guess-123", http.StatusUnauthorized},
		{"not a bearer", token, token, http.StatusUnauthorized},
		{"the token", token, "Bearer " + token, http.StatusOK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var logs bytes.Buffer
			base := startServer(t, c.configured, &logs)
			for _, path := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/heap"} {
				req, _ := http.NewRequest("GET", base+path, nil)
				if c.auth != "" {
					req.Header.Set("Authorization", c.auth)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != c.want {
					t.Errorf("GET %s: %d, want %d: %s", path, resp.StatusCode, c.want, body)
				}
				if c.want == http.StatusOK && path == "/debug/pprof/goroutine?debug=1" && !strings.Contains(string(body), "goroutine") {
					t.Errorf("GET %s with the token is not a goroutine profile: %.200s", path, body)
				}
				if c.want != http.StatusOK && strings.Contains(string(body), "goroutine") {
					t.Errorf("GET %s refused but the body is a profile: %.200s", path, body)
				}
			}
			if c.want == http.StatusUnauthorized && !strings.Contains(logs.String(), "refused") {
				t.Errorf("a refused request is not logged:\n%s", logs.String())
			}
			for _, secret := range []string{token, "wrong-guess-123"} {
				if strings.Contains(logs.String(), secret) {
					t.Errorf("the log holds %q:\n%s", secret, logs.String())
				}
			}
		})
	}
}

func startServer(t *testing.T, token string, logs io.Writer) string {
	t.Helper()
	src := Source{
		Alarms: func() []model.Alarm { return nil },
		Latest: func(func(string, model.Labels, float64, time.Time)) {},
		Token:  token,
	}
	s, err := New("127.0.0.1:0", src, prometheus.NewRegistry(), slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	// Not t.Context(): it is already cancelled when cleanups run.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return "http://" + s.Addr()
}
