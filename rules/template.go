package rules

import (
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"strings"
	"text/template"
	"time"
)

// templateData is what summaries see.
type templateData struct {
	Labels   map[string]string
	Value    float64
	Rule     string
	Severity string
	Site     string
	// Cause is why the last collection of the alarm's target failed
	// ("request timeout", "authentication failed"), empty when it
	// succeeded: an unreachable device's page says why, not only that.
	Cause string
	// Members of an aggregation alarm's group: failing, healthy, unknown
	// and all (aggregate.go); empty for other alarms.
	Members map[string]MemberList
	// Resolved: the message is the RESOLVED one ("back on mains").
	Resolved bool
	// Duration is how long the alarm has been firing, in seconds; at
	// RESOLVED how long it lasted ("after {{ duration .Duration }}").
	// 0 before it fired.
	Duration float64
}

var templateFuncs = template.FuncMap{
	"percent": func(v float64) string { return fmt.Sprintf("%.0f%%", v*100) },
	"humanize": func(v float64) string {
		for _, u := range []struct {
			f float64
			s string
		}{{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
			if math.Abs(v) >= u.f {
				return fmt.Sprintf("%.3g%s", v/u.f, u.s)
			}
		}
		return fmt.Sprintf("%.3g", v)
	},
	"humanizeBytes": func(v float64) string {
		units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
		i := 0
		for math.Abs(v) >= 1024 && i < len(units)-1 {
			v /= 1024
			i++
		}
		return fmt.Sprintf("%.3g %s", v, units[i])
	},
	"humanizeDuration": func(v float64) string {
		return time.Duration(v * float64(time.Second)).Round(time.Second).String()
	},
	"upper": strings.ToUpper,
	"lower": strings.ToLower,
}

func parseTemplate(name, text string) (*template.Template, error) {
	if text == "" {
		return nil, nil
	}
	t, err := template.New(name).Option("missingkey=zero").Funcs(templateFuncs).Parse(text)
	if err != nil {
		return nil, err
	}
	// A misspelled field ({{ .Vaule }}) or a function given the wrong
	// type fails only when the message is built, inside the page at 3 a.m.:
	// run it once now on empty data, so `vedetta check` says so.
	if err := t.Execute(io.Discard, templateData{}); err != nil {
		if m := unknownField.FindStringSubmatch(err.Error()); m != nil {
			return nil, fmt.Errorf("unknown field .%s (there are %s)", m[1], templateFields())
		}
		return nil, err
	}
	return t, nil
}

var unknownField = regexp.MustCompile(`can't evaluate field (\w+) in type`)

// templateFields lists what a template can read, for error messages.
func templateFields() string {
	ty := reflect.TypeOf(templateData{})
	var out []string
	for i := range ty.NumField() {
		out = append(out, "."+ty.Field(i).Name)
	}
	return strings.Join(out, ", ")
}

func render(t *template.Template, d templateData, fallback string) string {
	if t == nil {
		return fallback
	}
	var b strings.Builder
	if err := t.Execute(&b, d); err != nil {
		return fallback + " (summary template failed: " + err.Error() + ")"
	}
	return b.String()
}
