// Package collectors defines what a collector is, how samples look, and the
// scheduler that runs every configured target on its own interval.
//
// A collector knows one protocol or source (the host, a command, an SNMP
// agent...). It emits samples; it never decides whether they are good or bad:
// that is the rules engine's job.
package collectors

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/vedetta-dc/vedetta/model"
)

// Collector reads one target. Collect emits every sample it can and returns
// an error when the target could not be read at all (or only in part: a
// partial read still emits what it got). It must honour ctx's deadline.
type Collector interface {
	Collect(ctx context.Context, emit func(model.Sample)) error
}

// Spec is what every target has, whatever its kind.
type Spec struct {
	Name     string
	Kind     string
	Class    string
	Interval time.Duration
	Timeout  time.Duration
	Labels   map[string]string
	// BaseDir is the config file's folder, for relative paths in options.
	BaseDir string
	// Logger names the target and its kind already: a collector adds
	// neither again (each key once per line).
	Logger *slog.Logger
}

// Decode decodes the kind-specific options of a target into out, strictly:
// unknown keys are errors that name the file, line and field.
type Decode func(out any) error

// Factory builds a collector for one target. It validates the options but
// must not contact the target: `vedetta check` calls it too.
type Factory func(spec Spec, decode Decode) (Collector, error)

// Registry maps a target kind to its factory. It is built explicitly in
// cmd/vedetta (no init() magic), so a test can build its own.
type Registry struct {
	kinds map[string]Factory
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{kinds: map[string]Factory{}} }

// Register adds a kind; registering a kind twice is a programming error.
func (r *Registry) Register(kind string, f Factory) {
	if _, dup := r.kinds[kind]; dup {
		panic("collectors: kind registered twice: " + kind)
	}
	r.kinds[kind] = f
}

// Kinds lists the registered kinds, sorted.
func (r *Registry) Kinds() []string {
	ks := make([]string, 0, len(r.kinds))
	for k := range r.kinds {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// New builds the collector for spec.
func (r *Registry) New(spec Spec, decode Decode) (Collector, error) {
	f, ok := r.kinds[spec.Kind]
	if !ok {
		return nil, fmt.Errorf("unknown kind %q (known: %v)", spec.Kind, r.Kinds())
	}
	return f(spec, decode)
}
