package snmp

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gosnmp/gosnmp"
)

// `vedetta profile draft` and `vedetta probe snmp`'s identity: what a
// device is, which known subtrees answer, which enterprise subtree holds
// data no profile reads, and a profile skeleton for it. The skeleton is a
// guess for a person to finish (every metric is named FIXME_..., which
// ParseProfile refuses), never a profile that runs unread.

const (
	oidSysDescr     = "1.3.6.1.2.1.1.1.0"
	oidSysName      = "1.3.6.1.2.1.1.5.0"
	oidEnterprises  = "1.3.6.1.4.1"
	draftMaxObjects = 20000 // objects read from the enterprise tree; then the walk stops (a looping agent)
	draftMaxMetrics = 200   // metrics written in one skeleton
	maxOIDArcs      = 128
)

// Identity is what a device says it is, and why profiles match it.
type Identity struct {
	SysDescr, SysName, SysObjectID string
	// Matches says, per profile that `profiles: [auto]` picks, why.
	Matches []ProfileMatch
}

// ProfileMatch is one profile auto-detection picks and why: the
// sysObjectID prefix it matched, or the subtree that answered.
type ProfileMatch struct {
	Profile string
	Why     string // "sysObjectID 1.3.6.1.4.1.318.1 matches 1.3.6.1.4.1.318", "subtree 1.3.6.1.2.1.33.1 answers (1.3.6.1.2.1.33.1.1.1.0)"
}

// session opens a gosnmp session for one command's use, bound to ctx.
func session(ctx context.Context, a Agent) (*gosnmp.GoSNMP, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	g, err := a.gosnmp()
	if err != nil {
		return nil, err
	}
	g.Context = ctx
	if err := g.Connect(); err != nil {
		return nil, fmt.Errorf("snmp %s: %w", a.Address, err)
	}
	return g, nil
}

// Identify reads sysDescr, sysName and sysObjectID and says which profiles
// of set auto-detection picks, and why (the same rule as a poll's:
// matchProfiles).
func Identify(ctx context.Context, a Agent, set *ProfileSet) (*Identity, error) {
	g, err := session(ctx, a)
	if err != nil {
		return nil, err
	}
	defer g.Conn.Close()
	return identify(g, set)
}

func identify(g *gosnmp.GoSNMP, set *ProfileSet) (*Identity, error) {
	if set == nil {
		set = EmbeddedProfiles()
	}
	id := &Identity{}
	var vars []gosnmp.SnmpPDU
	for _, o := range []string{oidSysDescr, oidSysObjectID, oidSysName} { // one by one: SNMPv1 refuses a PDU with one missing
		r, err := g.Get([]string{o})
		if err != nil {
			return nil, fmt.Errorf("snmp %s: read %s: %w", g.Target, o, err)
		}
		vars = append(vars, r.Variables...)
	}
	for _, v := range vars {
		switch trimOID(v.Name) {
		case oidSysDescr:
			id.SysDescr = pduText(v)
		case oidSysObjectID:
			id.SysObjectID = trimOID(pduText(v))
		case oidSysName:
			id.SysName = pduText(v)
		}
	}
	first := map[string]string{} // subtree -> the first object in it
	var subtrees []string
	for _, p := range set.All() {
		for _, s := range p.Match.Subtrees {
			if _, seen := first[s]; !seen {
				first[s] = ""
				subtrees = append(subtrees, s)
			}
		}
	}
	sort.Strings(subtrees)
	for i := 0; i < len(subtrees); i += 16 {
		batch := subtrees[i:min(i+16, len(subtrees))]
		vars, err := getNext(g, batch)
		if err != nil {
			return id, fmt.Errorf("snmp %s: probe the profiles' subtrees: %w", g.Target, err)
		}
		for j, v := range vars {
			if j < len(batch) && v.Type != gosnmp.EndOfMibView && v.Type != gosnmp.NoSuchObject && v.Type != gosnmp.NoSuchInstance &&
				strings.HasPrefix(trimOID(v.Name), batch[j]+".") {
				first[batch[j]] = trimOID(v.Name)
			}
		}
	}
	for _, p := range matchProfiles(set.All(), id.SysObjectID, func(s string) bool { return first[s] != "" }) {
		m := ProfileMatch{Profile: p.Name}
		for _, s := range p.Match.SysObjectID {
			if id.SysObjectID == s || strings.HasPrefix(id.SysObjectID, s+".") {
				m.Why = fmt.Sprintf("sysObjectID %s matches %s", id.SysObjectID, s)
				break
			}
		}
		if m.Why == "" {
			for _, s := range p.Match.Subtrees {
				if first[s] != "" {
					m.Why = fmt.Sprintf("subtree %s answers (%s)", s, first[s])
					break
				}
			}
		}
		id.Matches = append(id.Matches, m)
	}
	return id, nil
}

