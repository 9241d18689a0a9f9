package snmp

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gosnmp/gosnmp"
)

// ErrWrongType is wrapped by value decoders when an agent returns a
// varbind of a type the MIB does not define for the object.
var ErrWrongType = errors.New("wrong type")

func typeName(t gosnmp.Asn1BER) string {
	switch t {
	case gosnmp.Integer:
		return "Integer"
	case gosnmp.OctetString:
		return "OctetString"
	case gosnmp.Null:
		return "Null"
	case gosnmp.ObjectIdentifier:
		return "ObjectIdentifier"
	case gosnmp.IPAddress:
		return "IpAddress"
	case gosnmp.Counter32:
		return "Counter32"
	case gosnmp.Gauge32:
		return "Gauge32"
	case gosnmp.TimeTicks:
		return "TimeTicks"
	case gosnmp.Counter64:
		return "Counter64"
	case gosnmp.Opaque:
		return "Opaque"
	case gosnmp.NoSuchObject:
		return "noSuchObject"
	case gosnmp.NoSuchInstance:
		return "noSuchInstance"
	case gosnmp.EndOfMibView:
		return "endOfMibView"
	}
	return fmt.Sprintf("type(0x%02x)", byte(t))
}

func wrongType(v gosnmp.SnmpPDU, want string) error {
	return fmt.Errorf("%s: %w %s, want %s", v.Name, ErrWrongType, typeName(v.Type), want)
}

// absent reports whether a varbind carries no value (an exception).
func absent(v gosnmp.SnmpPDU) bool {
	return v.Type == gosnmp.NoSuchObject || v.Type == gosnmp.NoSuchInstance || v.Type == gosnmp.EndOfMibView || v.Type == gosnmp.Null
}

// asInt decodes an INTEGER (enumerations, Integer32).
func asInt(v gosnmp.SnmpPDU) (int64, error) {
	if v.Type != gosnmp.Integer {
		return 0, wrongType(v, "Integer")
	}
	switch x := v.Value.(type) {
	case int:
		return int64(x), nil
	case int64:
		return x, nil
	}
	return 0, wrongType(v, "Integer")
}

// asUint decodes Counter32, Gauge32, TimeTicks and Counter64 (and a
// non-negative Integer, which some agents send for Unsigned32).
func asUint(v gosnmp.SnmpPDU) (uint64, error) {
	switch v.Type {
	case gosnmp.Counter32, gosnmp.Gauge32, gosnmp.TimeTicks, gosnmp.Counter64, gosnmp.Uinteger32:
		switch x := v.Value.(type) {
		case uint:
			return uint64(x), nil
		case uint32:
			return uint64(x), nil
		case uint64:
			return x, nil
		}
	case gosnmp.Integer:
		if x, ok := v.Value.(int); ok && x >= 0 {
			return uint64(x), nil
		}
	}
	return 0, wrongType(v, "an unsigned number")
}

// asBytes decodes an OCTET STRING.
func asBytes(v gosnmp.SnmpPDU) ([]byte, error) {
	if v.Type != gosnmp.OctetString {
		return nil, wrongType(v, "OctetString")
	}
	b, ok := v.Value.([]byte)
	if !ok {
		return nil, wrongType(v, "OctetString")
	}
	return b, nil
}

// asText decodes a DisplayString.
func asText(v gosnmp.SnmpPDU) (string, error) {
	b, err := asBytes(v)
	if err != nil {
		return "", err
	}
	return displayString(b), nil
}

// asOID decodes an OBJECT IDENTIFIER to dotted form without a leading dot.
func asOID(v gosnmp.SnmpPDU) (string, error) {
	if v.Type != gosnmp.ObjectIdentifier {
		return "", wrongType(v, "ObjectIdentifier")
	}
	s, ok := v.Value.(string)
	if !ok {
		return "", wrongType(v, "ObjectIdentifier")
	}
	return strings.TrimPrefix(s, "."), nil
}

// displayString renders octets as text when they are printable UTF-8
// (trailing NULs, which some agents copy from C strings, dropped), else
// as colon-separated hex. Whitespace is kept: values are reported as the
// device holds them.
func displayString(b []byte) string {
	t := strings.TrimRight(string(b), "\x00")
	if utf8.ValidString(t) {
		printable := true
		for _, r := range t {
			if !unicode.IsPrint(r) && r != '\t' && r != '\r' && r != '\n' {
				printable = false
				break
			}
		}
		if printable {
			return t
		}
	}
	return hexColon(b)
}

