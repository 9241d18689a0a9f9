package lldp

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
)

func assertNeighbor(t *testing.T, got, want *racktrackv1.LLDPNeighbor) {
	t.Helper()
	if !proto.Equal(got, want) {
		t.Errorf("neighbour mismatch\n got: %s\nwant: %s", prototext.Format(got), prototext.Format(want))
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name       string
		frame      []byte
		want       *racktrackv1.LLDPNeighbor
		wantCounts TLVCounts
	}{
		{
			name:  "lldpd 1.0.16 frame",
			frame: mustHex(t, lldpdFrameHex),
			want: &racktrackv1.LLDPNeighbor{
				ChassisIdSubtype: "mac_address", ChassisId: "02:00:00:00:0b:07",
				PortIdSubtype: "interface_name", PortId: "swp7",
				TtlSeconds: 3, PortDescription: "swp7",
				SystemName: "sw-far", SystemDescription: "test switch",
				Capabilities:        []string{"bridge", "wlan_access_point", "router", "station_only"},
				EnabledCapabilities: []string{"station_only"},
				ManagementAddresses: []string{"192.0.2.2", "fe80::ff:fe00:b07"},
				MauType:             0x36,
			},
		},
		{
			name:  "minimal frame with Ethernet padding after End",
			frame: basicFrame(testSrcMAC, "eth0", 120),
			want: &racktrackv1.LLDPNeighbor{ChassisIdSubtype: "mac_address", ChassisId: "02:00:00:00:0b:07",
				PortIdSubtype: "interface_name", PortId: "eth0", TtlSeconds: 120},
		},
		{
			name:  "shutdown LLDPDU",
			frame: basicFrame(testSrcMAC, "eth0", 0),
			want: &racktrackv1.LLDPNeighbor{ChassisIdSubtype: "mac_address", ChassisId: "02:00:00:00:0b:07",
				PortIdSubtype: "interface_name", PortId: "eth0"},
		},
		{
			name: "802.1Q tagged",
			frame: append(append(append([]byte{}, Multicast...), testSrcMAC...),
				append(bs(0x81, 0x00, 0x00, 0x0a, 0x88, 0xcc), bytes.Join([][]byte{chassisMAC(testSrcMAC), portName("eth0"), ttl(5), end()}, nil)...)...),
			want: &racktrackv1.LLDPNeighbor{ChassisIdSubtype: "mac_address", ChassisId: "02:00:00:00:0b:07",
				PortIdSubtype: "interface_name", PortId: "eth0", TtlSeconds: 5},
		},
		{
			name: "IEEE 802.1 and 802.3 TLVs",
			frame: basicFrame(testSrcMAC, "Ethernet12", 120,
				org(ouiIEEE8021, dot1PortVLANID, 0x00, 0x64),
				org(ouiIEEE8021, dot1LinkAggregation, 0x03, 0x00, 0x00, 0x01, 0xf5),
				org(ouiIEEE8023, dot3MACPHY, 0x03, 0x6c, 0x01, 0x00, 0x1e),
				org(ouiIEEE8023, dot3MaxFrameSize, 0x23, 0x28),
			),
			want: &racktrackv1.LLDPNeighbor{ChassisIdSubtype: "mac_address", ChassisId: "02:00:00:00:0b:07",
				PortIdSubtype: "interface_name", PortId: "Ethernet12", TtlSeconds: 120,
				PortVlanId: 100, AggregationEnabled: true, AggregationPortId: 501,
				AutonegEnabled: true, MauType: 30, MaxFrameSize: 9000},
		},
		{
			name: "deprecated 802.3 link aggregation, capable but not aggregated",
			frame: basicFrame(testSrcMAC, "xe-0/0/1", 120,
				org(ouiIEEE8023, dot3LinkAggregation, 0x01, 0x00, 0x00, 0x00, 0x00)),
			want: &racktrackv1.LLDPNeighbor{ChassisIdSubtype: "mac_address", ChassisId: "02:00:00:00:0b:07",
				PortIdSubtype: "interface_name", PortId: "xe-0/0/1", TtlSeconds: 120},
		},
		{
			name: "capabilities, all bits",
			frame: basicFrame(testSrcMAC, "p1", 120,
				tlv(tlvCapabilities, u16(0xffff), u16(0x0014))),
			want: &racktrackv1.LLDPNeighbor{ChassisIdSubtype: "mac_address", ChassisId: "02:00:00:00:0b:07",
				PortIdSubtype: "interface_name", PortId: "p1", TtlSeconds: 120,
				Capabilities: []string{"other", "repeater", "bridge", "wlan_access_point", "router", "telephone",
					"docsis_cable_device", "station_only", "c_vlan_component", "s_vlan_component", "two_port_mac_relay",
					"bit_12", "bit_13", "bit_14", "bit_15", "bit_16"},
				EnabledCapabilities: []string{"bridge", "router"}},
		},
		{
			name: "management addresses: IPv6 with OID, 802 MAC, other family",
			frame: basicFrame(testSrcMAC, "p1", 120,
				tlv(tlvManagementAddr, bs(17, 2), mustHex(t, "20010db8000000000000000000000001"), bs(2), u32(7), bs(3, 1, 2, 3)),
				tlv(tlvManagementAddr, bs(7, 6), mustHex(t, "0a0b0c0d0e0f"), bs(1), u32(0), bs(0)),
				tlv(tlvManagementAddr, bs(3, 16, 0xab, 0xcd), bs(1), u32(0), bs(0)),
			),
			want: &racktrackv1.LLDPNeighbor{ChassisIdSubtype: "mac_address", ChassisId: "02:00:00:00:0b:07",
				PortIdSubtype: "interface_name", PortId: "p1", TtlSeconds: 120,
				ManagementAddresses: []string{"2001:db8::1", "0a:0b:0c:0d:0e:0f", "16:ab:cd"}},
		},
		{
			name: "unknown TLV types and organizations are counted and skipped",
			frame: basicFrame(testSrcMAC, "p1", 120,
				tlv(9, []byte("reserved")),
				tlv(126, nil),
				org([3]byte{0x00, 0x12, 0xbb}, 1, 0x00, 0x33, 0x04), // LLDP-MED capabilities
				org(ouiIEEE8021, 3, 0x00, 0x0a, 0x04, 't', 'e', 's', 't'),
				tlv(tlvSystemName, []byte("still-read")),
			),
			want: &racktrackv1.LLDPNeighbor{ChassisIdSubtype: "mac_address", ChassisId: "02:00:00:00:0b:07",
				PortIdSubtype: "interface_name", PortId: "p1", TtlSeconds: 120, SystemName: "still-read"},
			wantCounts: TLVCounts{Unrecognized: 4},
		},
		{
			name: "malformed optional TLVs are discarded, the rest is kept",
			frame: basicFrame(testSrcMAC, "p1", 120,
				tlv(tlvSystemName, []byte("first")),
				tlv(tlvSystemName, []byte("second")),                                 // repeated
				tlv(tlvPortDescription, bytes.Repeat([]byte("d"), 300)),              // over 255
				tlv(tlvCapabilities, u16(4)),                                         // 2 bytes, not 4
				tlv(tlvManagementAddr, bs(5, 1, 192, 0, 2, 1), bs(1), u32(0), bs(9)), // OID length past the end
				tlv(tlvManagementAddr, bs(4, 1, 192, 0, 2), bs(1), u32(0), bs(0)),    // IPv4 of 3 bytes
				tlv(tlvManagementAddr, bs(1, 1, 1)),                                  // too short
				org(ouiIEEE8021, dot1PortVLANID, 0x01),                               // 1 byte PVID
				org(ouiIEEE8023, dot3MaxFrameSize, 0x05, 0xee, 0x00),                 // 3 bytes
				org(ouiIEEE8023, dot3MACPHY, 0x03),                                   // short
				tlv(tlvOrgSpecific, bs(0x00, 0x80)),                                  // no subtype
				tlv(tlvSystemDesc, []byte("desc\x00\x00")),
			),
			want: &racktrackv1.LLDPNeighbor{ChassisIdSubtype: "mac_address", ChassisId: "02:00:00:00:0b:07",
				PortIdSubtype: "interface_name", PortId: "p1", TtlSeconds: 120,
				SystemName: "first", SystemDescription: "desc"},
			wantCounts: TLVCounts{Discarded: 10},
		},
		{
			name: "invalid UTF-8 text becomes valid UTF-8",
			frame: basicFrame(testSrcMAC, "p1", 120,
				tlv(tlvSystemName, []byte("sw\xff\xfe1"))),
			want: &racktrackv1.LLDPNeighbor{ChassisIdSubtype: "mac_address", ChassisId: "02:00:00:00:0b:07",
				PortIdSubtype: "interface_name", PortId: "p1", TtlSeconds: 120, SystemName: "sw\uFFFD1"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, counts, err := DecodeCounted(tc.frame)
			if err != nil {
				t.Fatalf("DecodeCounted: %v", err)
			}
			assertNeighbor(t, got, tc.want)
			if counts != tc.wantCounts {
				t.Errorf("counts = %+v, want %+v", counts, tc.wantCounts)
			}
		})
	}
}