// getNext is one GETNEXT of oids; an SNMPv1 agent that refuses the whole
// PDU (noSuchName: one OID is past the end of its view) is asked again one
// OID at a time, the refused ones left out (Type EndOfMibView).
func getNext(g *gosnmp.GoSNMP, oids []string) ([]gosnmp.SnmpPDU, error) {
	r, err := g.GetNext(oids)
	if err != nil {
		return nil, err
	}
	if r.Error == gosnmp.NoError || g.Version != gosnmp.Version1 {
		return r.Variables, nil
	}
	out := make([]gosnmp.SnmpPDU, len(oids))
	for i, o := range oids {
		out[i] = gosnmp.SnmpPDU{Name: o, Type: gosnmp.EndOfMibView}
		if r, err := g.GetNext([]string{o}); err == nil && r.Error == gosnmp.NoError && len(r.Variables) == 1 {
			out[i] = r.Variables[0]
		}
	}
	return out, nil
}

// Walked is one object read from a device, reduced to what a draft needs.
type Walked struct {
	OID     string // numeric, no leading dot
	Type    string // the ASN.1 type as the MIB would say it: Integer, Gauge32, Counter64, OctetString...
	Text    string // the value as text
	Numeric bool   // a number, or text that reads as one ("54.3")
	Counter bool
}

// EnterpriseData is what one enterprise subtree (1.3.6.1.4.1.N) holds.
type EnterpriseData struct {
	Subtree string
	Objects int
	Read    int // objects some profile of the set reads
}

// Survey is what `vedetta profile draft` found on a device.
type Survey struct {
	Identity
	Enterprises []EnterpriseData // by subtree
	Truncated   bool             // the walk stopped at draftMaxObjects
	Chosen      string           // the subtree the skeleton is for ("" when nothing is unread)
	Skeleton    []byte           // a profile to finish (nil when Chosen is "")
}

// SurveyDevice walks the enterprise tree of a device. With subtree "" the
// skeleton is for the enterprise subtree with the most objects no profile
// of set reads, and holds those objects; with a subtree, it holds every
// object under it.
func SurveyDevice(ctx context.Context, a Agent, set *ProfileSet, subtree string) (*Survey, error) {
	if set == nil {
		set = EmbeddedProfiles()
	}
	subtree = trimOID(subtree)
	if subtree != "" && !oidRE.MatchString(subtree) {
		return nil, fmt.Errorf("subtree %q is not a numeric OID", subtree)
	}
	g, err := session(ctx, a)
	if err != nil {
		return nil, err
	}
	defer g.Conn.Close()
	id, err := identify(g, set)
	if err != nil {
		return nil, err
	}
	root := oidEnterprises
	if subtree != "" {
		root = subtree // named on purpose: a large device's tree would hit the cap before it
	}
	var objs []Walked
	errFull := errors.New("full")
	walk := g.BulkWalk
	if g.Version == gosnmp.Version1 {
		walk = g.Walk
	}
	err = walk(root, func(p gosnmp.SnmpPDU) error {
		if len(objs) >= draftMaxObjects {
			return errFull
		}
		if w, ok := walkedOf(p); ok {
			objs = append(objs, w)
		}
		return nil
	})
	s := &Survey{Identity: *id}
	if errors.Is(err, errFull) {
		s.Truncated = true
	} else if err != nil && len(objs) == 0 {
		return s, fmt.Errorf("snmp %s: walk %s: %w", a.Address, root, err)
	}
	s.survey(objs, set, subtree, a.Address)
	return s, nil
}

// survey fills the counts, chooses the subtree and writes the skeleton:
// the pure part of SurveyDevice.
func (s *Survey) survey(objs []Walked, set *ProfileSet, subtree, address string) {
	reads := profileReads(set)
	byEnt := map[string]*EnterpriseData{}
	unread := map[string][]Walked{}
	for _, o := range objs {
		ent := enterpriseOf(o.OID)
		if ent == "" {
			ent = subtree
		}
		e := byEnt[ent]
		if e == nil {
			e = &EnterpriseData{Subtree: ent}
			byEnt[ent] = e
		}
		e.Objects++
		if reads.covers(o.OID) {
			e.Read++
		} else {
			unread[ent] = append(unread[ent], o)
		}
	}
	for _, e := range byEnt {
		s.Enterprises = append(s.Enterprises, *e)
	}
	sort.Slice(s.Enterprises, func(i, j int) bool { return compareOID(s.Enterprises[i].Subtree, s.Enterprises[j].Subtree) < 0 })
	var chosen []Walked
	if subtree != "" {
		s.Chosen = subtree
		for _, o := range objs {
			if o.OID == subtree || strings.HasPrefix(o.OID, subtree+".") {
				chosen = append(chosen, o)
			}
		}
	} else {
		best := 0
		for _, e := range s.Enterprises {
			if n := len(unread[e.Subtree]); n > best {
				best, s.Chosen = n, e.Subtree
			}
		}
		chosen = unread[s.Chosen]
	}
	if len(chosen) == 0 {
		s.Chosen = ""
		return
	}
	s.Skeleton = BuildDraft(DraftInput{Address: address, SysDescr: s.SysDescr, SysObjectID: s.SysObjectID, Subtree: s.Chosen, Objects: chosen})
}

