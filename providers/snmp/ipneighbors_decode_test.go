package snmp

import (
	"bytes"
	"encoding/binary"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

func TestDecodeIPNeighborIndexes(t *testing.T) {
	v6 := func(head []uint32, addr string, zone ...uint32) []uint32 {
		a := netip.MustParseAddr(addr).As16()
		out := append([]uint32{}, head...)
		for _, b := range a {
			out = append(out, uint32(b))
		}
		for _, z := range zone {
			var zb [4]byte
			binary.BigEndian.PutUint32(zb[:], z)
			for _, b := range zb {
				out = append(out, uint32(b))
			}
		}
		return out
	}
	cases := []struct {
		name    string
		media   bool
		idx     []uint32
		ifIndex int32
		addr    string
		err     string
	}{
		{name: "ipv4", idx: []uint32{10001, 1, 4, 192, 0, 2, 10}, ifIndex: 10001, addr: "192.0.2.10"},
		{name: "ipv6 global", idx: v6([]uint32{5, 2, 16}, "2001:db8::10"), ifIndex: 5, addr: "2001:db8::10"},
		{name: "ipv6 link-local without zone (net-snmp)", idx: v6([]uint32{3, 2, 16}, "fe80::5eff:fe00:5307"), ifIndex: 3, addr: "fe80::5eff:fe00:5307"},
		{name: "ipv6 with scope (RFC 2851)", idx: v6([]uint32{3, 2, 20}, "fe80::1", 3), ifIndex: 3, addr: "fe80::1%3"},
		{name: "ipv6z", idx: v6([]uint32{3, 4, 20}, "fe80::1", 3), ifIndex: 3, addr: "fe80::1%3"},
		{name: "ipv6z default zone", idx: v6([]uint32{3, 4, 20}, "fe80::1", 0), ifIndex: 3, addr: "fe80::1%0"},
		{name: "ipv6z large zone", idx: v6([]uint32{3, 4, 20}, "fe80::1", math.MaxUint32), ifIndex: 3, addr: "fe80::1%4294967295"},
		{name: "ipv4z", idx: []uint32{7, 3, 8, 10, 1, 0, 1, 0, 0, 0, 7}, ifIndex: 7, addr: "10.1.0.1%7"},
		{name: "ipv4-mapped ipv6", idx: v6([]uint32{1, 2, 16}, "::ffff:192.0.2.1"), ifIndex: 1, addr: "::ffff:192.0.2.1"},
		{name: "largest ifIndex", idx: []uint32{math.MaxInt32, 1, 4, 10, 0, 0, 1}, ifIndex: math.MaxInt32, addr: "10.0.0.1"},
		{name: "ifIndex 0", idx: []uint32{0, 1, 4, 10, 0, 0, 1}, ifIndex: 0, addr: "10.0.0.1"},

		{name: "empty", idx: nil, err: "ipNetToPhysicalTable index : want ifIndex.addressType.length.address"},
		{name: "no length", idx: []uint32{1, 1}, err: "ipNetToPhysicalTable index .1.1: want ifIndex.addressType.length.address"},
		{name: "ifIndex out of range", idx: []uint32{1 << 31, 1, 4, 10, 0, 0, 1}, err: "ipNetToPhysicalTable index .2147483648.1.4.10.0.0.1: ifIndex 2147483648 out of range"},
		{name: "truncated address", idx: []uint32{1, 1, 4, 10, 0, 0}, err: "ipNetToPhysicalTable index .1.1.4.10.0.0: address length 4, have 3 octets"},
		{name: "extra octets", idx: []uint32{1, 1, 3, 10, 0, 0, 1}, err: "ipNetToPhysicalTable index .1.1.3.10.0.0.1: address length 3, have 4 octets"},
		{name: "huge length", idx: []uint32{1, 1, math.MaxUint32, 10}, err: "ipNetToPhysicalTable index .1.1.4294967295.10: address length 4294967295, have 1 octets"},
		{name: "octet above 255", idx: []uint32{1, 1, 4, 10, 0, 0, 256}, err: "ipNetToPhysicalTable index .1.1.4.10.0.0.256: octet 4 is 256"},
		{name: "ipv4 with 16 octets", idx: v6([]uint32{1, 1, 16}, "2001:db8::1"), err: "ipNetToPhysicalTable index .1.1.16.32.1.13.184.0.0.0.0.0.0.0.0.0.0.0.1: 16 octets for address type 1"},
		{name: "ipv6z without zone", idx: v6([]uint32{1, 4, 16}, "fe80::1"), err: "ipNetToPhysicalTable index .1.4.16.254.128.0.0.0.0.0.0.0.0.0.0.0.0.0.1: 16 octets for address type 4"},
		{name: "dns name", idx: []uint32{1, 16, 1, 97}, err: "ipNetToPhysicalTable index .1.16.1.97: address type 16 is not IPv4 or IPv6"},
		{name: "unknown type", idx: []uint32{1, 0, 0}, err: "ipNetToPhysicalTable index .1.0.0: address type 0 is not IPv4 or IPv6"},

		{name: "media ipv4", media: true, idx: []uint32{60, 10, 204, 88, 1}, ifIndex: 60, addr: "10.204.88.1"},
		{name: "media short", media: true, idx: []uint32{60, 10, 204, 88}, err: "ipNetToMediaTable index .60.10.204.88: want ifIndex.a.b.c.d"},
		{name: "media long", media: true, idx: []uint32{60, 1, 4, 10, 204, 88, 1}, err: "ipNetToMediaTable index .60.1.4.10.204.88.1: want ifIndex.a.b.c.d"},
		{name: "media octet above 255", media: true, idx: []uint32{60, 10, 204, 300, 1}, err: "ipNetToMediaTable index .60.10.204.300.1: octet 3 is 300"},
		{name: "media ifIndex out of range", media: true, idx: []uint32{math.MaxUint32, 10, 0, 0, 1}, err: "ipNetToMediaTable index .4294967295.10.0.0.1: ifIndex 4294967295 out of range"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			decode := decodeIPNetToPhysicalIndex
			if tc.media {
				decode = decodeIPNetToMediaIndex
			}
			ifIndex, addr, err := decode(tc.idx)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err || ifIndex != 0 || addr != "" {
					t.Errorf("= %d %q %v, want error %q", ifIndex, addr, err, tc.err)
				}
				return
			}
			if err != nil || ifIndex != tc.ifIndex || addr != tc.addr {
				t.Errorf("= %d %q %v, want %d %q", ifIndex, addr, err, tc.ifIndex, tc.addr)
			}
		})
	}
}

