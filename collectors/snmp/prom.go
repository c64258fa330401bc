package snmp

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/vedetta-dc/vedetta/model"
)

// WriteProm writes samples as sorted Prometheus text lines
// (name{labels} value), the format of golden files and `vedetta probe`.
func WriteProm(w io.Writer, samples []model.Sample) error {
	lines := make([]string, 0, len(samples))
	for _, s := range samples {
		l := s.Name
		if len(s.Labels) > 0 {
			l += s.Labels.String()
		}
		lines = append(lines, l+" "+FormatValue(s.Value))
	}
	sort.Strings(lines)
	for _, l := range lines {
		if _, err := fmt.Fprintln(w, l); err != nil {
			return err
		}
	}
	return nil
}

// FormatValue prints integers in full (counters, up to 2^53: every integer
// a float64 holds exactly) and other values in the shortest form.
func FormatValue(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) <= 1<<53 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// helpIndex maps each metric name to the first help: text the profiles
// give it, folded onto one line: the user's profiles first (a profile
// written for this site says best what its metric is), then the embedded
// ones, each in name order, metrics in file order. A family of /metrics
// has one HELP whatever profile each target uses: the text is the one
// deterministic choice, not the source of every series.
func helpIndex(ps []*Profile) map[string]string {
	h := map[string]string{}
	ordered := make([]*Profile, 0, len(ps))
	for _, p := range ps {
		if p.Source != "embedded" {
			ordered = append(ordered, p)
		}
	}
	for _, p := range ps {
		if p.Source == "embedded" {
			ordered = append(ordered, p)
		}
	}
	for _, p := range ordered {
		for _, m := range p.Metrics {
			if _, done := h[m.Name]; done || m.Help == "" {
				continue
			}
			h[m.Name] = strings.Join(strings.Fields(m.Help), " ")
		}
	}
	return h
}

// Help is the HELP text /metrics gives a metric: its profile's help:, ""
// when no profile of the set documents it.
func (s *ProfileSet) Help(name string) string {
	if s == nil {
		return ""
	}
	return s.help[name]
}

// Help is Help of the kind's profile set.
func (kd *Kind) Help(name string) string {
	if kd == nil {
		return ""
	}
	return kd.profiles.Help(name)
}