func hexColon(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, len(b)*3)
	for i, c := range b {
		if i > 0 {
			out = append(out, ':')
		}
		out = append(out, digits[c>>4], digits[c&0xf])
	}
	return string(out)
}

// formatMAC renders a hardware address in lower-case colon form; empty
// input gives "".
func formatMAC(b []byte) string { return hexColon(b) }

// LLDP chassis ID subtypes (IEEE 802.1AB LldpChassisIdSubtype).
var chassisSubtypes = map[int64]string{
	1: "chassis_component", 2: "interface_alias", 3: "port_component", 4: "mac_address",
	5: "network_address", 6: "interface_name", 7: "local",
}

// LLDP port ID subtypes (IEEE 802.1AB LldpPortIdSubtype).
var portSubtypes = map[int64]string{
	1: "interface_alias", 2: "port_component", 3: "mac_address", 4: "network_address",
	5: "interface_name", 6: "agent_circuit_id", 7: "local",
}

// decodeChassisID returns the IEEE name of a chassis ID subtype and the
// ID in readable form.
func decodeChassisID(subtype int64, id []byte) (string, string) {
	name, ok := chassisSubtypes[subtype]
	if !ok {
		name = "subtype_" + strconv.FormatInt(subtype, 10)
	}
	switch subtype {
	case 4:
		return name, formatMAC(id)
	case 5:
		return name, decodeNetworkAddress(id)
	}
	return name, displayString(id)
}

// decodePortID returns the IEEE name of a port ID subtype and the ID in
// readable form.
func decodePortID(subtype int64, id []byte) (string, string) {
	name, ok := portSubtypes[subtype]
	if !ok {
		name = "subtype_" + strconv.FormatInt(subtype, 10)
	}
	switch subtype {
	case 3:
		return name, formatMAC(id)
	case 4:
		return name, decodeNetworkAddress(id)
	case 6:
		return name, hexOrText(id)
	}
	return name, displayString(id)
}

// hexOrText keeps agent circuit IDs (binary by nature) readable.
func hexOrText(b []byte) string { return displayString(b) }

// decodeNetworkAddress decodes an LLDP network address: one octet of IANA
// address family, then the address.
func decodeNetworkAddress(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return decodeAddress(int64(b[0]), b[1:])
}

// decodeAddress renders an address of an IANA AddressFamilyNumbers family.
func decodeAddress(family int64, a []byte) string {
	switch {
	case family == 1 && len(a) == 4:
		return netip.AddrFrom4([4]byte(a)).String()
	case family == 2 && len(a) == 16:
		return netip.AddrFrom16([16]byte(a)).String()
	case family == 6 && len(a) == 6: // 802 (MAC)
		return formatMAC(a)
	case family == 16: // DNS name
		return displayString(a)
	}
	return fmt.Sprintf("family%d:%s", family, hexColon(a))
}

// lldpCapabilities are the bits of LldpSystemCapabilitiesMap in order.
var lldpCapabilities = []string{"other", "repeater", "bridge", "wlan_access_point", "router",
	"telephone", "docsis_cable_device", "station_only", "c_vlan", "s_vlan", "two_port_mac_relay"}

// decodeCapabilities decodes a BITS value (bit 0 is the most significant
// bit of the first octet).
func decodeCapabilities(b []byte) []string {
	var out []string
	for i := 0; i < len(b)*8; i++ {
		if b[i/8]&(0x80>>(i%8)) == 0 {
			continue
		}
		if i < len(lldpCapabilities) {
			out = append(out, lldpCapabilities[i])
		} else {
			out = append(out, "bit"+strconv.Itoa(i))
		}
	}
	return out
}

var ifStatusNames = map[int64]string{1: "up", 2: "down", 3: "testing", 4: "unknown", 5: "dormant", 6: "notPresent", 7: "lowerLayerDown"}

func ifStatus(n int64) string {
	if s, ok := ifStatusNames[n]; ok {
		return s
	}
	return "status" + strconv.FormatInt(n, 10)
}

