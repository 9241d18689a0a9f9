package snmp

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strconv"

	"github.com/gosnmp/gosnmp"
	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
)

// IP-MIB address translation tables (RFC 4293). ipNetToPhysicalTable is
// indexed by ifIndex, InetAddressType and the length-prefixed address, and
// holds IPv4 and IPv6 neighbours; the deprecated ipNetToMediaTable is
// indexed by ifIndex and an IPv4 address, and is read only from agents
// whose ipNetToPhysicalTable is empty.
const (
	oidIPNetToPhysicalEntry = ".1.3.6.1.2.1.4.35.1" // IP-MIB ipNetToPhysicalEntry
	oidIPNetToMediaEntry    = ".1.3.6.1.2.1.4.22.1" // IP-MIB ipNetToMediaEntry (deprecated)

	colIPNetToPhysicalPhysAddress = oidIPNetToPhysicalEntry + ".4"
	colIPNetToPhysicalType        = oidIPNetToPhysicalEntry + ".6"
	colIPNetToMediaPhysAddress    = oidIPNetToMediaEntry + ".2"
	colIPNetToMediaType           = oidIPNetToMediaEntry + ".4"
)

// ipNeighborTable names the neighbour tables in incomplete lists and in
// target status operations.
const ipNeighborTable = "ip-neighbors"

// The columns read: the address lives in the index, so the physical
// address and the mapping type are all a row needs.
var (
	ipNetToPhysicalRoots = []string{colIPNetToPhysicalPhysAddress, colIPNetToPhysicalType}
	ipNetToMediaRoots    = []string{colIPNetToMediaPhysAddress, colIPNetToMediaType}
)

// ipNeighborTypeNames are the ipNetToPhysicalType values (ipNetToMediaType
// has the first four).
var ipNeighborTypeNames = map[int64]string{1: "other", 2: "invalid", 3: "dynamic", 4: "static", 5: "local"}

func ipNeighborType(n int64) string {
	if s, ok := ipNeighborTypeNames[n]; ok {
		return s
	}
	return "type" + strconv.FormatInt(n, 10)
}

// decodeIPNetToPhysicalIndex splits an ipNetToPhysicalTable index:
// ifIndex, InetAddressType, then the address as a length and that many
// octets (INET-ADDRESS-MIB, RFC 4001). It returns the address in text
// form, with "%zone" for the zoned types.
func decodeIPNetToPhysicalIndex(idx []uint32) (int32, string, error) {
	if len(idx) < 3 {
		return 0, "", fmt.Errorf("ipNetToPhysicalTable index %s: want ifIndex.addressType.length.address", oidString(idx))
	}
	if idx[0] > math.MaxInt32 {
		return 0, "", fmt.Errorf("ipNetToPhysicalTable index %s: ifIndex %d out of range", oidString(idx), idx[0])
	}
	if n := idx[2]; uint64(n) != uint64(len(idx)-3) {
		return 0, "", fmt.Errorf("ipNetToPhysicalTable index %s: address length %d, have %d octets", oidString(idx), n, len(idx)-3)
	}
	b, err := indexOctets(idx[3:])
	if err != nil {
		return 0, "", fmt.Errorf("ipNetToPhysicalTable index %s: %w", oidString(idx), err)
	}
	a, err := inetAddress(idx[1], b)
	if err != nil {
		return 0, "", fmt.Errorf("ipNetToPhysicalTable index %s: %w", oidString(idx), err)
	}
	return int32(idx[0]), a, nil
}

// decodeIPNetToMediaIndex splits an ipNetToMediaTable index: ifIndex and
// the four octets of an IPv4 address.
func decodeIPNetToMediaIndex(idx []uint32) (int32, string, error) {
	if len(idx) != 5 {
		return 0, "", fmt.Errorf("ipNetToMediaTable index %s: want ifIndex.a.b.c.d", oidString(idx))
	}
	if idx[0] > math.MaxInt32 {
		return 0, "", fmt.Errorf("ipNetToMediaTable index %s: ifIndex %d out of range", oidString(idx), idx[0])
	}
	b, err := indexOctets(idx[1:])
	if err != nil {
		return 0, "", fmt.Errorf("ipNetToMediaTable index %s: %w", oidString(idx), err)
	}
	return int32(idx[0]), netip.AddrFrom4([4]byte(b)).String(), nil
}

