package snmpwire

import (
	"net/netip"

	"github.com/gosnmp/gosnmp"
)

// FromPDU is gosnmp's decoded varbind in this package's form (for the
// answers gosnmp still decodes: SNMPv3). It allocates; the slices do not
// alias p.
func FromPDU(p gosnmp.SnmpPDU) Varbind {
	vb := Varbind{Name: []byte(p.Name), Type: p.Type}
	switch v := p.Value.(type) {
	case int:
		if p.Type == gosnmp.Uinteger32 {
			vb.Uint = uint64(uint32(v)) //nolint:gosec
		} else {
			vb.Int = int64(v)
		}
	case uint:
		vb.Uint = uint64(v)
	case uint32:
		vb.Uint = uint64(v)
	case uint64:
		vb.Uint = v
	case int64:
		vb.Int = v
	case float32:
		vb.Float = float64(v)
	case float64:
		vb.Float = v
	case []byte:
		vb.Bytes = append([]byte{}, v...)
	case string:
		if p.Type == gosnmp.IPAddress {
			if a, err := netip.ParseAddr(v); err == nil {
				if a.Is4() {
					b := a.As4()
					vb.Bytes = b[:]
				} else {
					b := a.As16()
					vb.Bytes = b[:]
				}
			}
			break
		}
		vb.Bytes = []byte(v)
	}
	return vb
}
