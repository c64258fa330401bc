package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vedetta-dc/vedetta/model"
)

// /metrics carries a real TYPE for collected samples (counter for *_total,
// gauge otherwise), the HELP its source gives (an SNMP profile's help:),
// and no explicit timestamp: a value polled every 10 minutes must not
// fall out of Prometheus' 5-minute lookback.
func TestMetricsTypesHelpNoTimestamps(t *testing.T) {
	polled := time.Now().Add(-10 * time.Minute)
	src := Source{
		Alarms: func() []model.Alarm { return nil },
		Latest: func(fn func(string, model.Labels, float64, time.Time)) {
			fn("if_in_bytes_total", model.L("target", "sw1", "ifname", "eth0"), 1802190559312, polled)
			fn("ups_input_voltage_volts", model.L("target", "ups1", "line", "1"), 231.3, polled)
			fn("smart_temperature_celsius", model.L("target", "h1", "disk", "sda"), 34, polled)
		},
		Help: func(name string) string {
			if name == "ups_input_voltage_volts" {
				return "upsInputVoltage, per input line"
			}
			return ""
		},
	}
	s, err := New("127.0.0.1:0", src, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	resp, err := http.Get("http://" + s.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body := string(b)
	for _, want := range []string{
		"# TYPE if_in_bytes_total counter\n",
		`if_in_bytes_total{ifname="eth0",target="sw1"} 1.802190559312e+12` + "\n",
		"# HELP ups_input_voltage_volts upsInputVoltage, per input line\n",
		"# TYPE ups_input_voltage_volts gauge\n",
		`ups_input_voltage_volts{line="1",target="ups1"} 231.3` + "\n",
		"# HELP smart_temperature_celsius Collected by vedetta.\n",
		"# TYPE smart_temperature_celsius gauge\n",
		`smart_temperature_celsius{disk="sda",target="h1"} 34` + "\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "untyped") {
		t.Errorf("/metrics still has untyped families:\n%s", body)
	}
}
