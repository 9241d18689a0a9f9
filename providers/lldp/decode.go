package lldp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/lldp"

	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
)

// Sentinel errors of Decode. Decode wraps them in a *DecodeError naming the
// part of the frame at fault; classify with errors.Is.
var (
	// ErrTruncated is returned when the frame ends inside the Ethernet
	// header, inside a TLV header or value, or before an End of LLDPDU TLV.
	ErrTruncated = errors.New("truncated frame")
	// ErrNotLLDP is returned when the EtherType (after any 802.1Q tags) is
	// not the LLDP EtherType 0x88cc.
	ErrNotLLDP = errors.New("not an LLDP frame")
	// ErrInvalidFrame is returned when the chassis ID, port ID and TTL TLVs
	// are not the first three TLVs in that order, when one of them is
	// repeated, or when an 802.1Q tag is malformed.
	ErrInvalidFrame = errors.New("invalid LLDPDU")
	// ErrInvalidTLV is returned when a mandatory TLV carries a value that
	// breaks IEEE 802.1AB: an empty chassis or port ID, a TTL that is not
	// two bytes, a network address whose length does not match its IANA
	// family, or an End of LLDPDU TLV with a non-zero length.
	ErrInvalidTLV = errors.New("invalid TLV")
	// ErrOversizedTLV is returned when a chassis ID or port ID TLV is
	// longer than the 256 bytes IEEE 802.1AB allows.
	ErrOversizedTLV = errors.New("oversized TLV")
)

