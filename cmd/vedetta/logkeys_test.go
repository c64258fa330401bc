package main

import (
	"fmt"
	"strings"
	"testing"
)

// Every log line names each key once (issue 15: "target=ups-a ...
// target=ups-a"): a logger handed down with a field already on it, and a
// call adding the same field again, prints it twice, and log queries
// (`target=ups-a`) then match the wrong half. The daemons the end-to-end
// tests run are checked with it when each test ends.

// textKeys returns the keys of one line of slog's TextHandler, in order.
// Values are bare words or Go-quoted strings ("a \"b\" c").
func textKeys(line string) []string {
	var keys []string
	for i := 0; i < len(line); {
		for i < len(line) && line[i] == ' ' {
			i++
		}
		eq := strings.IndexAny(line[i:], "= ")
		if eq < 0 || line[i+eq] != '=' {
			return keys // not key=value: a line of another program
		}
		keys = append(keys, line[i:i+eq])
		i += eq + 1
		if i < len(line) && line[i] == '"' {
			i++
			for i < len(line) && line[i] != '"' {
				if line[i] == '\\' {
					i++
				}
				i++
			}
			i++
		} else {
			for i < len(line) && line[i] != ' ' {
				i++
			}
		}
	}
	return keys
}

// repeatedKeys lists the lines of output that name a key twice.
func repeatedKeys(output string) []string {
	var bad []string
	for _, line := range strings.Split(output, "\n") {
		if !strings.HasPrefix(line, "time=") {
			continue
		}
		seen := map[string]bool{}
		for _, k := range textKeys(line) {
			if seen[k] {
				bad = append(bad, fmt.Sprintf("key %q twice in: %s", k, line))
				break
			}
			seen[k] = true
		}
	}
	return bad
}

// checkLogKeys fails the test for every line of a daemon's output that
// names a key twice.
func checkLogKeys(t testing.TB, who string, output func() string) {
	t.Helper()
	for _, b := range repeatedKeys(output()) {
		t.Errorf("%s: %s", who, b)
	}
}

func TestRepeatedKeys(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		bad        bool
	}{
		{"plain", `time=2026-12-01T17:00:00Z level=INFO msg=started target=ups-a kind=snmp`, false},
		{"repeated", `time=2026-12-01T17:00:00Z level=INFO msg=polled target=ups-a kind=snmp target=ups-a`, true},
		{"a quoted value holding key=value", `time=x level=WARN msg="poll failed" err="target=ups-a: timeout" target=ups-a`, false},
		{"escaped quotes", `time=x level=WARN msg="a \"target=b\" c" target=b`, false},
		{"repeated after a quoted value", `time=x level=WARN msg="a b" channel=email err="x y" channel=email`, true},
		{"a line of another program", `panic: oops target=a target=a`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := len(repeatedKeys(tc.line)) > 0; got != tc.bad {
				t.Errorf("repeatedKeys(%q) = %v, want bad=%v (keys %q)", tc.line, got, tc.bad, textKeys(tc.line))
			}
		})
	}
}
