package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The admin endpoint (--admin) changes values while the simulator runs, so
// that a demo or a test can put a UPS on battery without editing a
// recording. It is plain HTTP without authentication, hence loopback only.
//
// Agents never lock: each recording has a live table behind an atomic
// pointer; a change builds a new table (the loaded one plus every
// override, copy-on-write) and swaps the pointer. A request in flight
// keeps the table it loaded, so one answer never mixes two versions.

// maxAdminBody bounds a /set request body.
const maxAdminBody = 64 << 10

// liveRec is the mutable state of one recording: the table as loaded, the
// overrides (guarded by sim.adminMu) and the table served now.
type liveRec struct {
	base      *recording
	overrides map[string]override // dotted OID → override
	live      atomic.Pointer[recording]
}

// override is one value set at run time, as given and as encoded.
type override struct {
	OID   string `json:"oid"`
	Type  string `json:"type"`
	Value string `json:"value"`
	e     entry
}

// setRequest is a decoded POST /set.
type setRequest struct {
	Community string    `json:"community"`
	OID       string    `json:"oid"`
	Type      string    `json:"type"`
	Value     textOrNum `json:"value"`
}

// textOrNum is a JSON string or number, kept as its text: {"value": 3}
// and {"value": "3"} mean the same.
type textOrNum string

func (v *textOrNum) UnmarshalJSON(b []byte) error {
	var n json.Number
	if err := json.Unmarshal(b, &n); err == nil {
		*v = textOrNum(n)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("value must be a string or a number")
	}
	*v = textOrNum(s)
	return nil
}

// typeTags maps the names accepted in `type` to snmprec tags. The numeric
// tags of a recording (2, 4, 4x, 66, ...) are accepted as they are.
var typeTags = map[string]string{
	"integer": "2", "int": "2", "integer32": "2", "i": "2",
	"string": "4", "octetstring": "4", "octet-string": "4", "s": "4",
	"hexstring": "4x", "hex": "4x", "x": "4x",
	"null": "5",
	"oid":  "6", "objectidentifier": "6", "o": "6",
	"ipaddress": "64", "ip": "64", "a": "64",
	"counter32": "65", "counter": "65", "c": "65",
	"gauge32": "66", "gauge": "66", "unsigned32": "66", "unsigned": "66", "u": "66",
	"timeticks": "67", "t": "67",
	"opaque":    "68",
	"counter64": "70", "c64": "70",
}

// tagNames are the names /values reports, by BER tag.
var tagNames = map[byte]string{
	tagInteger: "integer", tagOctetString: "string", tagNull: "null", tagOID: "oid",
	tagIPAddress: "ipaddress", tagCounter32: "counter32", 66: "gauge32", tagTimeTicks: "timeticks",
	68: "opaque", tagCounter64: "counter64",
}

// snmprecTag turns a `type` field into an snmprec tag ("" → "", keep).
func snmprecTag(typ string) (string, error) {
	t := strings.ToLower(strings.TrimSpace(typ))
	if t == "" {
		return "", nil
	}
	if tag, ok := typeTags[t]; ok {
		return tag, nil
	}
	for _, tag := range typeTags {
		if t == tag {
			return tag, nil
		}
	}
	return "", fmt.Errorf("unknown type %q (want integer, string, hexstring, oid, ipaddress, counter32, gauge32, timeticks, counter64, opaque, null, or an snmprec tag such as 2 or 4x)", typ)
}

// parseSetRequest decodes a /set body: JSON when the content type says so,
// a form otherwise (also what curl -d sends).
func parseSetRequest(contentType string, body []byte) (setRequest, error) {
	var q setRequest
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == "application/json" {
		d := json.NewDecoder(strings.NewReader(string(body)))
		d.DisallowUnknownFields()
		if err := d.Decode(&q); err != nil {
			return q, fmt.Errorf("bad JSON body: %v", err)
		}
		if d.More() {
			return q, errors.New("bad JSON body: more than one object")
		}
	} else {
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return q, fmt.Errorf("bad form body: %v", err)
		}
		for k := range v {
			switch k {
			case "community", "device", "oid", "type", "value":
			default:
				return q, fmt.Errorf("unknown field %q (want community, oid, type, value)", k)
			}
		}
		q = setRequest{Community: v.Get("community"), OID: v.Get("oid"), Type: v.Get("type"), Value: textOrNum(v.Get("value"))}
		if q.Community == "" {
			q.Community = v.Get("device")
		}
	}
	switch {
	case q.Community == "":
		return q, errors.New("missing field community (the recording's name, as in --single-port)")
	case strings.TrimSpace(q.OID) == "":
		return q, errors.New("missing field oid")
	}
	return q, nil
}

