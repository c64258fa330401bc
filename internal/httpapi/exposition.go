package httpapi

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	pmodel "github.com/prometheus/common/model"

	"github.com/vedetta-dc/vedetta/model"
)

// /metrics streams the collected samples instead of building a
// dto.MetricFamily per family and a dto.Metric per series (hundreds of
// bytes each: 600 MB for 487k series, the daemon's peak RSS). Each metric
// name is rendered under the engine's lock for that name only into a
// reused buffer, then written out with no lock held: a scrape's memory is
// the largest family's text, and a slow client never stalls Ingest.

const (
	exposeContentType = "text/plain; version=0.0.4; charset=utf-8"
	defaultHelp       = "Collected by vedetta."
)

// exposer serves GET /metrics: the collected samples, then the registry's
// own families.
type exposer struct {
	names func(buf []string) []string                            // Source.ExposeNames
	each  func(name string, fn func(ls model.Labels, v float64)) // Source.ExposeName
	help  func(name string) string
	reg   prometheus.Gatherer
	log   *slog.Logger
	gz    sync.Pool // *gzip.Writer
	bufs  sync.Pool // *scrape, so that steady scrapes reuse the largest family's buffer
}

// scrape is the memory one scrape reuses from one name to the next.
type scrape struct {
	names  []string
	buf    []byte     // one family's text
	lines  []lineSpan // where each series' line is in buf, to sort them
	sorted model.Labels
	bw     *bufio.Writer
}

type lineSpan struct{ start, end int }

func newExposer(src Source, reg prometheus.Gatherer, log *slog.Logger) *exposer {
	return &exposer{names: src.ExposeNames, each: src.ExposeName, help: src.Help, reg: reg, log: log}
}

func (x *exposer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The registry first, to know which names it owns; it is small.
	fams, err := x.reg.Gather()
	if err != nil { // like promhttp's ContinueOnError: serve what was gathered
		x.log.Warn("gathering vedetta's own metrics", "err", err)
	}
	h := w.Header()
	h.Set("Content-Type", exposeContentType)
	var out io.Writer = w
	if acceptsGzip(r.Header) {
		h.Set("Content-Encoding", "gzip")
		h.Add("Vary", "Accept-Encoding")
		gz, _ := x.gz.Get().(*gzip.Writer)
		if gz == nil {
			gz = gzip.NewWriter(w)
		} else {
			gz.Reset(w)
		}
		defer func() {
			_ = gz.Close()
			gz.Reset(io.Discard) // keep no reference to the response
			x.gz.Put(gz)
		}()
		out = gz
	}
	st, _ := x.bufs.Get().(*scrape)
	if st == nil {
		st = &scrape{bw: bufio.NewWriterSize(nil, 32<<10)}
	}
	st.bw.Reset(out)
	defer func() {
		st.bw.Reset(nil)
		x.bufs.Put(st)
	}()
	if err := x.writeSamples(r, st, fams); err != nil {
		x.log.Debug("/metrics client went away", "err", err)
		return
	}
	err = writeFamilies(st.bw, fams)
	if err == nil {
		err = st.bw.Flush()
	}
	if err != nil {
		x.log.Debug("/metrics client went away", "err", err)
	}
}

// writeSamples writes every collected family, by name. A name that the
// registry also has is left to the registry ("registry wins", as
// promhttp's Gatherers did: it kept the first gatherer's family and
// dropped the samples' with an error), and logged.
func (x *exposer) writeSamples(r *http.Request, st *scrape, fams []*dto.MetricFamily) error {
	if x.names == nil || x.each == nil {
		return nil
	}
	st.names = x.names(st.names[:0])
	for _, name := range st.names {
		if err := r.Context().Err(); err != nil {
			return err
		}
		if registryHas(fams, name) {
			x.log.Warn("a collected metric has the name of one of vedetta's own: /metrics serves vedetta's", "metric", name)
			continue
		}
		if !pmodel.LegacyValidation.IsValidMetricName(name) {
			continue // no 0.0.4 text can carry it; collectors do not make such names
		}
		if err := x.writeFamily(st, name); err != nil {
			return err
		}
	}
	return nil
}

// writeFamily renders name's family, then writes it with the engine's
// lock released: its HELP and TYPE, then its lines in order.
func (x *exposer) writeFamily(st *scrape, name string) error {
	head := x.renderFamily(st, name)
	if len(st.lines) == 0 {
		return nil
	}
	if _, err := st.bw.Write(st.buf[:head]); err != nil {
		return err
	}
	for _, l := range st.lines {
		if _, err := st.bw.Write(st.buf[l.start:l.end]); err != nil {
			return err
		}
	}
	return nil
}