// DecodeError is a frame Decode rejected. Err is one of the sentinel errors
// above.
type DecodeError struct {
	// Part names what was being decoded: "ethernet header" or a TLV name.
	Part string
	// Offset is the byte offset of Part from the start of the frame.
	Offset int
	// Detail says what was wrong, for people.
	Detail string
	Err    error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("lldp decode: %s at offset %d: %s: %v", e.Part, e.Offset, e.Detail, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// TLVCounts reports optional TLVs that Decode did not use. IEEE 802.1AB
// (9.2.7.7) keeps the rest of the LLDPDU in both cases.
type TLVCounts struct {
	// Unrecognized counts TLVs of reserved types (9-126) and
	// organizationally specific TLVs this package does not decode.
	Unrecognized int
	// Discarded counts optional TLVs dropped because their value was
	// malformed, longer than the standard allows, or a repeat of a TLV that
	// may appear once.
	Discarded int
}

// TLV types of IEEE 802.1AB.
const (
	tlvEnd             = 0
	tlvChassisID       = 1
	tlvPortID          = 2
	tlvTTL             = 3
	tlvPortDescription = 4
	tlvSystemName      = 5
	tlvSystemDesc      = 6
	tlvCapabilities    = 7
	tlvManagementAddr  = 8
	tlvOrgSpecific     = 127
	maxIDLength        = 256 // chassis and port ID value, subtype included
	maxTextLength      = 255 // port description, system name and description
	minMgmtAddrTLVLen  = 9
	maxMgmtAddrTLVLen  = 167
	maxMgmtAddrLen     = 32 // address subtype + address
	maxMgmtOIDLen      = 128
	orgHeaderLen       = 4 // OUI + subtype
)

// Organizationally unique identifiers of the TLVs decoded here.
var (
	ouiIEEE8021 = [3]byte{0x00, 0x80, 0xc2}
	ouiIEEE8023 = [3]byte{0x00, 0x12, 0x0f}
)

// Subtypes within the IEEE 802.1 and 802.3 organizationally specific TLVs.
const (
	dot1PortVLANID      = 1 // 802.1AB-2009 Annex D.2.1
	dot1LinkAggregation = 7 // 802.1AB-2009 Annex E.8 (moved from 802.3)
	dot3MACPHY          = 1 // 802.3 clause 79.3.1
	dot3LinkAggregation = 3 // 802.3 clause 79.3.3 (deprecated, still sent)
	dot3MaxFrameSize    = 4 // 802.3 clause 79.3.4
)

var tlvNames = [...]string{
	tlvEnd:             "End of LLDPDU TLV",
	tlvChassisID:       "chassis ID TLV",
	tlvPortID:          "port ID TLV",
	tlvTTL:             "TTL TLV",
	tlvPortDescription: "port description TLV",
	tlvSystemName:      "system name TLV",
	tlvSystemDesc:      "system description TLV",
	tlvCapabilities:    "system capabilities TLV",
	tlvManagementAddr:  "management address TLV",
}

func tlvName(t uint8) string {
	if int(t) < len(tlvNames) {
		return tlvNames[t]
	}
	if t == tlvOrgSpecific {
		return "organizationally specific TLV"
	}
	return fmt.Sprintf("TLV type %d", t)
}

// Decode decodes one raw Ethernet frame carrying an LLDPDU into a neighbour.
// The chassis and port ID subtypes carry IEEE 802.1AB names (mac_address,
// interface_name, network_address, local, ...), MAC addresses read
// aa:bb:cc:dd:ee:ff, network addresses are decoded by IANA address family.
// LocalPort and LocalPortIndex are left empty for the caller. A TTL of zero
// is a shutdown LLDPDU. Errors are *DecodeError wrapping a sentinel error.
//
// Decode is a pure function: it keeps no reference to frame.
func Decode(frame []byte) (*racktrackv1.LLDPNeighbor, error) {
	n, _, err := DecodeCounted(frame)
	return n, err
}

// DecodeCounted is Decode that also reports the optional TLVs it skipped.
func DecodeCounted(frame []byte) (*racktrackv1.LLDPNeighbor, TLVCounts, error) {
	var counts TLVCounts
	var ef ethernet.Frame
	if err := ef.UnmarshalBinary(frame); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, counts, &DecodeError{Part: "ethernet header", Detail: fmt.Sprintf("frame of %d bytes", len(frame)), Err: ErrTruncated}
		}
		return nil, counts, &DecodeError{Part: "ethernet header", Detail: err.Error(), Err: ErrInvalidFrame}
	}
	if ef.EtherType != lldp.EtherType {
		return nil, counts, &DecodeError{Part: "ethernet header", Offset: len(frame) - len(ef.Payload) - 2,
			Detail: fmt.Sprintf("EtherType %#04x", uint16(ef.EtherType)), Err: ErrNotLLDP}
	}
	base := len(frame) - len(ef.Payload)
	end, err := checkLLDPDU(ef.Payload, base)
	if err != nil {
		return nil, counts, err
	}

	// mdlayher/lldp wants the LLDPDU alone: Ethernet padding after the End
	// TLV would be read as more TLVs.
	var lf lldp.Frame
	if err := lf.UnmarshalBinary(ef.Payload[:end]); err != nil {
		// checkLLDPDU accepted what lldp rejects: report, never panic.
		return nil, counts, &DecodeError{Part: "LLDPDU", Offset: base, Detail: err.Error(), Err: ErrInvalidFrame}
	}

	n := &racktrackv1.LLDPNeighbor{
		ChassisIdSubtype: chassisSubtypeName(lf.ChassisID.Subtype),
		PortIdSubtype:    portSubtypeName(lf.PortID.Subtype),
		TtlSeconds:       uint32(lf.TTL.Seconds()),
	}
	n.ChassisId, err = formatID(chassisKind(lf.ChassisID.Subtype), lf.ChassisID.ID)
	if err != nil {
		return nil, counts, &DecodeError{Part: tlvName(tlvChassisID), Offset: base, Detail: err.Error(), Err: ErrInvalidTLV}
	}
	n.PortId, err = formatID(portKind(lf.PortID.Subtype), lf.PortID.ID)
	if err != nil {
		return nil, counts, &DecodeError{Part: tlvName(tlvPortID), Offset: base + 2 + len(lf.ChassisID.ID) + 1, Detail: err.Error(), Err: ErrInvalidTLV}
	}

	var seen [tlvCapabilities + 1]bool
	for _, t := range lf.Optional {
		typ := uint8(t.Type)
		switch typ {
		case tlvPortDescription, tlvSystemName, tlvSystemDesc, tlvCapabilities:
			if seen[typ] {
				counts.Discarded++
				continue
			}
			seen[typ] = true
		}
		switch typ {
		case tlvPortDescription, tlvSystemName, tlvSystemDesc:
			if len(t.Value) > maxTextLength {
				counts.Discarded++
				continue
			}
			s := cleanText(t.Value)
			switch typ {
			case tlvPortDescription:
				n.PortDescription = s
			case tlvSystemName:
				n.SystemName = s
			default:
				n.SystemDescription = s
			}
		case tlvCapabilities:
			if len(t.Value) != 4 {
				counts.Discarded++
				continue
			}
			n.Capabilities = capabilityNames(binary.BigEndian.Uint16(t.Value[0:2]))
			n.EnabledCapabilities = capabilityNames(binary.BigEndian.Uint16(t.Value[2:4]))
		case tlvManagementAddr:
			a, ok := managementAddress(t.Value)
			if !ok {
				counts.Discarded++
				continue
			}
			n.ManagementAddresses = append(n.ManagementAddresses, a)
		case tlvOrgSpecific:
			switch orgTLV(n, t.Value) {
			case orgDiscarded:
				counts.Discarded++
			case orgUnrecognized:
				counts.Unrecognized++
			}
		default:
			counts.Unrecognized++
		}
	}
	return n, counts, nil
}

