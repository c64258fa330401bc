package collectors

import (
	"slices"
	"sort"
	"strings"

	"github.com/vedetta-dc/vedetta/internal/editdist"
	"github.com/vedetta-dc/vedetta/model"
)

// Catalogue says which metric names each kind's collectors can emit, so
// that `vedetta check` (and every start and reload) can tell a rule that
// reads "ups_on_batery" that no collector will ever give it a sample: a
// rule that silently never fires is the worst kind of wrong.
//
// It is built explicitly in cmd/vedetta, one line per kind, like the
// Registry; each kind's package says its own names (a MetricNames func
// next to its factory), derived from its mapping tables or profiles where
// they exist.
type Catalogue struct {
	kinds map[string][]string
	names map[string][]string // name -> kinds emitting it, sorted
}

// NewCatalogue returns an empty catalogue.
func NewCatalogue() *Catalogue {
	return &Catalogue{kinds: map[string][]string{}, names: map[string][]string{}}
}

// Register adds the names a kind can emit; registering a kind twice is a
// programming error.
func (c *Catalogue) Register(kind string, names []string) {
	if _, dup := c.kinds[kind]; dup {
		panic("collectors: kind catalogued twice: " + kind)
	}
	c.kinds[kind] = nil
	c.Add(kind, names...)
}

// Add adds names to a kind already registered: the names a configured
// target declares (an exec target's metrics:).
func (c *Catalogue) Add(kind string, names ...string) {
	for _, n := range names {
		if slices.Contains(c.kinds[kind], n) {
			continue
		}
		c.kinds[kind] = append(c.kinds[kind], n)
		c.names[n] = append(c.names[n], kind)
		sort.Strings(c.names[n])
	}
}

// Kinds lists the catalogued kinds, sorted.
func (c *Catalogue) Kinds() []string {
	ks := make([]string, 0, len(c.kinds))
	for k := range c.kinds {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Names lists the names of one kind, sorted.
func (c *Catalogue) Names(kind string) []string { return slices.Sorted(slices.Values(c.kinds[kind])) }

// Emitters lists the kinds that can emit name (none: an unknown name).
func (c *Catalogue) Emitters(name string) []string { return c.names[name] }

// Suggest names the catalogued name closest to an unknown one, or "" when
// none is close enough to be the same name misspelled. Of two as close,
// the first in alphabetical order, so the same file always gets the same
// advice.
func (c *Catalogue) Suggest(name string) string {
	all := make([]string, 0, len(c.names))
	for n := range c.names {
		all = append(all, n)
	}
	sort.Strings(all)
	// A forgotten unit (ups_battery_charge for ..._charge_percent) is the
	// commonest slip, and far in edits: one name extending it wins.
	var longer []string
	for _, n := range all {
		if strings.HasPrefix(n, name+"_") {
			longer = append(longer, n)
		}
	}
	if len(longer) == 1 {
		return longer[0]
	}
	// A third of the name, at most 3 edits: ups_on_batery is a typo of
	// ups_on_battery, but foo_up is no typo of host_up.
	limit := min(3, len(name)/3) + 1
	best, bestD := "", limit
	for _, n := range all {
		if d := editDistance(name, n, bestD); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance is editdist.Distance, or limit when it is at least limit
// (names far apart in length are not compared letter by letter).
func editDistance(a, b string, limit int) int {
	if d := len(a) - len(b); d >= limit || -d >= limit {
		return limit
	}
	return min(editdist.Distance(a, b), limit)
}

// NameLister is implemented by a configured collector whose names depend
// on its options (an exec target in prometheus format prints whatever its
// program prints). names are the ones it declares; open says it may emit
// others no one can know before it runs.
type NameLister interface {
	MetricNames() (names []string, open bool)
}

// SchedulerMetricNames are the samples the scheduler adds to every
// target's batch, whatever its kind (TargetUnreachable reads one).
func SchedulerMetricNames() []string {
	return []string{model.MetricTargetUp, "vedetta_collection_duration_seconds", "vedetta_collection_start_timestamp_seconds", "vedetta_collection_wait_seconds", "vedetta_collection_errors_total", model.MetricTargetFailures}
}
