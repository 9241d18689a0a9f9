package lldp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"testing"

	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
)

// TestBadInputOnTheWire injects malformed, unknown, oversized and
// wrong-EtherType frames and then a flood into a listening provider over a
// real veth: every frame is counted under its reason, nothing panics, the
// table stays bounded.
func TestBadInputOnTheWire(t *testing.T) {
	t.Parallel()
	l := newLink(t)
	for _, e := range []struct{ ns, name string }{{"near", "near0"}, {"far", "swp7"}} {
		ns := l.near
		if e.ns == "far" {
			ns = l.far
		}
		ns.IP(t, "link", "set", e.name, "mtu", "9500") // room for an oversized frame
	}
	cfg := testConfig(l.near, "near0")
	cfg.RateLimit = 100000
	cfg.MaxNeighbors = 4
	p, _ := startProvider(t, cfg)
	waitListening(t, p)
	send := sender(t, l.far, "swp7")

	const k = 3
	cases := []struct {
		name   string
		frame  []byte
		reason string // "" when the kernel never delivers it
	}{
		{"truncated TLV", ethFrame(0x88cc, chassisMAC(farMAC), rawTLV(tlvPortID, 100, bs(5, 'p'))), ReasonTruncated},
		{"no End TLV", ethFrame(0x88cc, chassisMAC(farMAC), portName("p1"), ttl(1)), ReasonTruncated},
		{"header only", ethFrame(0x88cc), ReasonTruncated},
		{"port ID first", lldpFrame(portName("p1"), chassisMAC(farMAC), ttl(1), end()), ReasonInvalidFrame},
		{"TTL of 3 bytes", lldpFrame(chassisMAC(farMAC), portName("p1"), tlv(tlvTTL, bs(0, 0, 9)), end()), ReasonInvalidTLV},
		{"chassis ID of 400 bytes", lldpFrame(tlv(tlvChassisID, bs(7), bytes.Repeat([]byte{'c'}, 399)), portName("p1"), ttl(1), end()), ReasonOversizedTLV},
		{"9300-byte frame", append(basicFrame(farMAC, "big", 120), make([]byte, 9300)...), ReasonOversizedFrame},
		{"IPv4 EtherType to the LLDP group", ethFrame(0x0800, make([]byte, 46)), ""},
		{"EtherType 0x88cd", ethFrame(0x88cd, basicFrame(farMAC, "p1", 120)[14:]), ""},
	}
	wantDropped := map[string]float64{}
	delivered := 0
	for _, c := range cases {
		for range k {
			send(c.frame)
		}
		if c.reason != "" {
			wantDropped[c.reason] += k
			delivered += k
		}
	}
	// Accepted, with two unknown TLVs skipped per frame.
	unknown := basicFrame(net.HardwareAddr{0x02, 0xee, 0, 0, 0, 1}, "p1", 120,
		tlv(100, []byte("future")), org([3]byte{0x00, 0x00, 0x0c}, 1, 0xca, 0xfe))
	send(unknown)
	delivered++
	// Frames are read in order on one socket: once the marker is in the
	// table, everything sent before it has been counted.
	send(basicFrame(net.HardwareAddr{0x02, 0xee, 0, 0, 0, 2}, "marker", 120))
	delivered++
	waitTable(t, p, "marker", func(ns []*racktrackv1.LLDPNeighbor) bool {
		return len(ns) == 2 && ns[1].PortId == "marker"
	})
	if got := counter(p.m.received.WithLabelValues("near0")); got != float64(delivered) {
		t.Errorf("received %v, want %d", got, delivered)
	}
	for _, reason := range []string{ReasonTruncated, ReasonWrongEtherType, ReasonInvalidFrame, ReasonInvalidTLV,
		ReasonOversizedTLV, ReasonOversizedFrame, ReasonRateLimited, ReasonTableFull} {
		if got := counter(p.m.dropped.WithLabelValues("near0", reason)); got != wantDropped[reason] {
			t.Errorf("dropped %s: %v, want %v", reason, got, wantDropped[reason])
		}
	}
	if got := counter(p.m.tlvsSkipped.WithLabelValues("near0", "unrecognized")); got != 2 {
		t.Errorf("unrecognized TLVs %v, want 2", got)
	}

	// Flood: 3000 frames from distinct chassis as fast as the sender can.
	// A second provider with a low rate limit listens alongside.
	cfgB := cfg
	cfgB.RateLimit = 50
	pb, _ := startProvider(t, cfgB)
	waitListening(t, pb)
	const flood = 3000
	for i := range flood {
		mac := net.HardwareAddr{0x02, 0xf1, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(mac[2:], uint32(i))
		send(basicFrame(mac, "flood", 120))
	}
	// Every frame is read or dropped by the kernel for a full socket
	// buffer; the kernel's count is collected at each rescan.
	seen := func(q *Provider) float64 {
		return counter(q.m.received.WithLabelValues("near0")) + counter(q.m.dropped.WithLabelValues("near0", ReasonSocketOverflow))
	}
	waitFor(t, "flood accounted for", func() bool { return seen(pb) == flood && seen(p) == flood+float64(delivered) },
		func() string { return fmtCounts(pb.m, p.m) })

	t.Logf("after the flood: %s", fmtCounts(pb.m, p.m))
	received := counter(pb.m.received.WithLabelValues("near0"))
	limited := counter(pb.m.dropped.WithLabelValues("near0", ReasonRateLimited))
	full := counter(pb.m.dropped.WithLabelValues("near0", ReasonTableFull))
	if limited == 0 || received != limited+full+4 {
		t.Errorf("rate-limited provider: received %v = rate_limited %v + table_full %v + 4 added?", received, limited, full)
	}
	for _, q := range []*Provider{p, pb} {
		if got := counter(q.m.neighbors.WithLabelValues("near0")); got != 4 {
			t.Errorf("neighbours %v, want max_neighbors 4", got)
		}
		ns := waitTable(t, q, "table", func([]*racktrackv1.LLDPNeighbor) bool { return true })
		if len(ns) != 4 {
			t.Errorf("table has %d neighbours, want 4", len(ns))
		}
	}
	// The first provider kept its two neighbours and refused the rest.
	if got := counter(p.m.dropped.WithLabelValues("near0", ReasonRateLimited)); got != 0 {
		t.Errorf("first provider rate-limited %v frames", got)
	}
}

func fmtCounts(ms ...*metrics) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "received %v, socket_overflow %v, rate_limited %v, table_full %v; ",
			counter(m.received.WithLabelValues("near0")),
			counter(m.dropped.WithLabelValues("near0", ReasonSocketOverflow)),
			counter(m.dropped.WithLabelValues("near0", ReasonRateLimited)),
			counter(m.dropped.WithLabelValues("near0", ReasonTableFull)))
	}
	return b.String()
}
