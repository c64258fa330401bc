package ipmi

import (
	"fmt"
	"strings"

	"github.com/vedetta-dc/vedetta/model"
)

// Dropped is a reading that cannot be right (500 °C), kept out of the
// samples and counted.
type Dropped struct {
	Sensor string
	Metric string
	Value  float64
}

// plausible ranges: outside them a reading is a broken sensor, a wrong
// SDR conversion factor or a garbled answer, never a number to alert on.
var plausible = map[string][2]float64{
	"server_temperature_celsius": {-60, 150}, // outside air in winter .. past any CPU's shutdown point
	"server_fan_rpm":             {0, 50000}, // 1U fans reach ~30000
	"server_voltage_volts":       {-60, 500}, // -48 V DC feeds .. 480 V AC inputs
}

// psuStatesOK are the asserted Power Supply states (sensor type 0x08)
// that do not take a supply out of service: present, or a hot spare in
// standby ("Power Supply Inactive"). Any other asserted state — failure,
// predictive failure, AC lost, AC out of range, configuration error, or a
// state this code does not know — makes the supply not ok: a wrong alarm
// can be silenced, a missed one cannot be undone.
var psuStatesOK = map[string]bool{
	"Presence detected":     true,
	"Power Supply Inactive": true,
}

// Normalize turns sensors into vedetta's server_* samples, in the
// sensors' order with the derived redundancy last, and returns the
// readings it dropped as implausible.
func Normalize(sensors []Sensor) ([]model.Sample, []Dropped) {
	var (
		out     []model.Sample
		dropped []Dropped
		psuOK   []bool
		psuRed  []bool
		names   = uniqueNames(sensors)
	)
	// value emits a reading, or drops it when it cannot be right; then
	// the sensor's state is not believed either (false).
	value := func(metric, label string, name string, v float64) bool {
		if r, ok := plausible[metric]; ok && (v < r[0] || v > r[1]) {
			dropped = append(dropped, Dropped{Sensor: name, Metric: metric, Value: v})
			return false
		}
		out = append(out, model.Sample{Name: metric, Labels: model.L(label, name), Value: v})
		return true
	}
	for i, s := range sensors {
		name := names[i]
		switch {
		case s.Type == "Temperature" && s.Class != "Discrete":
			if c, ok := celsius(s); ok && !value("server_temperature_celsius", "sensor", name, c) {
				continue
			}
			if st, ok := thresholdState(s.Status); ok {
				out = append(out, model.Sample{Name: "server_temperature_state", Labels: model.L("sensor", name), Value: st})
			}
		case s.Type == "Fan" && s.Class != "Discrete":
			if s.HasValue && s.Unit == "RPM" && !value("server_fan_rpm", "fan", name, s.Reading) {
				continue
			}
			if st, ok := thresholdState(s.Status); ok {
				out = append(out, model.Sample{Name: "server_fan_ok", Labels: model.L("fan", name), Value: b2f(st == 0)})
			}
		case (s.Type == "Fan" || s.Type == "Cooling Device") && isRedundancy(s):
			out = append(out, model.Sample{Name: "server_fan_redundancy_ok", Labels: model.L("sensor", name), Value: b2f(fullyRedundant(s.States))})
		case s.Type == "Voltage" && s.Class != "Discrete":
			if s.HasValue && s.Unit == "Volts" {
				value("server_voltage_volts", "sensor", name, s.Reading)
			}
		case (s.Type == "Power Supply" || s.Type == "Power Unit") && isRedundancy(s):
			ok := fullyRedundant(s.States)
			psuRed = append(psuRed, ok)
			out = append(out, model.Sample{Name: "server_psu_redundancy_sensor_ok", Labels: model.L("sensor", name), Value: b2f(ok)})
		case s.Type == "Power Supply" && s.Class == "Discrete" && s.NoReading && len(s.States) == 0:
			// The BMC cannot read it (an empty slot on many BMCs, or a
			// supply dead enough to take its sensor along): unknown, so no
			// server_psu_ok, and not one of the healthy supplies.
			psuOK = append(psuOK, false)
		case s.Type == "Power Supply" && s.Class == "Discrete":
			present, ok := false, true
			for _, st := range s.States {
				if st == "Presence detected" {
					present = true
				}
				if !psuStatesOK[st] {
					ok = false
				}
			}
			ok = ok && present
			psuOK = append(psuOK, ok)
			out = append(out,
				model.Sample{Name: "server_psu_present", Labels: model.L("psu", name), Value: b2f(present)},
				model.Sample{Name: "server_psu_ok", Labels: model.L("psu", name), Value: b2f(ok)})
		}
	}
	// Redundancy: the BMC's own redundancy sensor where it has one, and
	// in any case at least two supplies ok where it reports supplies (a
	// BMC whose redundancy sensor lags behind a failed supply is not
	// believed over the supply). Without either, nothing: a server whose
	// BMC describes no supply is unknown, not unredundant.
	if len(psuRed) > 0 || len(psuOK) > 0 {
		ok := true
		for _, r := range psuRed {
			ok = ok && r
		}
		if len(psuOK) > 0 {
			n := 0
			for _, p := range psuOK {
				if p {
					n++
				}
			}
			ok = ok && n >= 2
			out = append(out, model.Sample{Name: "server_psus_healthy", Value: float64(n)})
		}
		out = append(out, model.Sample{Name: "server_psu_redundancy_ok", Value: b2f(ok)})
	}
	return out, dropped
}

