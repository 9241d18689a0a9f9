package lldp

import (
	"encoding/binary"
	"encoding/hex"
	"net"
	"strings"
	"testing"
)

// Frames for tests, built byte by byte so the bytes on the wire are
// explicit.

// lldpdFrameHex is a frame Debian's lldpd 1.0.16 sent on a veth
// (hostname sw-far, description "test switch", tx-interval 1, tx-hold 3,
// portidsubtype ifname, addresses 192.0.2.2/24 and link-local IPv6).
const lldpdFrameHex = "0180c200000e020000000b0788cc020704020000000b0704050573777037060200030a0673772d6661720c0b7465737420737769746368" +
	"0e04009c0080100c0501c000020202000000020010181102fe80000000000000000000fffe000b07020000000200080473777037" +
	"fe0900120f030100000000fe0900120f0100800000360000"

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex: %v", err)
	}
	return b
}

var (
	testSrcMAC = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x0b, 0x07}
)

// tlv encodes one TLV; the 9-bit length is taken from len(val), masked, so
// tests can also build inconsistent TLVs with rawTLV.
func tlv(typ uint8, val ...[]byte) []byte {
	var v []byte
	for _, p := range val {
		v = append(v, p...)
	}
	return rawTLV(typ, len(v), v)
}

func rawTLV(typ uint8, length int, val []byte) []byte {
	b := make([]byte, 2, 2+len(val))
	binary.BigEndian.PutUint16(b, uint16(typ)<<9|uint16(length)&0x1ff)
	return append(b, val...)
}

func bs(b ...byte) []byte { return b }

func u16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// chassisMAC, portName and ttl build the three mandatory TLVs.
func chassisMAC(mac net.HardwareAddr) []byte { return tlv(tlvChassisID, bs(4), mac) }

func portName(name string) []byte { return tlv(tlvPortID, bs(5), []byte(name)) }

func ttl(s uint16) []byte { return tlv(tlvTTL, u16(s)) }

func end() []byte { return bs(0, 0) }

// ethFrame wraps payload in an Ethernet header to the LLDP group address.
func ethFrame(etherType uint16, payload ...[]byte) []byte {
	b := append([]byte{}, Multicast...)
	b = append(b, testSrcMAC...)
	b = binary.BigEndian.AppendUint16(b, etherType)
	for _, p := range payload {
		b = append(b, p...)
	}
	return b
}

// lldpFrame is an LLDP Ethernet frame of the given TLVs, padded to the
// Ethernet minimum of 60 bytes like a NIC would.
func lldpFrame(tlvs ...[]byte) []byte {
	b := ethFrame(0x88cc, tlvs...)
	for len(b) < 60 {
		b = append(b, 0)
	}
	return b
}

// org builds an organizationally specific TLV.
func org(oui [3]byte, sub byte, info ...byte) []byte {
	return tlv(tlvOrgSpecific, oui[:], bs(sub), info)
}

// basicFrame is a minimal valid frame with a chassis MAC and port name.
func basicFrame(mac net.HardwareAddr, port string, ttlSeconds uint16, extra ...[]byte) []byte {
	tl := [][]byte{chassisMAC(mac), portName(port), ttl(ttlSeconds)}
	tl = append(tl, extra...)
	tl = append(tl, end())
	return lldpFrame(tl...)
}
