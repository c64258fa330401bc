package ipmi

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vedetta-dc/vedetta/collectors/collectortest"
)

// TestParseCaptured: output ipmitool printed for ipmi_sim (captured from
// internal/testpeer's simulated BMC, healthy and with a failed supply, a
// hot spare, redundancy lost, an inlet over its critical threshold, a CPU
// sensor reading 250 °C and a slow fan), parsed and normalized.
func TestParseCaptured(t *testing.T) {
	for _, name := range []string{"healthy", "failing"} {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "ipmi_sim-sdr-"+name+".txt"))
			if err != nil {
				t.Fatal(err)
			}
			sensors, err := ParseSDR(b)
			if err != nil {
				t.Fatal(err)
			}
			if len(sensors) != 10 {
				t.Errorf("%d sensors, want 10", len(sensors))
			}
			samples, dropped := Normalize(sensors)
			got := collectortest.Render(samples)
			for _, d := range dropped {
				got += "dropped " + d.Metric + " " + d.Sensor + "\n"
			}
			collectortest.Golden(t, filepath.Join("testdata", "ipmi_sim-sdr-"+name+".golden"), got)
		})
	}
	// The failing capture, in words: the golden file must say this.
	b, _ := os.ReadFile(filepath.Join("testdata", "ipmi_sim-sdr-failing.golden"))
	for _, want := range []string{
		`server_psu_ok{psu="PSU1 Status"} 0`,
		`server_psu_ok{psu="PSU2 Status"} 1`, // a hot spare in standby is not a failure
		`server_psu_redundancy_ok{} 0`,
		`server_temperature_state{sensor="Inlet Temp"} 2`,
		`server_fan_ok{fan="Fan2"} 0`,
		"dropped server_temperature_celsius CPU1 Temp",
	} {
		if !strings.Contains(string(b), want+"\n") {
			t.Errorf("failing golden lacks %q", want)
		}
	}
	if strings.Contains(string(b), `server_temperature_celsius{sensor="CPU1 Temp"}`) {
		t.Error("a CPU at 250 °C is exported")
	}
}