func TestDecodeIDSubtypes(t *testing.T) {
	tests := []struct {
		name                 string
		chassis, port        []byte // subtype byte + value
		chassisType, portTyp string
		chassisID, portID    string
	}{
		{"chassis component / interface alias", bs(1, 'S', 'N', '1', '2'), bs(1, 'u', 'p', 'l', 'i', 'n', 'k'),
			"chassis_component", "interface_alias", "SN12", "uplink"},
		{"interface alias / port component", bs(2, 'b', 'o', 'n', 'd', '0'), bs(2, 'l', 'c', '1'),
			"interface_alias", "port_component", "bond0", "lc1"},
		{"port component / MAC", bs(3, 'p', 'c'), bs(3, 0xAA, 0xBB, 0xCC, 0x00, 0x11, 0x22),
			"port_component", "mac_address", "pc", "aa:bb:cc:00:11:22"},
		{"IPv4 network address / IPv6 network address", bs(5, 1, 10, 0, 0, 1),
			append(bs(4, 2), mustHex(t, "fe800000000000000000000000000001")...),
			"network_address", "network_address", "10.0.0.1", "fe80::1"},
		{"interface name / agent circuit ID binary", bs(6, 'e', 't', 'h', '0'), bs(6, 0x01, 0x04, 0x00, 0x00),
			"interface_name", "agent_circuit_id", "eth0", "01:04:00:00"},
		{"local / local", bs(7, 'c', 'h', '-', '1'), bs(7, '4', '2'),
			"local", "local", "ch-1", "42"},
		{"reserved subtypes shown as hex", bs(0, 0x41), bs(9, 0x42, 0x43),
			"reserved_0", "reserved_9", "41", "42:43"},
		{"non-printable local shown as hex", bs(7, 0x00, 0x01), bs(7, 'a', '\n'),
			"local", "local", "00:01", "61:0a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := lldpFrame(tlv(tlvChassisID, tc.chassis), tlv(tlvPortID, tc.port), ttl(30), end())
			got, err := Decode(f)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			assertNeighbor(t, got, &racktrackv1.LLDPNeighbor{
				ChassisIdSubtype: tc.chassisType, ChassisId: tc.chassisID,
				PortIdSubtype: tc.portTyp, PortId: tc.portID, TtlSeconds: 30,
			})
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	ok3 := [][]byte{chassisMAC(testSrcMAC), portName("p1"), ttl(120)}
	frame := func(tl ...[]byte) []byte { return lldpFrame(tl...) }
	tests := []struct {
		name       string
		frame      []byte
		want       error
		wantPart   string
		wantOffset int
	}{
		{"empty", nil, ErrTruncated, "ethernet header", 0},
		{"13 bytes", make([]byte, 13), ErrTruncated, "ethernet header", 0},
		{"IPv4 EtherType", ethFrame(0x0800, make([]byte, 46)), ErrNotLLDP, "ethernet header", 12},
		{"tagged IPv6 EtherType", append(append(append([]byte{}, Multicast...), testSrcMAC...), 0x81, 0x00, 0x00, 0x01, 0x86, 0xdd),
			ErrNotLLDP, "ethernet header", 16},
		{"bad 802.1Q tag", append(append(append([]byte{}, Multicast...), testSrcMAC...), 0x81, 0x00, 0x0f, 0xff, 0x88, 0xcc),
			ErrInvalidFrame, "ethernet header", 0},
		{"no LLDPDU", ethFrame(0x88cc), ErrTruncated, "LLDPDU", 14},
		{"no End TLV", ethFrame(0x88cc, ok3...), ErrTruncated, "LLDPDU", 14 + 9 + 5 + 4},
		{"TLV longer than frame", ethFrame(0x88cc, chassisMAC(testSrcMAC), rawTLV(tlvPortID, 200, bs(5, 'p'))),
			ErrTruncated, "port ID TLV", 23},
		{"half a TLV header", ethFrame(0x88cc, chassisMAC(testSrcMAC), bs(0x04)), ErrTruncated, "LLDPDU", 23},
		{"port ID first", frame(portName("p1"), chassisMAC(testSrcMAC), ttl(1), end()), ErrInvalidFrame, "port ID TLV", 14},
		{"TTL missing", frame(chassisMAC(testSrcMAC), portName("p1"), end()), ErrInvalidFrame, "End of LLDPDU TLV", 28},
		{"only End", frame(end()), ErrInvalidFrame, "End of LLDPDU TLV", 14},
		{"repeated chassis ID", frame(append(ok3, chassisMAC(testSrcMAC), end())...), ErrInvalidFrame, "chassis ID TLV", 32},
		{"repeated TTL", frame(append(ok3, ttl(5), end())...), ErrInvalidFrame, "TTL TLV", 32},
		{"TTL of 3 bytes", frame(chassisMAC(testSrcMAC), portName("p1"), tlv(tlvTTL, bs(0, 0, 1)), end()), ErrInvalidTLV, "TTL TLV", 28},
		{"empty chassis ID", frame(tlv(tlvChassisID, bs(4)), portName("p1"), ttl(1), end()), ErrInvalidTLV, "chassis ID TLV", 14},
		{"empty port ID TLV", frame(chassisMAC(testSrcMAC), tlv(tlvPortID), ttl(1), end()), ErrInvalidTLV, "port ID TLV", 23},
		{"chassis ID of 300 bytes", frame(tlv(tlvChassisID, bs(7), bytes.Repeat([]byte("x"), 299)), portName("p1"), ttl(1), end()),
			ErrOversizedTLV, "chassis ID TLV", 14},
		{"port ID of 511 bytes", frame(chassisMAC(testSrcMAC), tlv(tlvPortID, bs(7), bytes.Repeat([]byte("x"), 510)), ttl(1), end()),
			ErrOversizedTLV, "port ID TLV", 23},
		{"IPv4 chassis address of 3 bytes", frame(tlv(tlvChassisID, bs(5, 1, 10, 0, 0)), portName("p1"), ttl(1), end()),
			ErrInvalidTLV, "chassis ID TLV", 14},
		{"IPv6 port address of 4 bytes", frame(chassisMAC(testSrcMAC), tlv(tlvPortID, bs(4, 2, 1, 2, 3, 4)), ttl(1), end()),
			ErrInvalidTLV, "port ID TLV", 23},
		{"network address without address", frame(chassisMAC(testSrcMAC), tlv(tlvPortID, bs(4, 1)), ttl(1), end()),
			ErrInvalidTLV, "port ID TLV", 23},
		{"End with a length", frame(append(ok3, rawTLV(tlvEnd, 2, bs(0, 0)))...), ErrInvalidTLV, "End of LLDPDU TLV", 32},
	}
	sentinels := []error{ErrTruncated, ErrNotLLDP, ErrInvalidFrame, ErrInvalidTLV, ErrOversizedTLV}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Decode(tc.frame)
			if n != nil {
				t.Errorf("neighbour %v returned with error", n)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			for _, s := range sentinels {
				if s != tc.want && errors.Is(err, s) {
					t.Errorf("err %v also matches %v", err, s)
				}
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("err %T is not a *DecodeError", err)
			}
			if de.Part != tc.wantPart || de.Offset != tc.wantOffset {
				t.Errorf("part %q at %d, want %q at %d (%v)", de.Part, de.Offset, tc.wantPart, tc.wantOffset, err)
			}
			if !strings.HasPrefix(err.Error(), "lldp decode: "+tc.wantPart) {
				t.Errorf("message %q does not name the part", err)
			}
			if got := dropReason(err); got == "" {
				t.Errorf("no drop reason for %v", err)
			}
		})
	}
}

