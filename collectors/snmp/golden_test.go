package snmp

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/model"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

func secret(s string) config.Secret { return config.Secret(s) }

// TestGoldenRecordings polls every recording of a real device, served by a
// real snmpsimd, with profiles: [auto], and compares the normalized samples
// with testdata/golden/<recording>.prom. A device no profile knows yet has
// that poll error as its golden (one "# poll error: ..." line, the agent's
// address written as ADDR), so adding its profile changes the golden
// visibly; any other poll error fails the test.
func TestGoldenRecordings(t *testing.T) {
	addr, names := startSimd(t, "")
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := poll(t, Options{SNMP: Agent{Address: addr, Community: secret(name), Timeout: 3 * time.Second}})
			if err != nil {
				if !strings.Contains(err.Error(), "no profile matches this device") || len(got) > 0 {
					t.Fatalf("poll: %v", err)
				}
				got = []byte("# poll error: " + strings.ReplaceAll(err.Error(), addr, "ADDR") + "\n")
			}
			golden := filepath.Join("testdata", "golden", name+".prom")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGoldenRecordings -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("samples differ from %s (-update rewrites it):\n%s", golden, diffLines(string(want), string(got)))
			}
		})
	}
}

// poll polls once and returns the samples as Prometheus text, and the
// poll's error.
func poll(t testing.TB, o Options) ([]byte, error) {
	t.Helper()
	k, err := NewCollector("dev", o, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var samples []model.Sample
	_, perr := k.Poll(ctx, func(s model.Sample) { samples = append(samples, s) })
	var b bytes.Buffer
	if err := WriteProm(&b, samples); err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), perr
}

// diffLines lists lines only in want (-) or only in got (+).
func diffLines(want, got string) string {
	w, g := map[string]bool{}, map[string]bool{}
	for _, l := range bytes.Split([]byte(want), []byte("\n")) {
		w[string(l)] = true
	}
	for _, l := range bytes.Split([]byte(got), []byte("\n")) {
		g[string(l)] = true
	}
	var b bytes.Buffer
	for _, l := range bytes.Split([]byte(want), []byte("\n")) {
		if !g[string(l)] {
			b.WriteString("- " + string(l) + "\n")
		}
	}
	for _, l := range bytes.Split([]byte(got), []byte("\n")) {
		if !w[string(l)] {
			b.WriteString("+ " + string(l) + "\n")
		}
	}
	return b.String()
}