var fdbStatusNames = map[int64]string{1: "other", 2: "invalid", 3: "learned", 4: "self", 5: "mgmt"}

func fdbStatus(n int64) string {
	if s, ok := fdbStatusNames[n]; ok {
		return s
	}
	return "status" + strconv.FormatInt(n, 10)
}

var entityClassNames = map[int64]string{1: "other", 2: "unknown", 3: "chassis", 4: "backplane", 5: "container",
	6: "powerSupply", 7: "fan", 8: "sensor", 9: "module", 10: "port", 11: "stack", 12: "cpu",
	13: "energyObject", 14: "battery", 15: "storageDrive"}

func entityClass(n int64) string {
	if s, ok := entityClassNames[n]; ok {
		return s
	}
	return "class" + strconv.FormatInt(n, 10)
}

// parseOID parses a dotted OID (leading dot optional).
func parseOID(s string) ([]uint32, error) {
	s = strings.TrimPrefix(s, ".")
	if s == "" {
		return nil, errors.New("empty OID")
	}
	parts := strings.Split(s, ".")
	out := make([]uint32, len(parts))
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("bad OID %q: %w", s, err)
		}
		out[i] = uint32(n)
	}
	return out, nil
}

func oidString(oid []uint32) string {
	var b strings.Builder
	for _, n := range oid {
		b.WriteByte('.')
		b.WriteString(strconv.FormatUint(uint64(n), 10))
	}
	return b.String()
}

// compareOID orders dotted OIDs numerically, sub-identifier by
// sub-identifier; a prefix sorts first.
func compareOID(a, b string) int {
	i, j := 0, 0
	for {
		if i < len(a) && a[i] == '.' {
			i++
		}
		if j < len(b) && b[j] == '.' {
			j++
		}
		if i >= len(a) || j >= len(b) {
			switch {
			case i >= len(a) && j >= len(b):
				return 0
			case i >= len(a):
				return -1
			}
			return 1
		}
		var x, y uint64
		for i < len(a) && a[i] != '.' {
			x = x*10 + uint64(a[i]-'0')
			i++
		}
		for j < len(b) && b[j] != '.' {
			y = y*10 + uint64(b[j]-'0')
			j++
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
}

// decodeFDBIndex splits a dot1qTpFdbTable index (fdbId, MAC as six
// sub-identifiers) or a dot1dTpFdbTable index (MAC only, fdbID 0).
func decodeFDBIndex(idx []uint32, withFDB bool) (fdbID uint32, mac string, err error) {
	want := 6
	if withFDB {
		want = 7
	}
	if len(idx) != want {
		return 0, "", fmt.Errorf("FDB index %s: want %d sub-identifiers", oidString(idx), want)
	}
	if withFDB {
		fdbID, idx = idx[0], idx[1:]
	}
	b := make([]byte, 6)
	for i, n := range idx {
		if n > 255 {
			return 0, "", fmt.Errorf("FDB index %s: MAC octet %d > 255", oidString(idx), n)
		}
		b[i] = byte(n)
	}
	return fdbID, formatMAC(b), nil
}

// lldpRemKey identifies an lldpRemTable row: timeMark.localPortNum.remIndex.
type lldpRemKey struct{ timeMark, localPort, remIndex uint32 }

// decodeManAddrIndex splits an lldpRemManAddrTable index: the remote row
// key, then the address subtype and the length-prefixed address.
func decodeManAddrIndex(idx []uint32) (lldpRemKey, string, error) {
	if len(idx) < 5 {
		return lldpRemKey{}, "", fmt.Errorf("management address index %s too short", oidString(idx))
	}
	k := lldpRemKey{idx[0], idx[1], idx[2]}
	family := idx[3]
	n := int(idx[4])
	if len(idx) != 5+n {
		return lldpRemKey{}, "", fmt.Errorf("management address index %s: length %d, have %d octets", oidString(idx), n, len(idx)-5)
	}
	a := make([]byte, n)
	for i, x := range idx[5:] {
		if x > 255 {
			return lldpRemKey{}, "", fmt.Errorf("management address index %s: octet %d > 255", oidString(idx), x)
		}
		a[i] = byte(x)
	}
	return k, decodeAddress(int64(family), a), nil
}