// buildOverride checks a set request against the recording and encodes
// the value, with the recorded type unless one is given.
func buildOverride(base *recording, q setRequest) (override, error) {
	oid, err := parseDotted(q.OID)
	if err != nil || len(oid) < 2 {
		return override{}, fmt.Errorf("bad oid %q: want dotted numbers such as 1.3.6.1.2.1.1.5.0", q.OID)
	}
	tag, err := snmprecTag(q.Type)
	if err != nil {
		return override{}, err
	}
	if tag == "" {
		i, ok := base.search(oid)
		if !ok {
			return override{}, fmt.Errorf("oid %s is not in recording %s: give its type to add it", formatOID(oid), base.name)
		}
		tag = fmt.Sprint(base.entries[i].tag)
	}
	if strings.ContainsAny(string(q.Value), "\r\n") {
		return override{}, errors.New("value: no line breaks (use type hexstring for binary data)")
	}
	// The same parser as the recordings, so a value means here what it
	// means in a .snmprec file.
	e, ok := parseLine(formatOID(oid) + "|" + tag + "|" + string(q.Value))
	if !ok {
		name := tagNames[tagByte(tag)]
		if strings.HasSuffix(tag, "x") {
			name = "hexstring"
		}
		return override{}, fmt.Errorf("value %q is not a valid %s", q.Value, name)
	}
	return override{OID: formatOID(oid), Type: tagNames[e.tag], Value: string(q.Value), e: e}, nil
}

// tagByte is the BER tag of an snmprec tag text ("4x" → 4).
func tagByte(tag string) byte {
	var n byte
	for _, c := range strings.TrimSuffix(tag, "x") {
		n = n*10 + byte(c-'0')
	}
	return n
}

// withOverrides builds the table served for base with overrides applied.
func withOverrides(base *recording, ovs map[string]override) *recording {
	r := *base
	r.entries = slices.Clone(base.entries)
	added := false
	for _, o := range ovs {
		e := o.e
		if i, ok := r.search(e.oid); ok {
			e.seq = r.entries[i].seq
			r.entries[i] = e
			continue
		}
		e.seq = len(r.entries) // past every loaded OID's
		r.entries = append(r.entries, e)
		added = true
	}
	if added {
		slices.SortFunc(r.entries, func(a, b entry) int { return compareOID(a.oid, b.oid) })
	}
	return &r
}

// initLive gives every agent the live table of its recording.
func (s *sim) initLive() {
	s.live = map[string]*liveRec{}
	for _, a := range s.agents {
		l, ok := s.live[a.rec.name]
		if !ok {
			l = &liveRec{base: a.rec, overrides: map[string]override{}}
			l.live.Store(a.rec)
			s.live[a.rec.name] = l
		}
		a.live = &l.live
	}
}

// findLive resolves the community of an admin request: a recording's name
// (the community with --single-port), or the common --community when only
// one recording is served.
func (s *sim) findLive(community string) (*liveRec, error) {
	if l, ok := s.live[community]; ok {
		return l, nil
	}
	if !s.cfg.singlePort && community == s.cfg.community && len(s.live) == 1 {
		for _, l := range s.live {
			return l, nil
		}
	}
	names := make([]string, 0, len(s.live))
	for n := range s.live {
		names = append(names, n)
	}
	sort.Strings(names)
	return nil, fmt.Errorf("unknown community %q: want a recording name (%s)", community, strings.Join(names, ", "))
}

// set applies one override and swaps the live table.
func (s *sim) set(q setRequest) (override, error) {
	l, err := s.findLive(q.Community)
	if err != nil {
		return override{}, err
	}
	o, err := buildOverride(l.base, q)
	if err != nil {
		return override{}, err
	}
	s.adminMu.Lock()
	defer s.adminMu.Unlock()
	l.overrides[o.OID] = o
	l.live.Store(withOverrides(l.base, l.overrides))
	return o, nil
}

