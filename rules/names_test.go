package rules

import (
	"slices"
	"testing"

	"github.com/vedetta-dc/vedetta/internal/config"
)

func TestMetricsRead(t *testing.T) {
	cases := []struct {
		name string
		rule config.Rule
		want []MetricUse
	}{
		{"a comparison", config.Rule{Expr: "host_filesystem_used_ratio > 0.9"},
			[]MetricUse{{"expr", "host_filesystem_used_ratio"}}},
		{"labels and reserved words are no metrics", config.Rule{Expr: `labels.mountpoint == "/" && host_filesystem_used_ratio > 0.8 && true`},
			[]MetricUse{{"expr", "host_filesystem_used_ratio"}}},
		{"labels by index", config.Rule{Expr: `labels["ifname"] != "lo" && if_oper_up == 0`},
			[]MetricUse{{"expr", "if_oper_up"}}},
		{"window functions read their metric, not their name", config.Rule{Expr: "increase(auth_failures_total, 5m) > 20 || absent(auth_failures_total, 1h)"},
			[]MetricUse{{"expr", "auth_failures_total"}}},
		{"each field, each name once", config.Rule{Expr: "ups_on_battery == 1 && ups_battery_runtime_seconds < 600 && ups_on_battery != 0",
			Clear: "ups_on_line == 1", Value: "ups_battery_runtime_seconds / 60"},
			[]MetricUse{{"expr", "ups_on_battery"}, {"expr", "ups_battery_runtime_seconds"}, {"clear", "ups_on_line"}, {"value", "ups_battery_runtime_seconds"}}},
		{"aggregations read their inner expressions", config.Rule{Expr: `count_by(ups_on_battery == 0 && labels.group == "main", "room") < members_by(ups_on_battery == 0, "room")`,
			Value: `min_by(ups_battery_charge_percent, "room")`},
			[]MetricUse{{"expr", "ups_on_battery"}, {"value", "ups_battery_charge_percent"}}},
		{"builtins and conditionals", config.Rule{Expr: "abs(sensor_temperature_celsius - 20) > (rack_setpoint > 0 ? rack_setpoint : 5)"},
			[]MetricUse{{"expr", "sensor_temperature_celsius"}, {"expr", "rack_setpoint"}}},
		{"templates: call, pipeline, nested, in branches and defines", config.Rule{Expr: "ups_on_battery == 1",
			Summary: `{{ metric "ups_battery_runtime_seconds" | humanizeDuration }} {{ "ups_output_load_percent" | metric }}` +
				`{{ if gt (metric "ups_battery_charge_percent") 50.0 }}{{ else }}{{ with .Labels }}{{ metric "ups_x" }}{{ end }}{{ end }}`,
			Description: `{{ define "t" }}{{ metric "ups_y" }}{{ end }}{{ template "t" }}{{ .Labels.metric }} {{ printf "%s" "not_a_metric" }}`},
			[]MetricUse{{"expr", "ups_on_battery"}, {"summary", "ups_battery_runtime_seconds"}, {"summary", "ups_output_load_percent"},
				{"summary", "ups_battery_charge_percent"}, {"summary", "ups_x"}, {"description", "ups_y"}}},
		{"a field that does not parse reads nothing", config.Rule{Expr: "ups_on_battery ==", Summary: "{{ metric "},
			nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := MetricsRead(c.rule); !slices.Equal(got, c.want) {
				t.Fatalf("got  %v\nwant %v", got, c.want)
			}
		})
	}
}

// MetricsRead reads what the engine binds: the names compile finds.
func TestMetricsReadIsWhatCompileReads(t *testing.T) {
	for _, src := range []string{
		"ups_on_battery == 1 && ups_battery_runtime_seconds < 600",
		`labels.mountpoint == "/" && host_filesystem_used_ratio > 0.8`,
		"delta(sensor_temperature_celsius, 10m) > 5 && sensor_temperature_celsius > 30",
		"rate(if_in_errors_total, 5m) > 1 || if_oper_up == 0",
	} {
		p, err := compile(src, true)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		var got []string
		for _, u := range MetricsRead(config.Rule{Expr: src}) {
			got = append(got, u.Name)
		}
		if !slices.Equal(got, p.metrics) {
			t.Errorf("%s: MetricsRead %v, compile %v", src, got, p.metrics)
		}
	}
}
