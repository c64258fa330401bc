package snmp

import (
	"fmt"
	"net"
	"sort"
	"testing"

	"github.com/gosnmp/gosnmp"
)

// responder is a small in-process SNMPv2c agent on loopback serving a
// fixed, sorted set of varbinds (GET, GETNEXT, GETBULK), for benchmarks.
type responder struct {
	conn *net.UDPConn
	oids []string // sorted
	vals map[string]gosnmp.SnmpPDU
	// Limits of a small agent (0: none):
	// cut ends a GETBULK answer after this many varbinds (RFC 3416 lets an
	// agent cut anywhere); tooBig answers tooBig to a GETBULK that asks for
	// more (non-repeaters + repeaters × max-repetitions).
	cut, tooBig int
}

func newResponder(t testing.TB, pdus []gosnmp.SnmpPDU) *responder {
	t.Helper()
	return newSmallResponder(t, pdus, 0, 0)
}

// newSmallResponder is a responder with the limits cut and tooBig.
func newSmallResponder(t testing.TB, pdus []gosnmp.SnmpPDU, cut, tooBig int) *responder {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	r := &responder{conn: c, vals: map[string]gosnmp.SnmpPDU{}, cut: cut, tooBig: tooBig}
	for _, p := range pdus {
		r.oids = append(r.oids, trimOID(p.Name))
		r.vals[trimOID(p.Name)] = p
	}
	sort.Slice(r.oids, func(i, j int) bool { return compareOID(r.oids[i], r.oids[j]) < 0 })
	t.Cleanup(func() { c.Close() })
	go r.serve()
	return r
}

func (r *responder) addr() string { return r.conn.LocalAddr().String() }

func (r *responder) next(oid string) (gosnmp.SnmpPDU, bool) {
	i := sort.Search(len(r.oids), func(i int) bool { return compareOID(r.oids[i], oid) > 0 })
	if i == len(r.oids) {
		return gosnmp.SnmpPDU{Name: "." + oid, Type: gosnmp.EndOfMibView}, false
	}
	return r.vals[r.oids[i]], true
}

func (r *responder) serve() {
	dec := &gosnmp.GoSNMP{Version: gosnmp.Version2c}
	buf := make([]byte, 65535)
	for {
		n, from, err := r.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		req, err := dec.SnmpDecodePacket(buf[:n])
		if err != nil {
			continue
		}
		var out []gosnmp.SnmpPDU
		switch req.PDUType {
		case gosnmp.GetRequest:
			for _, v := range req.Variables {
				p, ok := r.vals[trimOID(v.Name)]
				if !ok {
					p = gosnmp.SnmpPDU{Name: v.Name, Type: gosnmp.NoSuchObject}
				}
				out = append(out, p)
			}
		case gosnmp.GetNextRequest:
			for _, v := range req.Variables {
				p, _ := r.next(trimOID(v.Name))
				out = append(out, p)
			}
		case gosnmp.GetBulkRequest:
			// RFC 3416 4.2.3: non-repeaters once, then the repeaters
			// interleaved, row by row, until every one is at the end.
			nonRep := min(int(req.NonRepeaters), len(req.Variables))
			if asked := nonRep + (len(req.Variables)-nonRep)*int(req.MaxRepetitions); r.tooBig > 0 && asked > r.tooBig {
				resp := &gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: req.Community, PDUType: gosnmp.GetResponse,
					RequestID: req.RequestID, Error: gosnmp.TooBig, Variables: req.Variables}
				if b, err := resp.MarshalMsg(); err == nil {
					_, _ = r.conn.WriteToUDP(b, from)
				}
				continue
			}
			for _, v := range req.Variables[:nonRep] {
				p, _ := r.next(trimOID(v.Name))
				out = append(out, p)
			}
			curs := make([]string, 0, len(req.Variables)-nonRep)
			for _, v := range req.Variables[nonRep:] {
				curs = append(curs, trimOID(v.Name))
			}
			for i := 0; i < int(req.MaxRepetitions) && len(curs) > 0; i++ {
				ended := 0
				for j, cur := range curs {
					p, ok := r.next(cur)
					out = append(out, p)
					if !ok {
						ended++
						continue
					}
					curs[j] = trimOID(p.Name)
				}
				if ended == len(curs) {
					break
				}
			}
			if r.cut > 0 && len(out) > r.cut {
				out = out[:r.cut]
			}
		}
		resp := &gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: req.Community, PDUType: gosnmp.GetResponse,
			RequestID: req.RequestID, Variables: out}
		b, err := resp.MarshalMsg()
		if err != nil {
			panic(fmt.Sprintf("responder: %v", err))
		}
		_, _ = r.conn.WriteToUDP(b, from)
	}
}

// switchPDUs is what a 48-port switch answers for IF-MIB plus a UPS-MIB
// scalar block: realistic types (Counter64, Gauge32, strings).
func switchPDUs(ports int) []gosnmp.SnmpPDU {
	var out []gosnmp.SnmpPDU
	add := func(oid string, t gosnmp.Asn1BER, v any) {
		out = append(out, gosnmp.SnmpPDU{Name: "." + oid, Type: t, Value: v})
	}
	add(oidSysObjectID, gosnmp.ObjectIdentifier, ".1.3.6.1.4.1.9.1.1208")
	for i := 1; i <= ports; i++ {
		idx := fmt.Sprint(i)
		add("1.3.6.1.2.1.2.2.1.2."+idx, gosnmp.OctetString, []byte("GigabitEthernet1/0/"+idx))
		add("1.3.6.1.2.1.2.2.1.5."+idx, gosnmp.Gauge32, uint(1000000000))
		add("1.3.6.1.2.1.2.2.1.7."+idx, gosnmp.Integer, 1)
		add("1.3.6.1.2.1.2.2.1.8."+idx, gosnmp.Integer, 1+i%2)
		add("1.3.6.1.2.1.2.2.1.10."+idx, gosnmp.Counter32, uint(i*1000))
		add("1.3.6.1.2.1.2.2.1.13."+idx, gosnmp.Counter32, uint(0))
		add("1.3.6.1.2.1.2.2.1.14."+idx, gosnmp.Counter32, uint(i))
		add("1.3.6.1.2.1.2.2.1.16."+idx, gosnmp.Counter32, uint(i*2000))
		add("1.3.6.1.2.1.2.2.1.20."+idx, gosnmp.Counter32, uint(0))
		add("1.3.6.1.2.1.31.1.1.1.1."+idx, gosnmp.OctetString, []byte("Gi1/0/"+idx))
		add("1.3.6.1.2.1.31.1.1.1.6."+idx, gosnmp.Counter64, uint64(i)<<33)
		add("1.3.6.1.2.1.31.1.1.1.10."+idx, gosnmp.Counter64, uint64(i)<<34)
		add("1.3.6.1.2.1.31.1.1.1.15."+idx, gosnmp.Gauge32, uint(1000))
		add("1.3.6.1.2.1.31.1.1.1.18."+idx, gosnmp.OctetString, []byte("uplink "+idx))
	}
	return out
}
