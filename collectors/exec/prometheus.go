package exec

import (
	"bytes"
	"fmt"
	"math"
	"strconv"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	prommodel "github.com/prometheus/common/model"

	"github.com/vedetta-dc/vedetta/model"
)

func parsePrometheus(out []byte, emit func(model.Sample)) error {
	p := expfmt.NewTextParser(prommodel.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(out))
	if err != nil {
		return fmt.Errorf("prometheus text: %w", err)
	}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			ls := make(map[string]string, len(m.GetLabel()))
			for _, l := range m.GetLabel() {
				ls[l.GetName()] = l.GetValue()
			}
			put := func(n string, v float64, extra ...string) {
				if math.IsNaN(v) {
					return
				}
				lm := model.FromMap(ls)
				for i := 0; i+1 < len(extra); i += 2 {
					lm = lm.With(extra[i], extra[i+1])
				}
				emit(model.Sample{Name: n, Labels: lm, Value: v})
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				put(name, m.GetCounter().GetValue())
			case dto.MetricType_GAUGE:
				put(name, m.GetGauge().GetValue())
			case dto.MetricType_UNTYPED:
				put(name, m.GetUntyped().GetValue())
			case dto.MetricType_SUMMARY:
				s := m.GetSummary()
				put(name+"_sum", s.GetSampleSum())
				put(name+"_count", float64(s.GetSampleCount()))
				for _, q := range s.GetQuantile() {
					put(name, q.GetValue(), "quantile", strconv.FormatFloat(q.GetQuantile(), 'g', -1, 64))
				}
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				h := m.GetHistogram()
				put(name+"_sum", h.GetSampleSum())
				put(name+"_count", float64(h.GetSampleCount()))
				for _, b := range h.GetBucket() {
					put(name+"_bucket", float64(b.GetCumulativeCount()), "le", strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64))
				}
			}
		}
	}
	return nil
}