// checkLLDPDU walks the TLVs of payload (which starts base bytes into the
// frame), checks the mandatory TLVs and returns the length of the LLDPDU up
// to and including the End TLV.
func checkLLDPDU(p []byte, base int) (int, error) {
	for off, idx := 0, 0; ; idx++ {
		if len(p)-off < 2 {
			return 0, &DecodeError{Part: "LLDPDU", Offset: base + off, Detail: "no End of LLDPDU TLV", Err: ErrTruncated}
		}
		h := binary.BigEndian.Uint16(p[off:])
		typ, l := uint8(h>>9), int(h&0x1ff)
		if len(p)-off-2 < l {
			return 0, &DecodeError{Part: tlvName(typ), Offset: base + off,
				Detail: fmt.Sprintf("length %d with %d bytes left", l, len(p)-off-2), Err: ErrTruncated}
		}
		if idx < 3 {
			want := uint8(idx + 1) // chassis ID, port ID, TTL
			if typ != want {
				return 0, &DecodeError{Part: tlvName(typ), Offset: base + off,
					Detail: fmt.Sprintf("TLV %d is type %d, want %s", idx+1, typ, tlvName(want)), Err: ErrInvalidFrame}
			}
			switch {
			case typ == tlvTTL && l != 2:
				return 0, &DecodeError{Part: tlvName(typ), Offset: base + off, Detail: fmt.Sprintf("length %d, want 2", l), Err: ErrInvalidTLV}
			case typ != tlvTTL && l < 2:
				return 0, &DecodeError{Part: tlvName(typ), Offset: base + off, Detail: fmt.Sprintf("length %d, want at least 2", l), Err: ErrInvalidTLV}
			case typ != tlvTTL && l > maxIDLength:
				return 0, &DecodeError{Part: tlvName(typ), Offset: base + off, Detail: fmt.Sprintf("length %d exceeds %d", l, maxIDLength), Err: ErrOversizedTLV}
			}
		} else if typ >= tlvChassisID && typ <= tlvTTL {
			return 0, &DecodeError{Part: tlvName(typ), Offset: base + off, Detail: "repeated mandatory TLV", Err: ErrInvalidFrame}
		}
		if typ == tlvEnd {
			if l != 0 {
				return 0, &DecodeError{Part: tlvName(typ), Offset: base + off, Detail: fmt.Sprintf("length %d, want 0", l), Err: ErrInvalidTLV}
			}
			return off + 2, nil
		}
		off += 2 + l
	}
}

// idKind says how a chassis or port ID value is shown.
type idKind int

const (
	idText    idKind = iota // text when printable, else hex
	idMAC                   // aa:bb:cc:dd:ee:ff
	idNetwork               // IANA address family + address
	idRaw                   // reserved subtypes: hex
)

