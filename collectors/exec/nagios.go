package exec

import (
	"math"
	"strconv"
	"strings"

	"github.com/vedetta-dc/vedetta/model"
)

// parseNagiosPerfdata reads the perfdata of a plugin's output: everything
// after the first '|' on the first line, plus every '|' part of later lines
// (the long-output form). Items are 'label'=value[UOM];[warn];[crit];[min];[max].
func parseNagiosPerfdata(out string, emit func(model.Sample)) {
	var perf []string
	for i, line := range strings.Split(out, "\n") {
		if _, p, ok := strings.Cut(line, "|"); ok {
			perf = append(perf, p)
		} else if i > 0 && len(perf) > 0 {
			// Long output after a perfdata line: only further '|' parts count.
			continue
		}
	}
	for _, p := range perf {
		for _, item := range splitPerf(p) {
			label, rest, ok := strings.Cut(item, "=")
			if !ok || label == "" {
				continue
			}
			label = strings.Trim(label, "'")
			fields := strings.Split(rest, ";")
			val, uom, ok := splitUOM(fields[0])
			if !ok {
				continue // "U" (unknown) or garbage: no sample rather than a wrong one
			}
			mult, unit := baseUnit(uom)
			if !finite(val * mult) {
				continue // 1e300TB: too big once in bytes
			}
			ls := model.L("label", label, "uom", unit)
			emit(model.Sample{Name: "check_perfdata", Labels: ls, Value: val * mult})
			// Thresholds: simple numbers only, ranges (10:20, @5) are no sample.
			// ParseFloat also takes "NaN" and "Inf", which no plugin means.
			for i, name := range []string{"check_perfdata_warning", "check_perfdata_critical"} {
				if i+1 < len(fields) {
					if v, err := strconv.ParseFloat(fields[i+1], 64); err == nil && finite(v*mult) {
						emit(model.Sample{Name: name, Labels: ls, Value: v * mult})
					}
				}
			}
		}
	}
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// splitPerf splits on spaces outside single quotes ('disk /var'=...).
func splitPerf(s string) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	for _, r := range s {
		switch {
		case r == '\'':
			quoted = !quoted
			cur.WriteRune(r)
		case (r == ' ' || r == '\t') && !quoted:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

func splitUOM(s string) (float64, string, bool) {
	i := len(s)
	for i > 0 && !(s[i-1] >= '0' && s[i-1] <= '9' || s[i-1] == '.') {
		i--
	}
	v, err := strconv.ParseFloat(strings.Replace(s[:i], ",", ".", 1), 64)
	if err != nil {
		return 0, "", false
	}
	return v, s[i:], true
}

// baseUnit converts plugin units to base units so that rules compare like
// with like: seconds, bytes, ratio stays percent (as the plugin API defines).
func baseUnit(uom string) (float64, string) {
	switch strings.ToLower(uom) {
	case "s":
		return 1, "seconds"
	case "ms":
		return 1e-3, "seconds"
	case "us":
		return 1e-6, "seconds"
	case "%":
		return 1, "percent"
	case "b":
		return 1, "bytes"
	case "kb":
		return 1 << 10, "bytes"
	case "mb":
		return 1 << 20, "bytes"
	case "gb":
		return 1 << 30, "bytes"
	case "tb":
		return 1 << 40, "bytes"
	case "c":
		return 1, "counter"
	case "":
		return 1, ""
	}
	return 1, uom
}
