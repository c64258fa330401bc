package snmp

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"

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