var chassisSubtypes = [...]string{
	lldp.ChassisIDSubtypeChassisComponenent: "chassis_component",
	lldp.ChassisIDSubtypeInterfaceAlias:     "interface_alias",
	lldp.ChassisIDSubtypePortComponent:      "port_component",
	lldp.ChassisIDSubtypeMACAddress:         "mac_address",
	lldp.ChassisIDSubtypeNetworkAddress:     "network_address",
	lldp.ChassisIDSubtypeInterfaceName:      "interface_name",
	lldp.ChassisIDSubtypeLocallyAssigned:    "local",
}

var portSubtypes = [...]string{
	lldp.PortIDSubtypeInterfaceAlias:  "interface_alias",
	lldp.PortIDSubtypePortComponent:   "port_component",
	lldp.PortIDSubtypeMACAddress:      "mac_address",
	lldp.PortIDSubtypeNetworkAddress:  "network_address",
	lldp.PortIDSubtypeInterfaceName:   "interface_name",
	lldp.PortIDSubtypeAgentCircuitID:  "agent_circuit_id",
	lldp.PortIDSubtypeLocallyAssigned: "local",
}

func chassisSubtypeName(s lldp.ChassisIDSubtype) string {
	if int(s) < len(chassisSubtypes) && chassisSubtypes[s] != "" {
		return chassisSubtypes[s]
	}
	return fmt.Sprintf("reserved_%d", s)
}

func portSubtypeName(s lldp.PortIDSubtype) string {
	if int(s) < len(portSubtypes) && portSubtypes[s] != "" {
		return portSubtypes[s]
	}
	return fmt.Sprintf("reserved_%d", s)
}

func chassisKind(s lldp.ChassisIDSubtype) idKind {
	switch s {
	case lldp.ChassisIDSubtypeMACAddress:
		return idMAC
	case lldp.ChassisIDSubtypeNetworkAddress:
		return idNetwork
	case lldp.ChassisIDSubtypeChassisComponenent, lldp.ChassisIDSubtypeInterfaceAlias,
		lldp.ChassisIDSubtypePortComponent, lldp.ChassisIDSubtypeInterfaceName, lldp.ChassisIDSubtypeLocallyAssigned:
		return idText
	}
	return idRaw
}

func portKind(s lldp.PortIDSubtype) idKind {
	switch s {
	case lldp.PortIDSubtypeMACAddress:
		return idMAC
	case lldp.PortIDSubtypeNetworkAddress:
		return idNetwork
	case lldp.PortIDSubtypeInterfaceAlias, lldp.PortIDSubtypePortComponent, lldp.PortIDSubtypeInterfaceName,
		lldp.PortIDSubtypeAgentCircuitID, lldp.PortIDSubtypeLocallyAssigned:
		return idText
	}
	return idRaw
}

// formatID renders a chassis or port ID value (subtype byte removed).
func formatID(k idKind, b []byte) (string, error) {
	switch k {
	case idMAC:
		return net.HardwareAddr(b).String(), nil
	case idNetwork:
		return formatNetworkAddress(b)
	case idText:
		return textOrHex(b), nil
	}
	return net.HardwareAddr(b).String(), nil
}

// IANA address family numbers used in LLDP network addresses.
const (
	familyIPv4 = 1
	familyIPv6 = 2
	family802  = 6 // IEEE 802 MAC address, canonical format
)

// formatNetworkAddress renders an IANA family byte followed by an address.
// Families other than IPv4, IPv6 and 802 read "family:hex".
func formatNetworkAddress(b []byte) (string, error) {
	if len(b) < 2 {
		return "", fmt.Errorf("network address of %d bytes", len(b))
	}
	fam, a := b[0], b[1:]
	switch fam {
	case familyIPv4:
		if len(a) != 4 {
			return "", fmt.Errorf("IPv4 address of %d bytes", len(a))
		}
		return netip.AddrFrom4([4]byte(a)).String(), nil
	case familyIPv6:
		if len(a) != 16 {
			return "", fmt.Errorf("IPv6 address of %d bytes", len(a))
		}
		return netip.AddrFrom16([16]byte(a)).String(), nil
	case family802:
		if len(a) != 6 {
			return "", fmt.Errorf("802 address of %d bytes", len(a))
		}
		return net.HardwareAddr(a).String(), nil
	}
	return fmt.Sprintf("%d:%s", fam, net.HardwareAddr(a).String()), nil
}

