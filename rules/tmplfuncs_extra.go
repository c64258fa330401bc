package rules

import (
	"fmt"
	"math"
)

// The humanizing functions messages need beyond template.go's, kept in a
// file of their own (template.go is the engine's).
func init() {
	templateFuncs["duration"] = approxDuration
}

// approxDuration is a number of seconds as a person says it in a page:
// "45 s", "7 min", "2 h 10 min", "3 d 4 h". humanizeDuration's "7m0s" is
// Go syntax, and "2h9m58s" more precise than anyone reads at 3 a.m.
func approxDuration(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Sprint(v)
	}
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	s := int64(math.Round(v))
	switch {
	case s < 90:
		return fmt.Sprintf("%s%d s", sign, s)
	case s < 3600-30:
		return fmt.Sprintf("%s%d min", sign, (s+30)/60)
	case s < 86400-1800:
		m := (s + 30) / 60
		if m%60 == 0 {
			return fmt.Sprintf("%s%d h", sign, m/60)
		}
		return fmt.Sprintf("%s%d h %d min", sign, m/60, m%60)
	default:
		h := (s + 1800) / 3600
		if h%24 == 0 {
			return fmt.Sprintf("%s%d d", sign, h/24)
		}
		return fmt.Sprintf("%s%d d %d h", sign, h/24, h%24)
	}
}
