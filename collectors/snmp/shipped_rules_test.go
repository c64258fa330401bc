package snmp

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/model"
	"github.com/vedetta-dc/vedetta/rules/rulestest"
)

// TestShippedSNMPRulesQuietOnRealDevices runs configs/rules.d/snmp.yaml
// over real recordings: a Catalyst 2960-X's chassis sensors at 43-44 °C
// are its silicon, not the room, so RackTooHot stays quiet on a switch
// (it stormed a first start before); a NetBotz's room sensor at 40 °C is
// a hot rack.
func TestShippedSNMPRulesQuietOnRealDevices(t *testing.T) {
	rs := rulestest.Shipped(t, "snmp.yaml")
	recs := []string{"ios_2960x", "apc-netbotz_netbotz750"}
	addr, _ := startSimd(t, "", recs...)
	samples := map[string][]model.Sample{}
	for _, r := range recs {
		k, err := NewCollector("dev", Options{SNMP: Agent{Address: addr, Community: secret(r), Timeout: 3 * time.Second}}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k.Poll(t.Context(), func(s model.Sample) { samples[r] = append(samples[r], s) }); err != nil {
			t.Fatalf("%s: %v", r, err)
		}
	}
	hot := func(ss []model.Sample, sensor string, v float64) []model.Sample {
		out := slices.Clone(ss)
		for i := range out {
			if out[i].Name == "sensor_temperature_celsius" && out[i].Labels.Get("sensor") == sensor {
				out[i].Value = v
				return out
			}
		}
		t.Fatalf("no sensor %q", sensor)
		return nil
	}
	for _, tc := range []struct {
		name, class string
		ss          []model.Sample
		want        []string // the temperature alarms firing
	}{
		{"a switch's own sensors", "switch", samples["ios_2960x"], nil},
		{"the same device of no declared class counts as room air", "snmp", samples["ios_2960x"],
			[]string{"RackTooHot: SW#1, Sensor#1, GREEN on dev reads 44 °C", "RackTooHot: SW#2, Sensor#1, GREEN on dev reads 43 °C",
				"RackTooHot: SW#3, Sensor#1, GREEN on dev reads 43 °C"}},
		{"a room sensor as recorded", "environment", samples["apc-netbotz_netbotz750"], nil},
		{"a room sensor at 40 °C", "environment", hot(samples["apc-netbotz_netbotz750"], "AP9520TH", 40),
			[]string{"RackTooHot: AP9520TH on dev reads 40 °C"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := rulestest.NewFeed(rs, "dev", tc.class, 30*time.Second)
			for range 6 { // 2m30s: past RackTooHot's for: 2m
				f.Round(tc.ss)
			}
			var got []string
			for _, s := range rulestest.Summaries(f.Engine) {
				if strings.HasPrefix(s, "RackTooHot") || strings.HasPrefix(s, "TemperatureRisingFast") {
					got = append(got, s)
				}
			}
			slices.Sort(got)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("temperature alarms:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}
