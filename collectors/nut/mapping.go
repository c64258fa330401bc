package nut

import (
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/vedetta-dc/vedetta/model"
)

// statusFlags maps ups.status words to 0/1 metrics. The names are the ones
// the SNMP UPS profiles emit, so one rule serves both.
var statusFlags = []struct{ flag, metric string }{
	{"OL", "ups_on_line"},
	{"OB", "ups_on_battery"},
	{"BYPASS", "ups_on_bypass"},
	{"LB", "ups_battery_low"},
	{"RB", "ups_battery_replace_needed"},
	{"OVER", "ups_overload"},
	{"CHRG", "ups_battery_charging"},
	{"DISCHRG", "ups_battery_discharging"},
	{"OFF", "ups_output_off"},
	{"FSD", "ups_forced_shutdown"},
	{"CAL", "ups_calibrating"},
	{"TRIM", "ups_trimming"},
	{"BOOST", "ups_boosting"},
}

// scalars maps NUT variables to metrics without a line label.
var scalars = []struct {
	v, metric string
	scale     float64
}{
	{"battery.charge", "ups_battery_charge_percent", 1},
	{"battery.runtime", "ups_battery_runtime_seconds", 1},
	{"battery.temperature", "ups_battery_temperature_celsius", 1},
	{"battery.voltage", "ups_battery_voltage_volts", 1},
	{"input.frequency", "ups_input_frequency_hertz", 1},
	{"output.frequency", "ups_output_frequency_hertz", 1},
	{"ups.temperature", "ups_temperature_celsius", 1},
	{"ups.realpower", "ups_output_power_watts", 1},
}

// perLine are metrics with a {line} label: the single-phase variable is
// line 1 (as in UPS-MIB's upsInputTable), the per-phase ones L1..L3.
var perLine = []struct {
	single  string
	phase   *regexp.Regexp
	metric  string
	onlyUPS bool
}{
	{"input.voltage", regexp.MustCompile(`^input\.L([1-3])-N\.voltage$`), "ups_input_voltage_volts", true},
	{"output.voltage", regexp.MustCompile(`^output\.L([1-3])-N\.voltage$`), "ups_output_voltage_volts", true},
	{"ups.load", regexp.MustCompile(`^output\.L([1-3])\.power\.percent$`), "ups_output_load_percent", true},
	{"output.current", regexp.MustCompile(`^output\.L([1-3])\.current$`), "ups_output_current_amperes", true},
}

func number(s string) (float64, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || f != f { // NaN
		return 0, false
	}
	return f, true
}

// Map turns one UPS's variables into samples (without the ups label).
// Variables that are missing or not numbers give no sample: never a
// made-up zero.
func Map(vars map[string]string) []model.Sample {
	if strings.EqualFold(strings.TrimSpace(vars["device.type"]), "ats") {
		return mapATS(vars)
	}
	var out []model.Sample
	add := func(name string, v float64, labels ...string) {
		out = append(out, model.Sample{Name: name, Labels: model.L(labels...), Value: v})
	}
	if st, ok := vars["ups.status"]; ok && strings.TrimSpace(st) != "" && st != "WAIT" {
		flags := map[string]bool{}
		for _, f := range strings.Fields(st) {
			flags[strings.ToUpper(f)] = true
		}
		for _, sf := range statusFlags {
			add(sf.metric, b2f(flags[sf.flag]))
		}
		add("ups_alarms_active", alarmCount(vars["ups.alarm"], flags["ALARM"]))
	}
	for _, s := range scalars {
		if f, ok := number(vars[s.v]); ok {
			if s.v == "battery.runtime" && f == 65535 {
				continue // a 16-bit counter at its maximum: unknown, not 18 h 12 min
			}
			add(s.metric, f*s.scale)
		}
	}
	for _, pl := range perLine {
		phased := false
		for name, val := range vars {
			if m := pl.phase.FindStringSubmatch(name); m != nil {
				if f, ok := number(val); ok {
					add(pl.metric, f, "line", m[1])
					phased = true
				}
			}
		}
		if !phased {
			if f, ok := number(vars[pl.single]); ok {
				add(pl.metric, f, "line", "1")
			}
		}
	}
	sortSamples(out)
	return out
}

// alarmCount counts the alarms in ups.alarm. NUT drivers end each alarm
// text with "!" and join them with spaces ("Bypass not available! Internal
// failure!"); text without "!" is one alarm. The ALARM status flag without
// any text counts as one.
func alarmCount(text string, flag bool) float64 {
	text = strings.TrimSpace(text)
	if text == "" {
		return b2f(flag)
	}
	n := 0
	for _, part := range strings.Split(text, "!") {
		if strings.TrimSpace(part) != "" {
			n++
		}
	}
	return float64(max(n, 1))
}

// ATS sources: NUT numbers them input.1 and input.2, vedetta names them A
// and B like the SNMP ATS profiles.
var atsSources = []struct{ n, name string }{{"1", "A"}, {"2", "B"}}

func mapATS(vars map[string]string) []model.Sample {
	var out []model.Sample
	add := func(name string, v float64, labels ...string) {
		out = append(out, model.Sample{Name: name, Labels: model.L(labels...), Value: v})
	}
	if f, ok := number(vars["input.source"]); ok {
		add("ats_selected_source", f)
	}
	lost := false
	known := 0
	for _, src := range atsSources {
		p := "input." + src.n + "."
		volts, hasV := number(vars[p+"voltage"])
		if hasV {
			add("ats_input_voltage_volts", volts, "source", src.name)
		}
		if f, ok := number(vars[p+"frequency"]); ok {
			add("ats_input_frequency_hertz", f, "source", src.name)
		}
		vs, hasVS := vars[p+"voltage.status"]
		fs, hasFS := vars[p+"frequency.status"]
		var ok bool
		switch {
		case hasVS || hasFS:
			ok = (!hasVS || strings.EqualFold(vs, "good")) && (!hasFS || strings.EqualFold(fs, "good"))
		case hasV:
			ok = volts > 0
		default:
			continue // this source is not described at all
		}
		known++
		add("ats_source_ok", b2f(ok), "source", src.name)
		if !ok {
			lost = true
		}
	}
	if known > 0 {
		add("ats_redundancy_lost", b2f(lost))
	}
	if f, ok := number(vars["output.voltage"]); ok {
		add("ats_output_voltage_volts", f)
	}
	if f, ok := number(vars["output.current"]); ok {
		add("ats_output_current_amperes", f)
	}
	sortSamples(out)
	return out
}

func sortSamples(s []model.Sample) {
	slices.SortFunc(s, func(a, b model.Sample) int { return strings.Compare(a.Key(), b.Key()) })
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
