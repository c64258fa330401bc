package redundancy

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/testpeer"
	"github.com/vedetta-dc/vedetta/model"
	"github.com/vedetta-dc/vedetta/rules"
)

func shipped(t *testing.T) []*rules.Rule {
	t.Helper()
	cfg, err := config.Load(filepath.Join(testpeer.RepoRoot(t), "configs", "redundancy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rs, errs := Compile(cfg)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return rs
}

// feed runs the shipped groups over rounds of samples (target -> metric
// -> value; labels of the target as the config gives them) and returns
// the summaries of the firing alarms, sorted.
type feed struct {
	t     *testing.T
	now   time.Time
	e     *rules.Engine
	cfg   *config.Config
	label map[string]map[string]string
}

func newFeed(t *testing.T) *feed {
	cfg, err := config.Load(filepath.Join(testpeer.RepoRoot(t), "configs", "redundancy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	f := &feed{t: t, now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), cfg: cfg, label: map[string]map[string]string{}}
	iv := map[string]time.Duration{}
	for _, tg := range cfg.Targets {
		iv[tg.Name] = 10 * time.Second
		ls := map[string]string{"target": tg.Name, "class": tg.Class}
		for k, v := range tg.Labels {
			ls[k] = v
		}
		f.label[tg.Name] = ls
	}
	f.e = rules.New(rules.Options{Rules: shipped(t), Intervals: iv, Now: func() time.Time { return f.now }})
	return f
}

func (f *feed) round(vals map[string]map[string]float64) {
	for tg, ms := range vals {
		var ss []model.Sample
		for m, v := range ms {
			ss = append(ss, model.Sample{Name: m, Value: v, Labels: model.FromMap(f.label[tg]), Time: f.now})
		}
		f.e.Ingest(model.Batch{Target: tg, Samples: ss})
	}
	f.e.Tick()
	f.now = f.now.Add(10 * time.Second)
}

func (f *feed) firing() []string {
	var out []string
	for _, a := range f.e.Alarms() {
		if a.State == model.StateFiring {
			out = append(out, a.Severity+" "+a.Rule+": "+a.Summary)
		}
	}
	sort.Strings(out)
	return out
}

func upsRound(a, b, c float64) map[string]map[string]float64 {
	u := func(ob float64) map[string]float64 {
		return map[string]float64{"ups_on_battery": ob, "ups_alarms_active": 0}
	}
	return map[string]map[string]float64{"ups-a": u(a), "ups-b": u(b), "ups-c": u(c)}
}

// The shipped ups-main group: one module on battery is redundancy lost
// (a warning naming it), a second is capacity lost (critical).
func TestShippedUPSGroup(t *testing.T) {
	f := newFeed(t)
	steps := []struct {
		round map[string]map[string]float64
		want  []string
	}{
		{upsRound(0, 0, 0), nil},
		{upsRound(0, 1, 0), []string{"warning RedundancyLost: ups-main: redundancy lost (2 of 3 healthy; ups-b (ups_on_battery = 1) unhealthy)"}},
		{upsRound(1, 1, 0), []string{
			"critical CapacityLost: ups-main: capacity lost (1 of 3 healthy, 2 needed; ups-a (ups_on_battery = 1), ups-b (ups_on_battery = 1) unhealthy)",
			"warning RedundancyLost: ups-main: redundancy lost (1 of 3 healthy; ups-a (ups_on_battery = 1), ups-b (ups_on_battery = 1) unhealthy)"}},
		{upsRound(0, 0, 0), nil},
	}
	for i, s := range steps {
		f.round(s.round)
		if got := f.firing(); !slices.Equal(got, s.want) {
			t.Fatalf("step %d: firing\n  %s\nwant\n  %s", i, strings.Join(got, "\n  "), strings.Join(s.want, "\n  "))
		}
	}
	for _, a := range f.e.Alarms() {
		if a.Labels[rules.GroupLabel] != "ups-main" || a.Labels["team"] != "facilities" || a.Labels["target"] != rules.AggregateTarget {
			t.Errorf("labels %v", a.Labels)
		}
	}
}

// One feed of rack R12 lost: one alarm, naming the rack and the PDU.
func TestShippedRackFeeds(t *testing.T) {
	f := newFeed(t)
	w := func(r12a float64) map[string]map[string]float64 {
		return map[string]map[string]float64{
			"pdu-r12-a": {"pdu_power_watts": r12a}, "pdu-r12-b": {"pdu_power_watts": 1200},
			"pdu-r13-a": {"pdu_power_watts": 500}, "pdu-r13-b": {"pdu_power_watts": 480},
		}
	}
	f.round(w(600))
	f.round(w(0))
	want := []string{"warning RedundancyLost: rack-feeds, rack R12: redundancy lost (1 of 2 healthy; pdu-r12-a (pdu_power_watts = 0) unhealthy)"}
	if got := f.firing(); !slices.Equal(got, want) {
		t.Fatalf("firing %q, want %q", got, want)
	}
}

// Bad groups: file, line and field, and a sentence that says what to do.
func TestCompileErrors(t *testing.T) {
	base := `targets:
  - {name: u1, kind: nut, class: ups, labels: {group: g}, nut: {address: "127.0.0.1:3493", ups: u1}}
  - {name: u2, kind: nut, class: ups, labels: {group: g}, nut: {address: "127.0.0.1:3493", ups: u2}}
  - {name: p1, kind: nut, class: pdu, labels: {rack: R1}, nut: {address: "127.0.0.1:3493", ups: p1}}
  - {name: p2, kind: nut, class: pdu, nut: {address: "127.0.0.1:3493", ups: p2}}
redundancy:
  - name: g
    members: {class: ups, labels: {group: g}}
    healthy: ups_on_battery == 0
    need: 1
`
	cases := []struct{ name, from, to, want string }{
		{"unknown field", "    need: 1\n", "    need: 1\n    nedd: 2\n", `:11: redundancy[0].nedd: unknown field "nedd"`},
		{"need above members", "need: 1", "need: 3", `:10: redundancy[0].need: need 3, but the group has 2 members (u1, u2)`},
		{"need zero", "need: 1", "need: 0", `:10: redundancy[0].need: need is how many healthy members carry the load`},
		{"bad healthy", "healthy: ups_on_battery == 0", "healthy: ups_on_battery ==", `:9: redundancy[0].healthy: `},
		{"healthy reads no metric", "healthy: ups_on_battery == 0", `healthy: labels.x == "y"`, `:9: redundancy[0].healthy: count_by() needs a metric`},
		{"no member", "members: {class: ups,", "members: {class: upz,", `:8: redundancy[0].members: no target is a member`},
		{"no members given", "    members: {class: ups, labels: {group: g}}\n", "", `:7: redundancy[0].members: say which targets are members`},
		{"by a label some members lack", "    members: {class: ups, labels: {group: g}}\n", "    members: {class: pdu}\n    by: [rack]\n", `:9: redundancy[0].by[0]: members p2 have no label rack`},
		{"duplicate", "    need: 1\n", "    need: 1\n  - name: g\n    members: {class: ups}\n    healthy: ups_on_battery == 0\n    need: 1\n", `:11: redundancy[1].name: redundancy group "g" is already defined`},
		{"bad duration", "    need: 1\n", "    need: 1\n    for: soon\n", `:11: redundancy[0].for: invalid duration`},
		{"a rule of the groups' name", "    need: 1\n", "    need: 1\nrules:\n  - {name: CapacityLost, expr: x > 1}\n", `:12: rules[0].name: CapacityLost is the name of the redundancy groups' rules`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(base, c.from) {
				t.Fatalf("%q not in the base", c.from)
			}
			p := filepath.Join(t.TempDir(), "v.yaml")
			if err := os.WriteFile(p, []byte(strings.Replace(base, c.from, c.to, 1)), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(p)
			if err != nil {
				t.Fatal(err)
			}
			_, errs := Compile(cfg)
			var all []string
			for _, e := range errs {
				all = append(all, e.Error())
			}
			if !strings.Contains(strings.Join(all, "\n"), p+c.want) {
				t.Fatalf("errors\n  %s\nwant\n  %s%s", strings.Join(all, "\n  "), p, c.want)
			}
		})
	}
	// The base itself is fine.
	p := filepath.Join(t.TempDir(), "ok.yaml")
	_ = os.WriteFile(p, []byte(base), 0o600)
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if rs, errs := Compile(cfg); len(errs) > 0 || len(rs) != 2 {
		t.Fatalf("base: %d rules, %v", len(rs), errs)
	}
}

// Groups whose members are the series of one device: BGP upstreams (the
// label test in healthy chooses them) and a server's PSUs (by target).
func TestShippedSeriesGroups(t *testing.T) {
	f := newFeed(t)
	peer := func(addr, as string, up float64) model.Sample {
		return model.Sample{Name: "bgp_peer_established", Value: up, Time: f.now,
			Labels: model.FromMap(f.label["border-1"]).With("peer", addr).With("remote_as", as)}
	}
	psu := func(n string, ok float64) model.Sample {
		return model.Sample{Name: "server_psu_ok", Value: ok, Time: f.now, Labels: model.FromMap(f.label["db-1-bmc"]).With("psu", n)}
	}
	f.e.Ingest(model.Batch{Target: "border-1", Samples: []model.Sample{
		peer("198.51.100.1", "64500", 1), peer("203.0.113.1", "64510", 0), peer("192.0.2.99", "65001", 0)}})
	f.e.Ingest(model.Batch{Target: "db-1-bmc", Samples: []model.Sample{psu("1", 1), psu("2", 0)}})
	f.e.Tick()
	want := []string{
		"warning RedundancyLost: bgp-upstreams: redundancy lost (1 of 2 healthy; border-1 peer=203.0.113.1 remote_as=64510 (bgp_peer_established = 0) unhealthy)",
		"warning RedundancyLost: server-psus, target db-1-bmc: redundancy lost (1 of 2 healthy; db-1-bmc psu=2 (server_psu_ok = 0) unhealthy)",
	}
	if got := f.firing(); !slices.Equal(got, want) {
		t.Fatalf("firing\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}