// reset drops the overrides of a recording (one OID, or all).
func (s *sim) reset(community, oid string) (int, error) {
	l, err := s.findLive(community)
	if err != nil {
		return 0, err
	}
	s.adminMu.Lock()
	defer s.adminMu.Unlock()
	n := len(l.overrides)
	if oid != "" {
		o, err := parseDotted(oid)
		if err != nil {
			return 0, fmt.Errorf("bad oid %q", oid)
		}
		if _, ok := l.overrides[formatOID(o)]; !ok {
			return 0, fmt.Errorf("oid %s has no override in %s", formatOID(o), l.base.name)
		}
		delete(l.overrides, formatOID(o))
	} else {
		clear(l.overrides)
	}
	l.live.Store(withOverrides(l.base, l.overrides))
	return n - len(l.overrides), nil
}

// values lists the overrides of one recording (or of all), sorted.
func (s *sim) values(community string) (map[string][]override, error) {
	out := map[string][]override{}
	s.adminMu.Lock()
	defer s.adminMu.Unlock()
	add := func(l *liveRec) {
		list := make([]override, 0, len(l.overrides))
		for _, o := range l.overrides {
			list = append(list, o)
		}
		sort.Slice(list, func(i, j int) bool { return compareOID(list[i].e.oid, list[j].e.oid) < 0 })
		out[l.base.name] = list
	}
	if community == "" {
		for _, l := range s.live {
			add(l)
		}
		return out, nil
	}
	l, err := s.findLive(community)
	if err != nil {
		return nil, err
	}
	add(l)
	return out, nil
}

// adminHandler serves POST /set, POST /reset and GET /values.
func (s *sim) adminHandler() http.Handler {
	mux := http.NewServeMux()
	fail := func(w http.ResponseWriter, code int, err error) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(code)
		fmt.Fprintln(w, err)
	}
	reply := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(v)
	}
	body := func(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
		if err != nil {
			fail(w, http.StatusBadRequest, fmt.Errorf("body: %v", err))
			return nil, false
		}
		return b, true
	}
	mux.HandleFunc("POST /set", func(w http.ResponseWriter, r *http.Request) {
		b, ok := body(w, r)
		if !ok {
			return
		}
		q, err := parseSetRequest(r.Header.Get("Content-Type"), b)
		if err == nil {
			var o override
			if o, err = s.set(q); err == nil {
				slog.Info("value set", "community", q.Community, "oid", o.OID, "type", o.Type, "value", o.Value)
				reply(w, map[string]string{"community": q.Community, "oid": o.OID, "type": o.Type, "value": o.Value})
				return
			}
		}
		fail(w, http.StatusBadRequest, err)
	})
	mux.HandleFunc("POST /reset", func(w http.ResponseWriter, r *http.Request) {
		b, ok := body(w, r)
		if !ok {
			return
		}
		v, err := url.ParseQuery(string(b))
		if err != nil {
			fail(w, http.StatusBadRequest, fmt.Errorf("bad form body: %v", err))
			return
		}
		n, err := s.reset(v.Get("community"), v.Get("oid"))
		if err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		slog.Info("values reset", "community", v.Get("community"), "oid", v.Get("oid"), "removed", n)
		reply(w, map[string]int{"removed": n})
	})
	mux.HandleFunc("GET /values", func(w http.ResponseWriter, r *http.Request) {
		v, err := s.values(r.URL.Query().Get("community"))
		if err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		reply(w, v)
	})
	return mux
}

// checkAdminAddr accepts only a loopback host:port: the endpoint has no
// authentication.
func checkAdminAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--admin %q: want HOST:PORT on loopback, e.g. 127.0.0.1:8161", addr)
	}
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return fmt.Errorf("--admin %q: the admin endpoint has no authentication and listens on loopback only (127.0.0.1 or ::1)", addr)
	}
	return nil
}

// serveAdmin listens on addr and serves the admin endpoint until ctx ends.
func (s *sim) serveAdmin(ctx context.Context, addr string) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--admin: %w", err)
	}
	srv := &http.Server{Handler: s.adminHandler(), ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("admin endpoint", "err", err)
		}
	}()
	s.adminWG = &wg
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return ln.Addr(), nil
}