func TestDropReason(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&DecodeError{Err: ErrTruncated}, ReasonTruncated},
		{&DecodeError{Err: ErrNotLLDP}, ReasonWrongEtherType},
		{&DecodeError{Err: ErrInvalidFrame}, ReasonInvalidFrame},
		{&DecodeError{Err: ErrInvalidTLV}, ReasonInvalidTLV},
		{&DecodeError{Err: ErrOversizedTLV}, ReasonOversizedTLV},
	} {
		if got := dropReason(tc.err); got != tc.want {
			t.Errorf("dropReason(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// TestTransmitFrameDecodes checks that what the agent sends reads back
// through its own decoder.
func TestTransmitFrameDecodes(t *testing.T) {
	a := advert{
		Source: testSrcMAC, Chassis: testSrcMAC, Port: "eno1",
		TTL: txTTL(30 * time.Second), SystemName: "rack7-host3", SystemDesc: "racktrack-agent",
	}
	a.Management = netip.MustParseAddr("2001:db8::7")
	for _, tc := range []struct {
		shutdown bool
		want     *racktrackv1.LLDPNeighbor
	}{
		{false, &racktrackv1.LLDPNeighbor{ChassisIdSubtype: "mac_address", ChassisId: "02:00:00:00:0b:07",
			PortIdSubtype: "interface_name", PortId: "eno1", PortDescription: "eno1", TtlSeconds: 121,
			SystemName: "rack7-host3", SystemDescription: "racktrack-agent",
			Capabilities: []string{"station_only"}, EnabledCapabilities: []string{"station_only"},
			ManagementAddresses: []string{"2001:db8::7"}}},
		{true, &racktrackv1.LLDPNeighbor{ChassisIdSubtype: "mac_address", ChassisId: "02:00:00:00:0b:07",
			PortIdSubtype: "interface_name", PortId: "eno1"}},
	} {
		b, err := a.marshal(tc.shutdown)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		if len(b) < 60 {
			t.Errorf("frame of %d bytes, want Ethernet minimum 60", len(b))
		}
		got, counts, err := DecodeCounted(b)
		if err != nil {
			t.Fatalf("decode own frame: %v", err)
		}
		assertNeighbor(t, got, tc.want)
		if counts != (TLVCounts{}) {
			t.Errorf("counts %+v", counts)
		}
	}
	if got := txTTL(3 * time.Hour); got.Seconds() != 43201 {
		t.Errorf("txTTL(3h) = %v", got)
	}
	if got := txTTL(10000 * time.Hour); got.Seconds() != 65535 {
		t.Errorf("txTTL capped = %v", got)
	}
}
