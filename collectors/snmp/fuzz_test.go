package snmp

import (
	"errors"
	"math"
	"math/big"
	"strings"
	"testing"

	"github.com/gosnmp/gosnmp"

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/snmpwire"
	"github.com/vedetta-dc/vedetta/model"
)

// The seed corpora in testdata/fuzz/ are real packets: FuzzDecodeTrap's
// were sent by net-snmp's snmptrap and snmpinform (v1 generic and
// enterprise traps, v2c traps and informs, SNMPv3 authPriv and
// authNoPriv traps of user rigtrap, an authPriv inform and its engine
// discovery, a wrong community); FuzzDecodeResponse's are net-snmp snmpd's
// answers (GET, GETNEXT, GETBULK of IF-MIB, IP-MIB, HOST-RESOURCES, UCD,
// UPS-MIB; v1 noSuchName and endOfMibView; SNMPv3 report and authPriv
// response of user rigv3, engine 0x80001f8804726967).

// FuzzDecodeTrap feeds datagrams to what the trap listener does with one:
// gosnmp's UnmarshalTrap, the community and v3 user checks, the sample
// (labels from the trap OID, the series cap), the value conversions, and
// the encoding of the inform response or the discovery report. The
// listener turns a panic of gosnmp into a rejection (the daemon survives);
// the fuzzer still fails on one, so that it is seen and reported upstream.
func FuzzDecodeTrap(f *testing.F) {
	cfg := &config.Traps{Listen: "127.0.0.1:0", Communities: []config.Secret{"public"},
		Users: []config.TrapUser{{User: "rigtrap", Auth: &config.TrapSecurity{Protocol: "SHA", Passphrase: "authpass123"},
			Priv: &config.TrapSecurity{Protocol: "AES", Passphrase: "privpass123"}}}}
	r, err := newTrapDecoder(cfg, map[string]string{"127.0.0.1": "ups-a"}, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		v := r.decode(msg)
		switch v.action {
		case trapAccept:
			_, _, s := r.sample(v.pkt, "127.0.0.1")
			if s.Name != "snmp_trap_received_total" || s.Value < 1 {
				t.Fatalf("bad sample %+v", s)
			}
			for _, vb := range v.pkt.Variables {
				_ = text(vb)
				_, _ = number(vb)
			}
			if v.pkt.PDUType == gosnmp.InformRequest {
				if _, err := informResponse(v.pkt); err != nil && strings.Contains(err.Error(), "panicked") {
					t.Fatal(err)
				}
			}
		case trapReport:
			if _, err := r.reportMsg(v.pkt, 1); err != nil && strings.Contains(err.Error(), "panicked") {
				t.Fatal(err)
			}
		case trapReject:
			if strings.Contains(v.detail, "panicked") {
				t.Fatal(v.detail)
			}
			if v.reason == "" {
				t.Fatal("a rejection without a reason")
			}
		}
	})
}