// uniqueNames gives each sensor its label: its name, or "name (entity)"
// when several sensors of one type share it (Dell names every supply's
// sensor "Status"; one label for two supplies would merge them).
func uniqueNames(sensors []Sensor) []string {
	count := map[string]int{}
	for _, s := range sensors {
		count[s.Type+"\x00"+s.Name]++
	}
	names := make([]string, len(sensors))
	seen := map[string]int{}
	for i, s := range sensors {
		n := s.Name
		if n == "" {
			n = strings.TrimSpace("sensor " + s.Number)
		}
		if count[s.Type+"\x00"+s.Name] > 1 {
			if s.Entity != "" {
				n = fmt.Sprintf("%s (%s)", n, s.Entity)
			} else {
				n = fmt.Sprintf("%s (%s)", n, s.Number)
			}
		}
		// Still a clash (same name and entity): number them in order.
		key := s.Type + "\x00" + n
		seen[key]++
		if seen[key] > 1 {
			n = fmt.Sprintf("%s #%d", n, seen[key])
		}
		names[i] = n
	}
	return names
}

func celsius(s Sensor) (float64, bool) {
	if !s.HasValue {
		return 0, false
	}
	switch s.Unit {
	case "degrees C":
		return s.Reading, true
	case "degrees F":
		return (s.Reading - 32) * 5 / 9, true
	case "degrees K":
		return s.Reading - 273.15, true
	}
	return 0, false
}

// thresholdState maps ipmitool's status of a threshold sensor to 0 ok,
// 1 non-critical, 2 critical, 3 non-recoverable, negative for a lower
// threshold (-2: lower critical, a fan too slow, a room too cold) and
// positive for an upper one or one ipmitool gives without a side.
// "Not Available", "ns" (no reading) and anything unknown give no
// sample: unknown, not ok.
func thresholdState(status string) (float64, bool) {
	s := strings.ToLower(status)
	level := 0.0
	switch {
	case s == "ok":
		return 0, true
	case strings.HasSuffix(s, "non-recoverable"):
		level = 3
	case strings.HasSuffix(s, "non-critical"):
		level = 1
	case strings.HasSuffix(s, "critical"):
		level = 2
	default:
		return 0, false
	}
	if strings.HasPrefix(s, "lower") {
		level = -level
	}
	return level, true
}

// isRedundancy: the asserted states are those of the generic redundancy
// reading type (0x0b): "Fully Redundant", "Redundancy Lost", "Redundancy
// Degraded", "Non-Redundant: ...", or, when it asserts none, its name
// says so ("PS Redundancy"): it must not pass for a supply that is absent.
func isRedundancy(s Sensor) bool {
	if strings.Contains(strings.ToLower(s.Name), "redundan") {
		return true
	}
	for _, st := range s.States {
		if strings.Contains(st, "Redundan") {
			return true
		}
	}
	return false
}

func fullyRedundant(states []string) bool {
	return len(states) == 1 && states[0] == "Fully Redundant"
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
