package lldp

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/lldp"
)

// Multicast is the nearest-bridge group address LLDPDUs are sent to and
// listened for (IEEE 802.1AB 7.1).
var Multicast = net.HardwareAddr{0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e}

// txHold is msgTxHold of IEEE 802.1AB: the TTL sent is this many transmit
// intervals (plus one second, 802.1AB-2009 9.2.5.22).
const txHold = 4

// capStationOnly is the "station only" system capability bit.
const capStationOnly = 0x0080

// advert is what the agent says about its host on one interface.
type advert struct {
	Source     net.HardwareAddr // the interface's own address
	Chassis    net.HardwareAddr // chassis ID, the same on every interface
	Port       string           // interface name, sent as port ID and description
	TTL        time.Duration
	SystemName string
	SystemDesc string
	Management netip.Addr // zero: none sent
}

// txTTL is the TTL to advertise for a transmit interval.
func txTTL(interval time.Duration) time.Duration {
	s := int64(interval/time.Second)*txHold + 1
	if s > 0xffff {
		s = 0xffff
	}
	return time.Duration(s) * time.Second
}

// marshal builds the Ethernet frame carrying the LLDPDU. A shutdown LLDPDU
// carries the mandatory TLVs only, with TTL 0 (802.1AB 9.2.7.3).
func (a advert) marshal(shutdown bool) ([]byte, error) {
	f := lldp.Frame{
		ChassisID: &lldp.ChassisID{Subtype: lldp.ChassisIDSubtypeMACAddress, ID: a.Chassis},
		PortID:    &lldp.PortID{Subtype: lldp.PortIDSubtypeInterfaceName, ID: []byte(a.Port)},
		TTL:       a.TTL,
	}
	if shutdown {
		f.TTL = 0
	} else {
		text := func(t lldp.TLVType, s string) *lldp.TLV {
			return &lldp.TLV{Type: t, Length: uint16(len(s)), Value: []byte(s)}
		}
		caps := make([]byte, 4)
		binary.BigEndian.PutUint16(caps[0:2], capStationOnly)
		binary.BigEndian.PutUint16(caps[2:4], capStationOnly)
		f.Optional = append(f.Optional,
			text(lldp.TLVTypePortDescription, a.Port),
			text(lldp.TLVTypeSystemName, a.SystemName),
			text(lldp.TLVTypeSystemDescription, a.SystemDesc),
			&lldp.TLV{Type: lldp.TLVTypeSystemCapabilities, Length: 4, Value: caps},
		)
		if a.Management.IsValid() {
			f.Optional = append(f.Optional, managementTLV(a.Management))
		}
	}
	pdu, err := f.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("marshal LLDPDU: %w", err)
	}
	ef := ethernet.Frame{Destination: Multicast, Source: a.Source, EtherType: lldp.EtherType, Payload: pdu}
	return ef.MarshalBinary()
}

// managementTLV encodes a management address TLV (802.1AB 8.5.9) with an
// unknown interface numbering and no OID.
func managementTLV(addr netip.Addr) *lldp.TLV {
	addr = addr.Unmap()
	fam := byte(familyIPv6)
	if addr.Is4() {
		fam = familyIPv4
	}
	raw := addr.AsSlice()
	v := make([]byte, 0, 1+1+len(raw)+1+4+1)
	v = append(v, byte(1+len(raw)), fam)
	v = append(v, raw...)
	v = append(v, 1, 0, 0, 0, 0, 0) // numbering "unknown", number 0, OID length 0
	return &lldp.TLV{Type: lldp.TLVTypeManagementAddress, Length: uint16(len(v)), Value: v}
}
