package main

import (
	"fmt"
	"strings"
)

// What vedetta's profiles poll on the two device kinds (auto-detection
// picks apc-ups + apc-uio + if-mib for the UPS recording and if-mib +
// hp-icf + entity-sensor for the switch); the peers are configured to
// fetch the same objects. Scalars are GETs, columns are walked.
var (
	apcUPSScalars = []string{
		"1.3.6.1.4.1.318.1.1.1.4.1.1.0", "1.3.6.1.4.1.318.1.1.1.2.1.1.0", "1.3.6.1.4.1.318.1.1.1.2.2.4.0",
		"1.3.6.1.4.1.318.1.1.1.2.3.1.0", "1.3.6.1.4.1.318.1.1.1.2.3.2.0", "1.3.6.1.4.1.318.1.1.1.2.2.3.0",
		"1.3.6.1.4.1.318.1.1.1.3.3.1.0", "1.3.6.1.4.1.318.1.1.1.3.3.4.0", "1.3.6.1.4.1.318.1.1.1.4.3.3.0",
	}
	apcUIOColumns = cols("1.3.6.1.4.1.318.1.1.25.1.2.1", 3, 6, 7, 9, 10)
	ifColumns     = append(cols("1.3.6.1.2.1.2.2.1", 2, 5, 7, 8, 10, 13, 14, 16, 20), cols("1.3.6.1.2.1.31.1.1.1", 1, 6, 10, 15, 18)...)
	hpICFColumns  = cols("1.3.6.1.4.1.11.2.14.11.1.2.6.1", 2, 4, 7)
	entColumns    = append(cols("1.3.6.1.2.1.99.1.1.1", 1, 2, 3, 4, 5), cols("1.3.6.1.2.1.47.1.1.1.1", 2, 7)...)

	upsWalks    = append(append([]string{}, apcUIOColumns...), ifColumns...)
	switchWalks = append(append(append([]string{}, ifColumns...), hpICFColumns...), entColumns...)
)

func cols(table string, n ...int) []string {
	out := make([]string, len(n))
	for i, c := range n {
		out[i] = fmt.Sprintf("%s.%d", table, c)
	}
	return out
}

// exporterYAML is a hand-written snmp.yml (the generator needs MIB files
// this machine does not have): modules ups and switch with the same
// objects, timeouts and retries as vedetta's defaults.
func exporterYAML(community string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "auths:\n  bench:\n    community: %s\n    version: 2\nmodules:\n", community)
	module := func(name string, gets, walks []string) {
		fmt.Fprintf(&b, "  %s:\n    max_repetitions: 25\n    retries: 1\n    timeout: 2s\n", name)
		if len(gets) > 0 {
			b.WriteString("    get:\n")
			for _, g := range gets {
				fmt.Fprintf(&b, "      - %s\n", g)
			}
		}
		b.WriteString("    walk:\n")
		for _, w := range walks {
			fmt.Fprintf(&b, "      - %s\n", w)
		}
		b.WriteString("    metrics:\n")
		for i, g := range gets {
			fmt.Fprintf(&b, "      - {name: ups_scalar_%d, oid: %s, type: gauge}\n", i, strings.TrimSuffix(g, ".0"))
		}
		for _, w := range walks {
			name := "c_" + strings.ReplaceAll(w, ".", "_")
			typ := "gauge"
			if isLabelColumn(w) {
				typ = "DisplayString"
			}
			fmt.Fprintf(&b, "      - name: %s\n        oid: %s\n        type: %s\n        indexes: [{labelname: index, type: gauge}]\n", name, w, typ)
			if strings.HasPrefix(w, "1.3.6.1.2.1.2.2.1.") || strings.HasPrefix(w, "1.3.6.1.2.1.31.1.1.1.") {
				b.WriteString("        lookups:\n          - {labels: [index], labelname: ifName, oid: 1.3.6.1.2.1.31.1.1.1.1, type: DisplayString}\n" +
					"          - {labels: [index], labelname: ifAlias, oid: 1.3.6.1.2.1.31.1.1.1.18, type: DisplayString}\n")
			}
		}
	}
	module("ups", apcUPSScalars, upsWalks)
	module("switch", nil, switchWalks)
	return b.String()
}

// isLabelColumn tells the text columns (names, aliases, descriptions).
func isLabelColumn(oid string) bool {
	for _, s := range []string{"1.3.6.1.2.1.2.2.1.2", "1.3.6.1.2.1.31.1.1.1.1", "1.3.6.1.2.1.31.1.1.1.18",
		"1.3.6.1.4.1.318.1.1.25.1.2.1.3", "1.3.6.1.4.1.11.2.14.11.1.2.6.1.7", "1.3.6.1.2.1.47.1.1.1.1.2", "1.3.6.1.2.1.47.1.1.1.1.7"} {
		if oid == s {
			return true
		}
	}
	return false
}

// telegrafConf is one [[inputs.snmp]] per device kind listing all its
// agents, with the same objects as fields and tables, to outputs.discard.
func telegrafConf(community string, ups, switches []string) string {
	var b strings.Builder
	b.WriteString(`[agent]
  interval = "60s"
  round_interval = false
  collection_jitter = "0s"
  flush_interval = "60s"
  metric_batch_size = 10000
  metric_buffer_limit = 2000000
  omit_hostname = true
  quiet = true
`)
	input := func(name string, agents, gets, walks []string) {
		if len(agents) == 0 {
			return
		}
		q := make([]string, len(agents))
		for i, a := range agents {
			q[i] = `"udp://` + a + `"`
		}
		fmt.Fprintf(&b, "\n[[inputs.snmp]]\n  name = %q\n  agents = [%s]\n  version = 2\n  community = %q\n  timeout = \"2s\"\n  retries = 1\n  max_repetitions = 25\n",
			name, strings.Join(q, ", "), community)
		for i, g := range gets {
			fmt.Fprintf(&b, "  [[inputs.snmp.field]]\n    name = \"scalar_%d\"\n    oid = \".%s\"\n", i, g)
		}
		// One table per SNMP table, each column a field (the text
		// columns as tags, like vedetta's labels).
		tables := map[string][]string{}
		var order []string
		for _, w := range walks {
			t := w[:strings.LastIndexByte(w, '.')]
			if _, ok := tables[t]; !ok {
				order = append(order, t)
			}
			tables[t] = append(tables[t], w)
		}
		for _, t := range order {
			fmt.Fprintf(&b, "  [[inputs.snmp.table]]\n    name = \"t_%s\"\n", strings.ReplaceAll(t, ".", "_"))
			for _, c := range tables[t] {
				fmt.Fprintf(&b, "    [[inputs.snmp.table.field]]\n      name = \"c_%s\"\n      oid = \".%s\"\n", strings.ReplaceAll(c, ".", "_"), c)
				if isLabelColumn(c) {
					b.WriteString("      is_tag = true\n")
				}
			}
		}
	}
	input("ups", ups, apcUPSScalars, upsWalks)
	input("switch", switches, nil, switchWalks)
	b.WriteString("\n[[outputs.discard]]\n")
	return b.String()
}
