package exec

import (
	"fmt"
	"regexp"
	"slices"

	"github.com/vedetta-dc/vedetta/internal/config"
)

// MetricNames lists the metrics every exec target in nagios format emits.
// A target in prometheus format prints names only its program knows: it
// lists the ones rules read under metrics: (the collector's own
// MetricNames), else `vedetta check` cannot tell a misspelled metric from
// one of its names and only warns.
func MetricNames() []string {
	return []string{"check_status", "check_perfdata", "check_perfdata_warning", "check_perfdata_critical"}
}

// MetricNames is what this target declares (metrics:) and whether it may
// print others (collectors.NameLister).
func (c *collector) MetricNames() ([]string, bool) {
	if c.opts.Format != "prometheus" {
		return nil, false
	}
	return slices.Clone(c.opts.Metrics), len(c.opts.Metrics) == 0
}

// checkMetrics: metrics: is for prometheus format only (nagios names are
// fixed), and each entry must be a metric name a rule can read.
func checkMetrics(o Options) error {
	if len(o.Metrics) > 0 && o.Format != "prometheus" {
		return config.Problem("exec.metrics", "only for format: prometheus (format: nagios always emits %v)", MetricNames())
	}
	for i, m := range o.Metrics {
		if !metricName.MatchString(m) {
			return config.Problem(fmt.Sprintf("exec.metrics[%d]", i), "%q is not a metric name a rule can read (letters, digits, _)", m)
		}
	}
	return nil
}

// metricName is what a rule expression can name (an identifier).
var metricName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