// enterpriseOf is 1.3.6.1.4.1.N of an OID under it, else "".
func enterpriseOf(oid string) string {
	rest, ok := strings.CutPrefix(oid, oidEnterprises+".")
	if !ok {
		return ""
	}
	n, _, _ := strings.Cut(rest, ".")
	return oidEnterprises + "." + n
}

// reads is what the profiles of a set read: exact scalars and the
// columns (prefixes) they walk.
type reads struct {
	exact    map[string]bool
	prefixes []string
}

func profileReads(set *ProfileSet) reads {
	r := reads{exact: map[string]bool{}}
	add := func(o string, walked bool) {
		if o == "" {
			return
		}
		r.exact[o] = true
		if walked {
			r.prefixes = append(r.prefixes, o+".")
		}
	}
	for _, p := range set.All() {
		for _, m := range p.Metrics {
			add(m.OID, false)
			add(m.Walk, true)
			walked := m.Walk != ""
			for _, o := range []string{m.DivideBy, m.EntityScaleColumn, m.PrecisionColumn, m.Distinct} {
				add(o, walked)
			}
			add(m.LineCount, false)
			for _, lf := range m.Labels {
				for _, c := range lf.Column {
					add(c, walked)
				}
			}
			for _, w := range m.Where {
				add(w.Column, true)
				add(w.OID, false)
			}
		}
	}
	return r
}

func (r reads) covers(oid string) bool {
	if r.exact[oid] {
		return true
	}
	for _, p := range r.prefixes {
		if strings.HasPrefix(oid, p) {
			return true
		}
	}
	return false
}

// walkedOf reduces a PDU to a Walked; false for the end-of-view markers
// and types a profile cannot read.
func walkedOf(p gosnmp.SnmpPDU) (Walked, bool) {
	w := Walked{OID: trimOID(p.Name)}
	switch p.Type {
	case gosnmp.Integer, gosnmp.Gauge32, gosnmp.Uinteger32, gosnmp.Counter32, gosnmp.Counter64, gosnmp.TimeTicks:
		w.Numeric = true
		w.Counter = p.Type == gosnmp.Counter32 || p.Type == gosnmp.Counter64
		if b := gosnmp.ToBigInt(p.Value); b != nil {
			w.Text = b.String()
		}
		w.Type = map[gosnmp.Asn1BER]string{gosnmp.Integer: "Integer", gosnmp.Gauge32: "Gauge32", gosnmp.Uinteger32: "Unsigned32",
			gosnmp.Counter32: "Counter32", gosnmp.Counter64: "Counter64", gosnmp.TimeTicks: "TimeTicks"}[p.Type]
	case gosnmp.OctetString:
		w.Type = "OctetString"
		w.Text = pduText(p)
		if b, ok := p.Value.([]byte); !ok || printableText(b) {
			_, w.Numeric = draftNumber(w.Text) // a binary string shown in hex is no number
		}
	case gosnmp.ObjectIdentifier:
		w.Type = "ObjectIdentifier"
		w.Text = trimOID(pduText(p))
	case gosnmp.IPAddress:
		w.Type = "IpAddress"
		w.Text = pduText(p)
	case gosnmp.Opaque:
		w.Type = "Opaque"
		w.Text = pduText(p)
		_, w.Numeric = draftNumber(w.Text)
	default:
		return w, false
	}
	return w, true
}

// pduText is a value as text: printable strings as they are, binary ones
// in hex.
func pduText(p gosnmp.SnmpPDU) string {
	switch v := p.Value.(type) {
	case []byte:
		if printableText(v) {
			return strings.TrimRight(string(v), "\x00")
		}
		return fmt.Sprintf("%x", v)
	case string:
		return v
	case nil:
		return ""
	case *big.Int:
		return v.String()
	}
	return fmt.Sprint(p.Value)
}

// printableText: UTF-8 text with no control characters but spaces (and
// the trailing NULs some agents pad with).
func printableText(b []byte) bool {
	t := strings.TrimRight(string(b), "\x00")
	return utf8.ValidString(t) && strings.IndexFunc(t, func(r rune) bool { return !unicode.IsPrint(r) && !unicode.IsSpace(r) }) < 0
}

// draftNumber says whether text reads as a number the way a poll decodes
// it (plain decimal, with an optional unit after a space).
func draftNumber(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if f, _, ok := strings.Cut(s, " "); ok {
		s = f
	}
	f, err := strconv.ParseFloat(strings.Replace(s, ",", ".", 1), 64)
	return f, err == nil
}
