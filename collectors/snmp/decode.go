package snmp

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gosnmp/gosnmp"

	"github.com/vedetta-dc/vedetta/internal/snmpwire"
)

// present reports whether a varbind carries a value at all.
func present(p gosnmp.SnmpPDU) bool {
	switch p.Type {
	case gosnmp.NoSuchObject, gosnmp.NoSuchInstance, gosnmp.EndOfMibView, gosnmp.Null, gosnmp.UnknownType:
		return false
	}
	return p.Value != nil
}

// text renders a varbind as text (label values, map keys, where filters).
// Binary octet strings come out as hex ("00:1a:2b" style is left to MAC
// columns nobody labels by here).
func text(p gosnmp.SnmpPDU) string {
	if !present(p) {
		return ""
	}
	switch v := p.Value.(type) {
	case []byte:
		if printable(v) {
			return string(bytes.TrimRight(v, "\x00"))
		}
		return "0x" + hex.EncodeToString(v)
	case string:
		if p.Type == gosnmp.ObjectIdentifier {
			return trimOID(v)
		}
		return v
	case *big.Int:
		return v.String()
	case float32:
		return strconv.FormatFloat(float64(v), 'g', -1, 32)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return fmt.Sprint(p.Value)
}

func printable(b []byte) bool {
	b = bytes.TrimRight(b, "\x00")
	if !utf8.Valid(b) {
		return false
	}
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if !unicode.IsPrint(r) && !unicode.IsSpace(r) {
			return false
		}
		b = b[n:]
	}
	return true
}

// number reads a varbind as a number: integers of every SNMP type, and
// numbers sent as text ("23.5", " 230 V", "0x1A", "23,5"). ok is false for
// anything else (empty, "N/A", binary).
func number(p gosnmp.SnmpPDU) (float64, bool) {
	if !present(p) {
		return 0, false
	}
	switch p.Type {
	case gosnmp.OctetString, gosnmp.Opaque, gosnmp.OpaqueFloat, gosnmp.OpaqueDouble:
		switch v := p.Value.(type) {
		case float32:
			return float64(v), !math.IsNaN(float64(v))
		case float64:
			return v, !math.IsNaN(v)
		case []byte:
			if !printable(v) {
				return 0, false
			}
			return parseNumber(string(v))
		case string:
			return parseNumber(v)
		}
		return 0, false
	case gosnmp.ObjectIdentifier, gosnmp.IPAddress, gosnmp.BitString:
		return 0, false
	}
	if b, ok := p.Value.(*big.Int); ok {
		f, _ := new(big.Float).SetInt(b).Float64()
		return f, true
	}
	switch v := p.Value.(type) {
	case int:
		return float64(v), true
	case uint:
		return float64(v), true
	case uint32:
		return float64(v), true
	case uint64:
		return float64(v), true
	case int64:
		return float64(v), true
	}
	return 0, false
}

// parseNumber takes the leading number of a text value: "23.5", "-4",
// "230 V", "45.0%", "0x1A" (hex), "23,5" (decimal comma).
func parseNumber(s string) (float64, bool) {
	s = strings.TrimSpace(strings.TrimRight(s, "\x00"))
	if s == "" {
		return 0, false
	}
	if h, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		u, err := strconv.ParseUint(h, 16, 64)
		return float64(u), err == nil
	}
	end := 0
	for end < len(s) {
		c := s[end]
		if (c >= '0' && c <= '9') || c == '.' || c == ',' || ((c == '-' || c == '+') && end == 0) ||
			((c == 'e' || c == 'E') && end > 0 && end+1 < len(s) && (s[end+1] >= '0' && s[end+1] <= '9' || s[end+1] == '-')) {
			end++
			continue
		}
		break
	}
	num := s[:end]
	if strings.Contains(num, ",") {
		if strings.Contains(num, ".") {
			num = strings.ReplaceAll(num, ",", "") // 1,234.5
		} else {
			num = strings.ReplaceAll(num, ",", ".") // 23,5
		}
	}
	if rest := strings.TrimSpace(s[end:]); rest != "" && !unitSuffix(rest) {
		return 0, false // "12 of 40 bays": not a measurement
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// unitSuffix accepts what devices append to numbers sent as text.
func unitSuffix(s string) bool {
	if len(s) > 8 {
		return false
	}
	for _, r := range s {
		if !(unicode.IsLetter(r) || r == '%' || r == '°' || r == '/' || r == ' ') {
			return false
		}
	}
	return true
}

// indexString decodes an index made of length-prefixed ASCII (the way
// SNMP tables index rows by name): "4.68.97.116.97" -> "Data". An index
// without a valid length prefix is read as plain ASCII codes.
func indexString(idx string) string {
	parts := strings.Split(idx, ".")
	nums := make([]byte, 0, len(parts))
	for _, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 255 {
			return idx
		}
		nums = append(nums, byte(n))
	}
	if len(nums) > 0 && int(nums[0]) == len(nums)-1 {
		nums = nums[1:]
	}
	if !printable(nums) {
		return idx
	}
	return string(nums)
}

// The same three readings of a varbind decoded by snmpwire (the poll's
// answers): vbPresent, appendText and vbNumber say what present, text and
// number say of the varbind gosnmp decodes from the same bytes
// (FuzzDecodeResponse compares them), without allocating.

// vbPresent is present of a wire varbind.
func vbPresent(p *snmpwire.Varbind) bool {
	switch p.Type {
	case gosnmp.NoSuchObject, gosnmp.NoSuchInstance, gosnmp.EndOfMibView, gosnmp.Null, gosnmp.UnknownType:
		return false
	case gosnmp.IPAddress:
		return p.Bytes != nil // gosnmp: a nil value for an empty address
	}
	return true
}

// appendText appends text of a wire varbind to dst.
func appendText(dst []byte, p *snmpwire.Varbind) []byte {
	if !vbPresent(p) {
		return dst
	}
	switch p.Type {
	case gosnmp.OctetString, gosnmp.Opaque:
		if printable(p.Bytes) {
			return append(dst, bytes.TrimRight(p.Bytes, "\x00")...)
		}
		dst = append(dst, "0x"...)
		return hex.AppendEncode(dst, p.Bytes)
	case gosnmp.ObjectIdentifier:
		return append(dst, bytes.TrimPrefix(p.Bytes, []byte{'.'})...)
	case gosnmp.IPAddress:
		return snmpwire.AppendIP(dst, p.Bytes)
	case gosnmp.Integer:
		return strconv.AppendInt(dst, p.Int, 10)
	case gosnmp.OpaqueFloat:
		return strconv.AppendFloat(dst, p.Float, 'g', -1, 32)
	case gosnmp.OpaqueDouble:
		return strconv.AppendFloat(dst, p.Float, 'g', -1, 64)
	}
	return strconv.AppendUint(dst, p.Uint, 10) // the counters, gauges, TimeTicks, Uinteger32
}

// vbNumber is number of a wire varbind.
func vbNumber(p *snmpwire.Varbind) (float64, bool) {
	if !vbPresent(p) {
		return 0, false
	}
	switch p.Type {
	case gosnmp.OpaqueFloat, gosnmp.OpaqueDouble:
		return p.Float, !math.IsNaN(p.Float)
	case gosnmp.OctetString, gosnmp.Opaque:
		if !printable(p.Bytes) {
			return 0, false
		}
		return parseNumber(string(p.Bytes))
	case gosnmp.ObjectIdentifier, gosnmp.IPAddress, gosnmp.BitString:
		return 0, false
	case gosnmp.Integer:
		return float64(p.Int), true
	}
	return float64(p.Uint), true
}
