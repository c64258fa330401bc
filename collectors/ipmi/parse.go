package ipmi

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Sensor is one record of `ipmitool -v sdr elist`: what the BMC says of
// one sensor, before any interpretation.
type Sensor struct {
	Name     string  // "Inlet Temp" (trimmed)
	Number   string  // "0x1"
	Entity   string  // "7.1"
	Type     string  // "Temperature", "Power Supply", "Fan"...
	Class    string  // "Threshold" or "Discrete" (ipmitool's words)
	Reading  float64 // valid when HasValue
	HasValue bool    // a numeric reading with a unit
	// NoReading: the BMC could not read the sensor ("No Reading",
	// "Disabled", "Unable to read sensor: Device Not Present").
	NoReading bool
	Unit      string   // "degrees C", "RPM", "Volts"...
	Status    string   // threshold sensors: "ok", "Upper Critical", "Lower Non-Critical"...
	States    []string // discrete sensors: the asserted states, ["Presence detected", "Failure detected"]
}

// maxSensors bounds what one answer may hold: a BMC has a few hundred
// sensors; garbage that looks like millions of records is cut off.
const maxSensors = 4096

// ParseSDR reads the output of `ipmitool -v sdr elist`: one block per
// record, each line "Key : value", the asserted states of a discrete
// sensor on the lines below "States Asserted" in brackets. Records that
// are not sensors (a "Device ID" MC locator) are skipped; lines it does
// not know are ignored, so a newer ipmitool adding a field breaks nothing.
func ParseSDR(out []byte) ([]Sensor, error) {
	var (
		sensors  []Sensor
		cur      *Sensor
		inStates bool
	)
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 4096), 64*1024)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \t\r")
		if strings.TrimSpace(line) == "" {
			inStates = false
			continue
		}
		indented := line[0] == ' ' || line[0] == '\t'
		key, val, isKV := strings.Cut(line, ":")
		key = strings.TrimSpace(key)
		val = strings.TrimSpace(val)
		if !indented {
			// A record starts at column 0; only sensor records interest us.
			inStates = false
			cur = nil
			if isKV && key == "Sensor ID" {
				if len(sensors) == maxSensors {
					return sensors, fmt.Errorf("more than %d sensor records: output cut off", maxSensors)
				}
				sensors = append(sensors, Sensor{})
				cur = &sensors[len(sensors)-1]
				cur.Name, cur.Number = splitID(val)
			}
			continue
		}
		if cur == nil {
			continue
		}
		// A bracketed line below "States Asserted" is one more state.
		if t := strings.TrimSpace(line); inStates && strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]") {
			cur.States = append(cur.States, clean(t[1:len(t)-1]))
			continue
		}
		inStates = false
		if !isKV {
			continue
		}
		if key == "Unable to read sensor" {
			cur.NoReading = true
			continue
		}
		switch {
		case key == "Entity ID":
			e, _, _ := strings.Cut(val, " ")
			cur.Entity = clean(e)
		case strings.HasPrefix(key, "Sensor Type"):
			// "Sensor Type (Threshold)" or "Sensor Type (Discrete)": "Fan (0x04)"
			if _, c, ok := strings.Cut(key, "("); ok {
				cur.Class = strings.TrimSuffix(c, ")")
			}
			cur.Type = clean(stripCode(val))
		case key == "Sensor Reading":
			cur.Reading, cur.Unit, cur.HasValue = parseReading(val)
			switch val {
			case "No Reading", "Not Reading", "Disabled":
				cur.NoReading = true
			}
		case key == "Status":
			cur.Status = clean(val)
		case key == "States Asserted":
			// The value is the sensor type again; the states follow.
			inStates = true
		}
	}
	if err := sc.Err(); err != nil {
		return sensors, fmt.Errorf("reading ipmitool output: %v", err)
	}
	return sensors, nil
}

// splitID splits "Inlet Temp (0x1)" into the name and the number.
func splitID(v string) (name, number string) {
	if i := strings.LastIndex(v, " ("); i >= 0 && strings.HasSuffix(v, ")") {
		return clean(v[:i]), clean(v[i+2 : len(v)-1])
	}
	return clean(v), ""
}

// stripCode drops a trailing " (0x04)".
func stripCode(v string) string {
	if i := strings.LastIndex(v, " (0x"); i >= 0 && strings.HasSuffix(v, ")") {
		return v[:i]
	}
	return v
}

// parseReading reads "43 (+/- 0) degrees C", "12.040 (+/- 0.060) Volts",
// "4800 (+/- 0) RPM". Discrete readings ("0h"), "No Reading",
// "Disabled" or "Not Present" have no value.
func parseReading(v string) (float64, string, bool) {
	num, rest, ok := strings.Cut(v, " ")
	if !ok {
		return 0, "", false
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, "", false
	}
	rest = strings.TrimSpace(rest)
	if strings.HasPrefix(rest, "(") {
		if _, after, ok := strings.Cut(rest, ")"); ok {
			rest = strings.TrimSpace(after)
		}
	}
	unit := clean(rest)
	if unit == "" {
		return 0, "", false
	}
	return f, unit, true
}

// clean makes a BMC's text a label value: valid UTF-8 (an id string that
// sdrcomp or a vendor packed as 6-bit ASCII comes out as bytes ipmitool
// cannot print), printable, single spaces, trimmed, at most 64 bytes.
func clean(s string) string { return cleanN(s, 64) }

// cleanN is clean with another length limit (log lines).
func cleanN(s string, max int) string {
	s = strings.ToValidUTF8(s, "?")
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			space = true
			continue
		case !unicode.IsPrint(r):
			r = '?'
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
		if b.Len() >= max {
			break
		}
	}
	out := b.String()
	for len(out) > max || !utf8.ValidString(out) {
		out = out[:len(out)-1]
	}
	return strings.TrimRight(out, " ") // the cut may end on a space
}

// SELInfo is what `ipmitool sel info` says of the event log.
type SELInfo struct {
	Entries     int
	HasEntries  bool
	PercentUsed float64 // -1 when not given
	Overflow    bool
	HasOverflow bool
}

// ParseSELInfo reads `ipmitool sel info` ("Entries : 12", "Percent Used :
// 3%", "Overflow : false"). An answer without an Entries line is an error:
// never a count of zero made up.
func ParseSELInfo(out []byte) (SELInfo, error) {
	info := SELInfo{PercentUsed: -1}
	for _, line := range strings.Split(string(out), "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		switch key {
		case "Entries":
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 {
				return info, fmt.Errorf("sel info: entries %q is not a count", clean(val))
			}
			info.Entries, info.HasEntries = n, true
		case "Percent Used":
			// "unknown" on some BMCs
			if f, err := strconv.ParseFloat(strings.TrimSuffix(val, "%"), 64); err == nil && f >= 0 && f <= 100 {
				info.PercentUsed = f
			}
		case "Overflow":
			switch val {
			case "true":
				info.Overflow, info.HasOverflow = true, true
			case "false":
				info.HasOverflow = true
			}
		}
	}
	if !info.HasEntries {
		return info, fmt.Errorf("sel info: no Entries line in the answer")
	}
	return info, nil
}
