// Package collectortest holds what the collector packages' tests share:
// the strict YAML decoder their options go through, collecting every
// sample of a round, looking one up, and golden files of rendered samples
// (rewritten with `go test -update`). Only tests import it.
package collectortest

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/model"
)

// update is registered here once: a test package that imports
// collectortest must not define its own -update flag.
var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// DecodeYAML mimics the config package's strict decoder well enough for
// collector tests (the real one is exercised by `vedetta check`).
func DecodeYAML(src string) collectors.Decode {
	return func(out any) error {
		dec := yaml.NewDecoder(strings.NewReader(src))
		dec.KnownFields(true)
		return dec.Decode(out)
	}
}

// Collect runs one round of c and returns its samples in the order they
// were emitted, with Collect's error. A timeout of 0 sets no deadline.
func Collect(c collectors.Collector, timeout time.Duration) ([]model.Sample, error) {
	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var got []model.Sample
	err := c.Collect(ctx, func(s model.Sample) { got = append(got, s) })
	return got, err
}

// Value returns the value of the first sample called name whose labels
// include the given name, value pairs.
func Value(samples []model.Sample, name string, labels ...string) (float64, bool) {
	for _, s := range samples {
		if s.Name != name {
			continue
		}
		ok := true
		for i := 0; i+1 < len(labels); i += 2 {
			if s.Labels.Get(labels[i]) != labels[i+1] {
				ok = false
			}
		}
		if ok {
			return s.Value, true
		}
	}
	return 0, false
}

// Render prints samples one a line, `name{labels} value`, in their order.
func Render(samples []model.Sample) string {
	var b strings.Builder
	for _, s := range samples {
		fmt.Fprintf(&b, "%s%s %g\n", s.Name, s.Labels, s.Value)
	}
	return b.String()
}

// Golden compares got with the file at path; with -update it writes got
// there first.
func Golden(t testing.TB, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("%v (run with -update to create it)\n--- got\n%s", err, got)
		return
	}
	if string(want) != got {
		t.Errorf("samples differ from %s (-update rewrites it)\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// ErrMatches reports whether err is what a table asks for: no error when
// want is empty, else an error whose text contains want.
func ErrMatches(err error, want string) bool {
	if want == "" {
		return err == nil
	}
	return err != nil && strings.Contains(err.Error(), want)
}