func registryHas(fams []*dto.MetricFamily, name string) bool {
	for _, f := range fams {
		if f.GetName() == name {
			return true
		}
	}
	return false
}

// renderFamily renders name's family into st.buf: HELP and TYPE (the
// first head bytes), then its fresh series' lines, which st.lines lists
// sorted; none when the family has no fresh series.
func (x *exposer) renderFamily(st *scrape, name string) (head int) {
	help := ""
	if x.help != nil {
		help = x.help(name) // before the engine's lock: it is not the engine's
	}
	if help == "" {
		help = defaultHelp
	}
	typ := "gauge"
	if strings.HasSuffix(name, "_total") {
		typ = "counter"
	}
	b := st.buf[:0]
	b = append(b, "# HELP "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = appendEscaped(b, help, false)
	b = append(b, "\n# TYPE "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = append(b, typ...)
	b = append(b, '\n')
	head = len(b)
	st.lines = st.lines[:0]
	x.each(name, func(ls model.Labels, v float64) {
		start := len(b)
		var ok bool
		b, ok = appendSeries(b, name, sortedLabels(ls, &st.sorted), v)
		if !ok {
			b = b[:start]
			return
		}
		st.lines = append(st.lines, lineSpan{start, len(b)})
	})
	st.buf = b
	sortLines(b, st.lines)
	return head
}

// sortLines orders the series lines as the old Gatherer path did, by
// label values, so that a scrape is stable whatever the engine's map
// order. The lines are compared as text: one name, then labels sorted by
// name, make that the order of their label pairs (close enough: a value
// that is a prefix of another may come after it).
func sortLines(b []byte, lines []lineSpan) {
	slices.SortFunc(lines, func(p, q lineSpan) int { return bytes.Compare(b[p.start:p.end], b[q.start:q.end]) })
}

// sortedLabels returns ls, or a sorted copy in the reused *tmp when it is
// not sorted by name (model.Labels is kept sorted, a hand-made one may not).
func sortedLabels(ls model.Labels, tmp *model.Labels) model.Labels {
	if slices.IsSortedFunc(ls, func(a, b model.Label) int { return strings.Compare(a.Name, b.Name) }) {
		return ls
	}
	*tmp = append((*tmp)[:0], ls...)
	slices.SortFunc(*tmp, func(a, b model.Label) int { return strings.Compare(a.Name, b.Name) })
	return *tmp
}

// appendSeries appends one line, `name{a="1",b="2"} value`, no timestamp
// (Prometheus stamps it at the scrape, so a value polled every 10 minutes
// stays inside its 5-minute lookback). ok is false for what the text
// format cannot carry (Prometheus' parser refuses the scrape): a label
// name it does not allow, the same name twice, a value not UTF-8. The old
// Gatherer path left such a series out too.
func appendSeries(b []byte, name string, ls model.Labels, v float64) ([]byte, bool) {
	b = append(b, name...)
	if len(ls) > 0 {
		b = append(b, '{')
		for i, l := range ls {
			if !pmodel.LegacyValidation.IsValidLabelName(l.Name) || i > 0 && ls[i-1].Name == l.Name || !utf8.ValidString(l.Value) {
				return b, false
			}
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, l.Name...)
			b = append(b, `="`...)
			b = appendEscaped(b, l.Value, true)
			b = append(b, '"')
		}
		b = append(b, '}')
	}
	b = append(b, ' ')
	b = appendFloat(b, v)
	return append(b, '\n'), true
}

// appendEscaped escapes as expfmt does: `\` and newline always, `"` in
// label values (quote true), not in HELP.
func appendEscaped(b []byte, s string, quote bool) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, `\\`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '"' && quote:
			b = append(b, `\"`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendFloat formats v as expfmt's writeFloat does.
func appendFloat(b []byte, v float64) []byte {
	switch {
	case v == 1:
		return append(b, '1')
	case v == 0:
		return append(b, '0')
	case v == -1:
		return append(b, "-1"...)
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, +1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// writeFamilies writes the registry's families in the text format.
func writeFamilies(w io.Writer, fams []*dto.MetricFamily) error {
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range fams {
		if err := enc.Encode(f); err != nil {
			return err
		}
	}
	return nil
}

// acceptsGzip reads Accept-Encoding as promhttp does: gzip when listed,
// unless with q=0.
func acceptsGzip(h http.Header) bool {
	for _, v := range h.Values("Accept-Encoding") {
		for part := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
				continue
			}
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}