// indexOctets turns index sub-identifiers that encode an OCTET STRING
// into bytes.
func indexOctets(idx []uint32) ([]byte, error) {
	b := make([]byte, len(idx))
	for i, x := range idx {
		if x > 255 {
			return nil, fmt.Errorf("octet %d is %d", i+1, x)
		}
		b[i] = byte(x)
	}
	return b, nil
}

// inetAddress renders an InetAddress of the given InetAddressType:
// ipv4(1) 4 octets, ipv6(2) 16 octets (or 20 with a scope identifier, as
// RFC 2851 allowed), ipv4z(3) 8 octets and ipv6z(4) 20 octets, the last
// four octets being the zone index in network byte order.
func inetAddress(typ uint32, b []byte) (string, error) {
	zone := func() string { return "%" + strconv.FormatUint(uint64(binary.BigEndian.Uint32(b[len(b)-4:])), 10) }
	switch {
	case typ == 1 && len(b) == 4:
		return netip.AddrFrom4([4]byte(b)).String(), nil
	case typ == 2 && len(b) == 16:
		return netip.AddrFrom16([16]byte(b)).String(), nil
	case (typ == 2 || typ == 4) && len(b) == 20:
		return netip.AddrFrom16([16]byte(b[:16])).String() + zone(), nil
	case typ == 3 && len(b) == 8:
		return netip.AddrFrom4([4]byte(b[:4])).String() + zone(), nil
	case typ >= 1 && typ <= 4:
		return "", fmt.Errorf("%d octets for address type %d", len(b), typ)
	}
	return "", fmt.Errorf("address type %d is not IPv4 or IPv6", typ)
}

// ipNeighbors builds the neighbour table from ipNetToPhysicalTable, or
// from ipNetToMediaTable when media is set, in index order (ifIndex,
// address type, address). ifNames maps ifIndex to the port name.
func (pl *poll) ipNeighbors(cs colSet, ifNames map[int32]string, media bool, pr *problems) []*racktrackv1.IPNeighbor {
	physRoot, typeRoot := colIPNetToPhysicalPhysAddress, colIPNetToPhysicalType
	decode := decodeIPNetToPhysicalIndex
	if media {
		physRoot, typeRoot = colIPNetToMediaPhysAddress, colIPNetToMediaType
		decode = decodeIPNetToMediaIndex
	}
	type row struct {
		index string // sub-identifiers after the column, for ordering
		n     *racktrackv1.IPNeighbor
	}
	rows := map[string]*row{}
	entry := func(idx []uint32, name string) (*racktrackv1.IPNeighbor, error) {
		k := oidString(idx)
		if r := rows[k]; r != nil {
			return r.n, nil
		}
		ifIndex, addr, err := decode(idx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		n := &racktrackv1.IPNeighbor{IfIndex: ifIndex, PortName: ifNames[ifIndex], IpAddress: addr}
		rows[k] = &row{k, n}
		return n, nil
	}
	cs.each(physRoot, pr, func(idx []uint32, v gosnmp.SnmpPDU) error {
		n, err := entry(idx, v.Name)
		if err != nil {
			return err
		}
		b, err := asBytes(v)
		if err != nil {
			return err
		}
		n.MacAddress = formatMAC(b)
		return nil
	})
	cs.each(typeRoot, pr, func(idx []uint32, v gosnmp.SnmpPDU) error {
		n, err := entry(idx, v.Name)
		if err != nil {
			return err
		}
		t, err := asInt(v)
		if err != nil {
			return err
		}
		n.State = ipNeighborType(t)
		return nil
	})
	ordered := make([]*row, 0, len(rows))
	for _, r := range rows {
		ordered = append(ordered, r)
	}
	sort.Slice(ordered, func(i, j int) bool { return compareOID(ordered[i].index, ordered[j].index) < 0 })
	out := make([]*racktrackv1.IPNeighbor, len(ordered))
	for i, r := range ordered {
		out[i] = r.n
	}
	return out
}
