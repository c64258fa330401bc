package host

import (
	"testing"

	"github.com/vedetta-dc/vedetta/collectors/collectortest"
)

// MetricNames lists what the code emits and what the recordings show.
func TestMetricNamesAreHonest(t *testing.T) {
	collectortest.CheckMetricNames(t, MetricNames(), "", 25)
}
