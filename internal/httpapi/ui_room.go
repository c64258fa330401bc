package httpapi

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vedetta-dc/vedetta/model"
)

// The room: every target as a tile, grouped by its site, room and rack
// labels and coloured by its worst alarm; each links to its target page
// (its latest samples with units, its alarms, why its collection fails,
// the SNMP profiles it matched).

type tile struct {
	Target, Class string
	Worst         string // critical, warning, info, ok, down
	Alarms        int
}

type rack struct {
	Place string // "dc1 / r101 / a12", as far as the labels go
	Tiles []tile
}

// tileRank orders what a tile shows: a target that does not answer is
// worse than any alarm it may still carry.
var tileRank = map[string]int{"ok": 0, "info": 1, "warning": 2, "critical": 3, "down": 4}

func (u *ui) room(w http.ResponseWriter, r *http.Request) {
	type info struct {
		class, place string
		up           bool
	}
	targets := map[string]*info{}
	if u.src.Latest != nil {
		u.src.Latest(func(name string, ls model.Labels, v float64, _ time.Time) {
			if name != model.MetricTargetUp {
				return
			}
			t, parts := "", []string{"", "", ""}
			in := &info{up: v == 1}
			for _, l := range ls {
				switch l.Name {
				case "target":
					t = l.Value
				case "class":
					in.class = l.Value
				case "site":
					parts[0] = l.Value
				case "room":
					parts[1] = l.Value
				case "rack":
					parts[2] = l.Value
				}
			}
			var place []string
			for _, p := range parts {
				if p != "" {
					place = append(place, p)
				}
			}
			in.place = strings.Join(place, " / ")
			targets[t] = in
		})
	}
	worst, count := map[string]string{}, map[string]int{}
	for _, a := range u.src.Alarms() {
		if a.State != model.StateFiring && a.State != model.StateStale {
			continue
		}
		t := a.Labels["target"]
		count[t]++
		if tileRank[a.Severity] > tileRank[worst[t]] {
			worst[t] = a.Severity
		}
	}
	byPlace := map[string]*rack{}
	for t, in := range targets {
		tl := tile{Target: t, Class: in.class, Worst: "ok", Alarms: count[t]}
		if w := worst[t]; w != "" {
			tl.Worst = w
		}
		if !in.up {
			tl.Worst = "down"
		}
		rk := byPlace[in.place]
		if rk == nil {
			rk = &rack{Place: in.place}
			byPlace[in.place] = rk
		}
		rk.Tiles = append(rk.Tiles, tl)
	}
	var racks []rack
	for _, rk := range byPlace {
		sort.Slice(rk.Tiles, func(i, j int) bool {
			a, b := rk.Tiles[i], rk.Tiles[j]
			if tileRank[a.Worst] != tileRank[b.Worst] {
				return tileRank[a.Worst] > tileRank[b.Worst]
			}
			return a.Target < b.Target
		})
		racks = append(racks, *rk)
	}
	sort.Slice(racks, func(i, j int) bool { return racks[i].Place < racks[j].Place })
	u.render(w, r, "room", "Room", racks)
}

type sampleRow struct {
	Name, Labels, Value string
	Age                 time.Duration
}

type targetData struct {
	Target   string
	Class    string
	Up       bool
	Known    bool
	Cause    string // why the last collection failed
	Profiles []string
	Samples  []sampleRow
	Alarms   []model.Alarm
}

func (u *ui) target(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	td := targetData{Target: name}
	now := u.now()
	if u.src.Latest != nil {
		u.src.Latest(func(metric string, ls model.Labels, v float64, at time.Time) {
			m := make(map[string]string, len(ls))
			for _, l := range ls {
				m[l.Name] = l.Value
			}
			if m["target"] != name {
				return
			}
			td.Known = true
			td.Class = m["class"]
			switch metric {
			case model.MetricTargetUp:
				td.Up = v == 1
			case "snmp_profile_matched":
				if v == 1 {
					td.Profiles = append(td.Profiles, m["profile"])
				}
				return
			}
			td.Samples = append(td.Samples, sampleRow{Name: metric, Labels: labelString(m), Value: withUnit(metric, v), Age: now.Sub(at).Round(time.Second)})
		})
	}
	if !td.Known {
		u.renderCode(w, r, http.StatusNotFound, "target", "No such target", nil)
		return
	}
	if u.src.TargetError != nil && !td.Up {
		td.Cause = u.src.TargetError(name)
	}
	for _, a := range u.src.Alarms() {
		if a.Labels["target"] == name {
			td.Alarms = append(td.Alarms, a)
		}
	}
	sort.Slice(td.Alarms, func(i, j int) bool { return tileRank[td.Alarms[i].Severity] > tileRank[td.Alarms[j].Severity] })
	sort.Strings(td.Profiles)
	sort.Slice(td.Samples, func(i, j int) bool {
		if td.Samples[i].Name != td.Samples[j].Name {
			return td.Samples[i].Name < td.Samples[j].Name
		}
		return td.Samples[i].Labels < td.Samples[j].Labels
	})
	u.render(w, r, "target", name, td)
}

// units by metric name suffix, as the normalized names carry them.
var units = []struct{ suffix, unit string }{
	{"_volts", " V"}, {"_amperes", " A"}, {"_watts", " W"}, {"_celsius", " °C"}, {"_hertz", " Hz"},
	{"_percent", " %"}, {"_seconds", " s"}, {"_bytes", " B"}, {"_dbm", " dBm"}, {"_rpm", " rpm"},
	{"_bits_per_second", " bit/s"}, {"_watt_hours", " Wh"}, {"_volt_amperes", " VA"},
}

// withUnit writes a sample's value with the unit its name says; ratios
// as percentages.
func withUnit(name string, v float64) string {
	if strings.HasSuffix(name, "_ratio") {
		return strconvFloat(v*100) + " %"
	}
	for _, u := range units {
		if strings.HasSuffix(name, u.suffix) {
			return strconvFloat(v) + u.unit
		}
	}
	return strconvFloat(v)
}

func strconvFloat(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