func TestIPNeighborTypeNames(t *testing.T) {
	for n, want := range map[int64]string{1: "other", 2: "invalid", 3: "dynamic", 4: "static", 5: "local", 0: "type0", 9: "type9", -1: "type-1"} {
		if got := ipNeighborType(n); got != want {
			t.Errorf("ipNeighborType(%d) = %q, want %q", n, got, want)
		}
	}
}

// addressOctets turns decoded address text back into index octets: the
// address, then the zone index where the text has one.
func addressOctets(t *testing.T, text string, v4 bool) []byte {
	t.Helper()
	host, zone, zoned := strings.Cut(text, "%")
	a, err := netip.ParseAddr(host)
	if err != nil {
		t.Fatalf("decoded address %q does not parse: %v", text, err)
	}
	var out []byte
	if v4 {
		if !a.Is4() {
			t.Fatalf("decoded address %q is not IPv4", text)
		}
		b := a.As4()
		out = b[:]
	} else {
		b := a.As16()
		out = b[:]
	}
	if zoned {
		z, err := strconv.ParseUint(zone, 10, 32)
		if err != nil {
			t.Fatalf("zone of %q: %v", text, err)
		}
		out = binary.BigEndian.AppendUint32(out, uint32(z))
	}
	return out
}

// FuzzIPNeighborIndex feeds agent-supplied table indexes to both index
// decoders: none may panic, and whatever decodes must encode back to the
// very index it came from.
func FuzzIPNeighborIndex(f *testing.F) {
	f.Add(uint32(10001), uint32(1), uint32(4), []byte{192, 0, 2, 10}, uint32(0))
	f.Add(uint32(5), uint32(2), uint32(16), []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}, uint32(0))
	f.Add(uint32(3), uint32(4), uint32(20), []byte{0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 3}, uint32(0))
	f.Add(uint32(7), uint32(3), uint32(8), []byte{10, 1, 0, 1, 0, 0, 0, 7}, uint32(0))
	f.Add(uint32(1<<31), uint32(1), uint32(4), []byte{10, 0, 0, 1}, uint32(0))
	f.Add(uint32(1), uint32(1), uint32(4), []byte{10, 0, 0}, uint32(256))
	f.Add(uint32(1), uint32(16), uint32(1), []byte("a"), uint32(0))
	f.Fuzz(func(t *testing.T, ifIndex, typ, length uint32, octets []byte, wide uint32) {
		// wide, when not zero, replaces one octet by a sub-identifier
		// that no octet can have.
		sub := make([]uint32, len(octets))
		for i, b := range octets {
			sub[i] = uint32(b)
		}
		widened := wide != 0 && len(sub) > 0
		if widened {
			sub[int(wide%uint32(len(sub)))] = 255 + wide%1000 + 1
		}
		phys := append([]uint32{ifIndex, typ, length}, sub...)
		if i, addr, err := decodeIPNetToPhysicalIndex(phys); err == nil {
			if int64(i) != int64(ifIndex) || uint64(length) != uint64(len(octets)) || widened {
				t.Fatalf("%v decoded to %d %q", phys, i, addr)
			}
			if back := addressOctets(t, addr, typ == 1 || typ == 3); !bytes.Equal(back, octets) {
				t.Fatalf("%v decoded to %q, which encodes as %v", phys, addr, back)
			}
		} else if i != 0 || addr != "" {
			t.Fatalf("%v: error %v with values %d %q", phys, err, i, addr)
		}
		media := append([]uint32{ifIndex}, sub...)
		if i, addr, err := decodeIPNetToMediaIndex(media); err == nil {
			if int64(i) != int64(ifIndex) || len(octets) != 4 || widened {
				t.Fatalf("%v decoded to %d %q", media, i, addr)
			}
			if back := addressOctets(t, addr, true); !bytes.Equal(back, octets) {
				t.Fatalf("%v decoded to %q, which encodes as %v", media, addr, back)
			}
		}
	})
}