// FuzzDecodeResponse feeds datagrams to gosnmp's decoder of agent answers
// (v1, v2c, and v3 with rigv3's keys), then through vedetta's conversion:
// present/text/number of every varbind, the view, and every embedded
// profile's value pipeline. Nothing may panic, and no sample may be NaN or
// infinite. The readings of the poll path (vbPresent, appendText,
// vbNumber, vbSize) must be those of gosnmp's varbinds, for the varbinds
// snmpwire decodes from the same bytes (v1/v2c) and for gosnmp's own
// converted (SNMPv3).
func FuzzDecodeResponse(f *testing.F) {
	for _, vbs := range [][]gosnmp.SnmpPDU{
		{
			{Name: ".1.3.6.1.4.1.318.1.1.1.2.3.1.0", Type: gosnmp.Gauge32, Value: uint(1000)},
			{Name: ".1.3.6.1.4.1.318.1.1.1.4.1.1.0", Type: gosnmp.Integer, Value: 3},
			{Name: ".1.3.6.1.2.1.33.1.2.3.0", Type: gosnmp.Integer, Value: -1},
			{Name: ".1.3.6.1.2.1.31.1.1.1.6.1", Type: gosnmp.Counter64, Value: uint64(math.MaxUint64)},
			{Name: ".1.3.6.1.4.1.2021.10.1.3.1", Type: gosnmp.OctetString, Value: []byte("23,5")},
			{Name: ".1.3.6.1.2.1.2.2.1.6.1", Type: gosnmp.OctetString, Value: []byte{0xac, 0x7e, 0x8a, 0x19, 0xbf, 0x40}},
			{Name: ".1.3.6.1.2.1.99.1.1.1.4.1", Type: gosnmp.Integer, Value: math.MinInt32},
		},
		{
			{Name: ".1.3.6.1.4.1.9.9.13.1.3.1.3.1", Type: gosnmp.Gauge32, Value: uint(24)},
			{Name: ".1.3.6.1.2.1.1.2.0", Type: gosnmp.ObjectIdentifier, Value: ".1.3.6.1.4.1.9.1.1208"},
			{Name: ".1.3.6.1.2.1.4.20.1.1.127.0.0.1", Type: gosnmp.IPAddress, Value: "127.0.0.1"},
			{Name: ".1.3.6.1.2.1.1.3.0", Type: gosnmp.TimeTicks, Value: uint32(123456)},
			{Name: ".1.3.6.1.2.1.33.1.2.4.0", Type: gosnmp.NoSuchInstance},
			{Name: ".1.3.6.1.2.1.33.1.2.5.0", Type: gosnmp.Null},
			{Name: ".1.3.6.1.9.9", Type: gosnmp.EndOfMibView},
		},
	} {
		p := &gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: "public", PDUType: gosnmp.GetResponse, RequestID: 7, Variables: vbs}
		b, err := p.MarshalMsg()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	v2 := &gosnmp.GoSNMP{Version: gosnmp.Version2c, Logger: gosnmp.NewLogger(nil)}
	v3 := &gosnmp.GoSNMP{Version: gosnmp.Version3, SecurityModel: gosnmp.UserSecurityModel, MsgFlags: gosnmp.AuthPriv,
		Logger: gosnmp.NewLogger(nil), SecurityParameters: &gosnmp.UsmSecurityParameters{
			UserName: "rigv3", AuthoritativeEngineID: "\x80\x00\x1f\x88\x04rig",
			AuthenticationProtocol: gosnmp.SHA, AuthenticationPassphrase: "authpass123",
			PrivacyProtocol: gosnmp.AES, PrivacyPassphrase: "privpass123",
		}}
	if err := v3.SecurityParameters.InitSecurityKeys(); err != nil {
		f.Fatal(err)
	}
	profiles := EmbeddedProfiles().All()
	var wire snmpwire.Message
	f.Fuzz(func(t *testing.T, msg []byte) {
		dec := v2
		if isV3(msg) {
			dec = v3
		}
		pkt, err := dec.SnmpDecodePacket(msg)
		if err != nil {
			return
		}
		sameReading(t, pkt, &wire, msg)
		v := newView()
		for _, vb := range pkt.Variables {
			_ = present(vb)
			_ = text(vb)
			if n, ok := number(vb); ok && (math.IsNaN(n) || math.IsInf(n, 0)) {
				t.Fatalf("number(%v) = %v", vb, n)
			}
			_ = pduSize(vb)
			if b, ok := vb.Value.(*big.Int); ok && b == nil {
				t.Fatalf("nil big.Int in %v", vb)
			}
			v.add(vb, true)
		}
		v.finish()
		table := embeddedPlausibility()
		evaluate(profiles, v, nil, func(s model.Sample) {
			if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
				t.Fatalf("sample %s = %v", s.Name, s.Value)
			}
			if r, ok := table.For(s.Name); ok && !r.Plausible(s.Value) {
				t.Fatalf("sample %s = %v is outside its range %s", s.Name, s.Value, r)
			}
		})
	})
}

// sameReading fails t when the poll path reads a varbind otherwise than
// present, text, number and pduSize read gosnmp's.
func sameReading(t *testing.T, pkt *gosnmp.SnmpPacket, wire *snmpwire.Message, msg []byte) {
	t.Helper()
	var ours []snmpwire.Varbind
	if err := wire.Decode(msg); err == nil && pkt.Version != gosnmp.Version3 {
		ours = wire.Varbinds
	} else if pkt.Version != gosnmp.Version3 && !errors.Is(err, snmpwire.ErrTrap) {
		t.Fatalf("gosnmp reads it, snmpwire rejects it: %v", err)
	}
	for i, vb := range pkt.Variables {
		conv := snmpwire.FromPDU(vb)
		for _, w := range []*snmpwire.Varbind{&conv, at(ours, i)} {
			if w == nil {
				continue
			}
			if present(vb) != vbPresent(w) {
				t.Fatalf("%v: present %v, vbPresent %v", vb, present(vb), vbPresent(w))
			}
			if a, b := text(vb), string(appendText(nil, w)); a != b {
				t.Fatalf("%v: text %q, appendText %q", vb, a, b)
			}
			n1, ok1 := number(vb)
			n2, ok2 := vbNumber(w)
			if ok1 != ok2 || (ok1 && n1 != n2 && !(math.IsNaN(n1) && math.IsNaN(n2))) {
				t.Fatalf("%v: number %v %v, vbNumber %v %v", vb, n1, ok1, n2, ok2)
			}
			if pduSize(vb) != vbSize(w) {
				t.Fatalf("%v: pduSize %d, vbSize %d", vb, pduSize(vb), vbSize(w))
			}
		}
	}
}

func at(vbs []snmpwire.Varbind, i int) *snmpwire.Varbind {
	if i < len(vbs) {
		return &vbs[i]
	}
	return nil
}