// managementAddress decodes a management address TLV value (802.1AB
// 8.5.9) into its address; ok is false when the value is malformed.
func managementAddress(v []byte) (addr string, ok bool) {
	if len(v) < minMgmtAddrTLVLen || len(v) > maxMgmtAddrTLVLen {
		return "", false
	}
	alen := int(v[0]) // address subtype + address
	if alen < 2 || alen > maxMgmtAddrLen || 1+alen+6 > len(v) {
		return "", false
	}
	rest := v[1+alen:] // interface numbering subtype, number, OID length, OID
	oidLen := int(rest[5])
	if oidLen > maxMgmtOIDLen || 6+oidLen != len(rest) {
		return "", false
	}
	a, err := formatNetworkAddress(v[1 : 1+alen])
	if err != nil {
		return "", false
	}
	return a, true
}

type orgResult int

const (
	orgUsed orgResult = iota
	orgDiscarded
	orgUnrecognized
)

// orgTLV decodes the IEEE 802.1 and 802.3 organizationally specific TLVs
// the neighbour message carries.
func orgTLV(n *racktrackv1.LLDPNeighbor, v []byte) orgResult {
	if len(v) < orgHeaderLen {
		return orgDiscarded
	}
	oui, sub, info := [3]byte(v[0:3]), v[3], v[orgHeaderLen:]
	switch {
	case oui == ouiIEEE8021 && sub == dot1PortVLANID:
		if len(info) != 2 {
			return orgDiscarded
		}
		n.PortVlanId = uint32(binary.BigEndian.Uint16(info))
	case oui == ouiIEEE8021 && sub == dot1LinkAggregation, oui == ouiIEEE8023 && sub == dot3LinkAggregation:
		if len(info) != 5 {
			return orgDiscarded
		}
		n.AggregationEnabled = info[0]&0x02 != 0 // bit 1: aggregation status
		n.AggregationPortId = binary.BigEndian.Uint32(info[1:5])
	case oui == ouiIEEE8023 && sub == dot3MACPHY:
		if len(info) != 5 {
			return orgDiscarded
		}
		n.AutonegEnabled = info[0]&0x02 != 0 // bit 1: auto-negotiation enabled
		n.MauType = uint32(binary.BigEndian.Uint16(info[3:5]))
	case oui == ouiIEEE8023 && sub == dot3MaxFrameSize:
		if len(info) != 2 {
			return orgDiscarded
		}
		n.MaxFrameSize = uint32(binary.BigEndian.Uint16(info))
	default:
		return orgUnrecognized
	}
	return orgUsed
}

// capabilityBits names the system capability bits of 802.1AB-2009 Table
// 8-4, least significant bit first.
var capabilityBits = [...]string{
	"other", "repeater", "bridge", "wlan_access_point", "router", "telephone",
	"docsis_cable_device", "station_only", "c_vlan_component", "s_vlan_component",
	"two_port_mac_relay",
}

func capabilityNames(bits uint16) []string {
	if bits == 0 {
		return nil
	}
	var out []string
	for i := 0; i < 16; i++ {
		if bits&(1<<i) == 0 {
			continue
		}
		if i < len(capabilityBits) {
			out = append(out, capabilityBits[i])
		} else {
			out = append(out, fmt.Sprintf("bit_%d", i+1))
		}
	}
	return out
}

// cleanText turns a TLV text value into valid UTF-8 (protobuf strings must
// be), dropping the NUL padding some devices send.
func cleanText(b []byte) string {
	s := strings.TrimRight(string(b), "\x00")
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// textOrHex shows b as text when it is printable UTF-8, else as hex bytes
// separated by colons.
func textOrHex(b []byte) string {
	if !utf8.Valid(b) {
		return net.HardwareAddr(b).String()
	}
	for _, r := range string(b) {
		if !unicode.IsPrint(r) {
			return net.HardwareAddr(b).String()
		}
	}
	return string(b)
}