func TestParseSELInfo(t *testing.T) {
	cases := []struct {
		file    string
		entries int
		used    float64
	}{
		{"ipmi_sim-sel-info-empty.txt", 0, 0},
		{"ipmi_sim-sel-info-2.txt", 2, 0},
	}
	for _, tc := range cases {
		b, err := os.ReadFile(filepath.Join("testdata", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		info, err := ParseSELInfo(b)
		if err != nil || info.Entries != tc.entries || info.PercentUsed != tc.used || !info.HasOverflow || info.Overflow {
			t.Errorf("%s: %+v %v", tc.file, info, err)
		}
	}
	for _, bad := range []string{"", "SEL Information\nVersion : 1.5\n", "Entries : -1\n", "Entries : many\n"} {
		if _, err := ParseSELInfo([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	info, err := ParseSELInfo([]byte("Entries : 512\nPercent Used : 100%\nOverflow : true\n"))
	if err != nil || info.Entries != 512 || info.PercentUsed != 100 || !info.Overflow {
		t.Errorf("full SEL: %+v %v", info, err)
	}
}

// TestNormalize: what other BMCs print, in ipmitool's verbose format
// (the shapes named in each case), normalized.
func TestNormalize(t *testing.T) {
	rec := func(name, entity, typ, class, reading, status string, states ...string) string {
		s := "Sensor ID              : " + name + " (0x1)\n Entity ID             : " + entity + " (X)\n" +
			" Sensor Type (" + class + "): " + typ + " (0x01)\n Sensor Reading        : " + reading + "\n"
		if status != "" {
			s += " Status                : " + status + "\n"
		}
		if len(states) > 0 {
			s += " States Asserted       : " + typ + "\n"
			for _, st := range states {
				s += "                         [" + st + "]\n"
			}
		}
		return s + "\n"
	}
	cases := []struct {
		name, in string
		want     []string // rendered samples that must be there
		absent   []string // metric names that must not
	}{
		{
			name: "Dell: both supplies' sensors are called Status",
			in: rec("Status", "10.1", "Power Supply", "Discrete", "0h", "", "Presence detected") +
				rec("Status", "10.2", "Power Supply", "Discrete", "0h", "", "Presence detected", "Power Supply AC lost") +
				rec("PS Redundancy", "7.1", "Power Supply", "Discrete", "0h", "", "Redundancy Lost"),
			want: []string{`server_psu_ok{psu="Status (10.1)"} 1`, `server_psu_ok{psu="Status (10.2)"} 0`,
				`server_psu_redundancy_sensor_ok{sensor="PS Redundancy"} 0`, `server_psu_redundancy_ok{} 0`, `server_psus_healthy{} 1`},
		},
		{
			name:   "a redundancy sensor asserting nothing is not a supply",
			in:     rec("PS Redundancy", "7.1", "Power Supply", "Discrete", "0h", ""),
			want:   []string{`server_psu_redundancy_sensor_ok{sensor="PS Redundancy"} 0`, `server_psu_redundancy_ok{} 0`},
			absent: []string{"server_psu_ok", "server_psus_healthy"},
		},
		{
			name: "an empty slot: not present, not ok",
			in: rec("PSU1", "10.1", "Power Supply", "Discrete", "0h", "", "Presence detected") +
				rec("PSU2", "10.2", "Power Supply", "Discrete", "0h", ""),
			want: []string{`server_psu_present{psu="PSU2"} 0`, `server_psu_ok{psu="PSU2"} 0`, `server_psu_redundancy_ok{} 0`},
		},
		{
			name: "predictive failure and states this code does not know are not ok",
			in: rec("PSU1", "10.1", "Power Supply", "Discrete", "0h", "", "Presence detected", "Predictive failure") +
				rec("PSU2", "10.2", "Power Supply", "Discrete", "0h", "", "Presence detected", "Vendor state 9"),
			want: []string{`server_psu_ok{psu="PSU1"} 0`, `server_psu_ok{psu="PSU2"} 0`},
		},
		{
			name: "fahrenheit, no reading, lower critical fan, a fan in percent",
			in: rec("Ambient", "7.1", "Temperature", "Threshold", "95 (+/- 1) degrees F", "ok") +
				rec("Exhaust", "7.1", "Temperature", "Threshold", "No Reading", "Not Available") +
				rec("FAN 3", "29.3", "Fan", "Threshold", "600 (+/- 75) RPM", "Lower Critical") +
				rec("Fan4 Duty", "29.4", "Fan", "Threshold", "35 (+/- 0) percent", "ok") +
				rec("PSU1 Input", "10.1", "Voltage", "Threshold", "228 (+/- 2) Volts", "ok"),
			want: []string{`server_temperature_celsius{sensor="Ambient"} 35`, `server_temperature_state{sensor="Ambient"} 0`,
				`server_fan_rpm{fan="FAN 3"} 600`, `server_fan_ok{fan="FAN 3"} 0`, `server_fan_ok{fan="Fan4 Duty"} 1`,
				`server_voltage_volts{sensor="PSU1 Input"} 228`},
			absent: []string{`server_temperature_celsius{sensor="Exhaust"}`, `server_fan_rpm{fan="Fan4 Duty"}`, "server_psu_redundancy_ok"},
		},
		{
			name: "non-recoverable, minus 200 °C, too cold",
			in: rec("CPU2 Temp", "3.2", "Temperature", "Threshold", "99 (+/- 0) degrees C", "Upper Non-Recoverable") +
				rec("Inlet", "7.1", "Temperature", "Threshold", "-200 (+/- 0) degrees C", "ok") +
				rec("Room", "7.1", "Temperature", "Threshold", "2 (+/- 0) degrees C", "Lower Critical"),
			want: []string{`server_temperature_state{sensor="CPU2 Temp"} 3`, `server_temperature_celsius{sensor="CPU2 Temp"} 99`,
				`server_temperature_state{sensor="Room"} -2`},
			absent: []string{`server_temperature_celsius{sensor="Inlet"}`},
		},
		{
			name: "older ipmitool: (Analog), no type codes, entity without a name; a sensor it cannot read",
			in: "Sensor ID              : P3V_BAT (0x0)\n Entity ID             : 7.0\n Sensor Type (Analog)  : Voltage\n" +
				" Sensor Reading        : 3.023 (+/- 0.007) Volts\n Status                : ok\n Upper critical        : 3.500\n\n" +
				"Sensor ID              : PS2 Status (0x72)\n Entity ID             : 10.2\n Sensor Type (Discrete): Power Supply\n" +
				" Unable to read sensor: Device Not Present\n\n",
			want: []string{`server_voltage_volts{sensor="P3V_BAT"} 3.023`, `server_psus_healthy{} 0`, `server_psu_redundancy_ok{} 0`},
			// unreadable: unknown, not a failed supply (but not a healthy one)
			absent: []string{`server_psu_ok{psu="PS2 Status"}`, `server_psu_present{psu="PS2 Status"}`},
		},
		{
			name: "fan redundancy",
			in:   rec("Fan Redundancy", "30.1", "Fan", "Discrete", "0h", "", "Redundancy Degraded"),
			want: []string{`server_fan_redundancy_ok{sensor="Fan Redundancy"} 0`},
		},
		{
			name: "an MC locator record between sensors does not leak into them",
			in: rec("PSU1", "10.1", "Power Supply", "Discrete", "0h", "", "Presence detected") +
				"Device ID              : BMC\n Entity ID             : 6.1 (Management Controller)\n\n",
			want: []string{`server_psu_ok{psu="PSU1"} 1`},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sensors, err := ParseSDR([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			samples, _ := Normalize(sensors)
			got := collectortest.Render(samples)
			for _, w := range tc.want {
				if !strings.Contains(got, w+"\n") {
					t.Errorf("missing %s in\n%s", w, got)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(got, a) {
					t.Errorf("%s should not be there:\n%s", a, got)
				}
			}
		})
	}
}

func TestClean(t *testing.T) {
	cases := map[string]string{
		"  Inlet   Temp ":       "Inlet Temp",
		"f\xe9F":                "f?F", // 6-bit packed ASCII printed as bytes
		"a\x00b":                "a?b",
		strings.Repeat("é", 40): strings.Repeat("é", 32),
	}
	for in, want := range cases {
		if got := clean(in); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
	}
}
