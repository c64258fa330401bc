package ipmi

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/model"
	"github.com/vedetta-dc/vedetta/rules/rulestest"
)

// TestShippedRules: configs/rules.d/servers.yaml on the captured ipmi_sim
// output: the healthy server raises nothing; the failing one (PSU1 failed,
// redundancy lost, inlet past its critical threshold, Fan2 at 300 RPM)
// raises each rule once, with a summary that names the part.
func TestShippedRules(t *testing.T) {
	rs := rulestest.Shipped(t, "servers.yaml")
	want := map[string][]string{
		"healthy": nil,
		"failing": {
			"ServerFanFailed: fan Fan2 on srv1 is below its threshold or stopped",
			"ServerPSUFailed: power supply PSU1 Status on srv1 has failed, lost its input or is absent: the server runs without a spare supply",
			"ServerPSURedundancyLost: srv1: power supply redundancy lost: one more supply failure and the server is down",
			"ServerTooHot: Inlet Temp on srv1 is at 44 °C",
		},
	}
	for name, w := range want {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "ipmi_sim-sdr-"+name+".txt"))
			if err != nil {
				t.Fatal(err)
			}
			sensors, err := ParseSDR(b)
			if err != nil {
				t.Fatal(err)
			}
			samples, _ := Normalize(sensors)
			// rounds a minute apart for two minutes: the for: 1m rules fire
			got := rulestest.Summaries(rulestest.Replay(rs, "srv1", "server", samples, 3, time.Minute))
			if fmt.Sprint(got) != fmt.Sprint(w) {
				t.Errorf("firing:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(w, "\n"))
			}
		})
	}
	t.Run("SEL full", func(t *testing.T) {
		for _, tc := range []struct {
			used   float64
			rounds int
			want   string
		}{
			{0.96, 12, "[ServerSELFull: srv1: the BMC's event log is 96% full: new hardware events are no longer recorded]"},
			{0.96, 5, "[]"}, // not yet for 10m
			{0.5, 12, "[]"},
		} {
			samples := []model.Sample{{Name: "server_sel_used_ratio", Value: tc.used}, {Name: "server_sel_entries", Value: 400}}
			got := rulestest.Summaries(rulestest.Replay(rs, "srv1", "server", samples, tc.rounds, time.Minute))
			if fmt.Sprint(got) != tc.want {
				t.Errorf("used %v for %d min: %v, want %s", tc.used, tc.rounds-1, got, tc.want)
			}
		}
	})
}
