package snmp_test

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/racktrack/racktrack/internal/snmptest"
	"github.com/racktrack/racktrack/providers/snmp"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// eui64LinkLocal is the IPv6 link-local address Linux gives an interface
// with this MAC (modified EUI-64, the default address generation mode).
func eui64LinkLocal(t *testing.T, mac string) string {
	t.Helper()
	hw, err := net.ParseMAC(mac)
	if err != nil || len(hw) != 6 {
		t.Fatalf("MAC %q: %v", mac, err)
	}
	a := [16]byte{0: 0xfe, 1: 0x80, 8: hw[0] ^ 0x02, 9: hw[1], 10: hw[2], 11: 0xff, 12: 0xfe, 13: hw[3], 14: hw[4], 15: hw[5]}
	return netip.AddrFrom16(a).String()
}

// ping sends ICMP echo requests from namespace ns to addr (with "%zone"
// for a link-local address) until one is answered. Resolving the peer on
// the way puts it in the kernel's neighbour table of ns. Link-local
// addresses answer only once duplicate address detection has finished,
// hence the retries.
func ping(t *testing.T, ns, addr string) {
	t.Helper()
	host, zone, _ := strings.Cut(addr, "%")
	dst := netip.MustParseAddr(host)
	network, listen, proto := "ip4:icmp", "0.0.0.0", 1
	var request, reply icmp.Type = ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply
	if dst.Is6() {
		network, listen, proto = "ip6:ipv6-icmp", "::", 58
		request, reply = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply
	}
	id := os.Getpid() & 0xffff
	var perr error
	err := snmptest.InNetns(ns, func() {
		c, err := icmp.ListenPacket(network, listen)
		if err != nil {
			perr = err
			return
		}
		defer c.Close()
		buf := make([]byte, 1500)
		deadline := time.Now().Add(10 * time.Second)
		for seq := 1; time.Now().Before(deadline); seq++ {
			// The ICMPv6 checksum is left to the kernel (nil pseudo-header).
			b, err := (&icmp.Message{Type: request, Body: &icmp.Echo{ID: id, Seq: seq, Data: []byte("racktrack")}}).Marshal(nil)
			if err != nil {
				perr = err
				return
			}
			if _, err := c.WriteTo(b, &net.IPAddr{IP: dst.AsSlice(), Zone: zone}); err != nil {
				perr = err // e.g. our own link-local address still tentative: try again
			}
			if err := c.SetReadDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
				perr = err
				return
			}
			for {
				n, _, err := c.ReadFrom(buf)
				if err != nil {
					break // no reply in time: send the next request
				}
				m, err := icmp.ParseMessage(proto, buf[:n])
				if err != nil || m.Type != reply {
					continue
				}
				if e, ok := m.Body.(*icmp.Echo); ok && e.ID == id && e.Seq == seq {
					perr = nil
					return
				}
			}
		}
		perr = fmt.Errorf("no echo reply within 10s (last error: %v)", perr)
	})
	if err == nil {
		err = perr
	}
	if err != nil {
		t.Fatalf("ping %s from %s: %v", addr, ns, err)
	}
}

// TestRealSnmpdIPNeighbors: namespace A pings its cabled peer B over IPv4
// and IPv6 (link-local), so the kernel's neighbour table in A holds B;
// net-snmp snmpd in A serves that table in IP-MIB ipNetToPhysicalTable, and
// the poll reports B's exact addresses and MAC on swp1.
func TestRealSnmpdIPNeighbors(t *testing.T) {
	sw := snmptest.StartSwitch(t)
	swpIdx, err := snmptest.IfIndex(sw.NS, "swp1")
	if err != nil {
		t.Fatal(err)
	}
	peerLinkLocal := eui64LinkLocal(t, snmptest.PeerPortMAC)
	ping(t, sw.NS, snmptest.PeerAddress)
	ping(t, sw.NS, peerLinkLocal+"%swp1")
	// IPv4 sorts first (InetAddressType 1 before 2); net-snmp gives the
	// link-local address as ipv6(2) without a zone.
	want := fmt.Sprintf("%d|swp1|%s|%s|dynamic\n%d|swp1|%s|%s|dynamic\n",
		swpIdx, snmptest.PeerAddress, snmptest.PeerPortMAC, swpIdx, peerLinkLocal, snmptest.PeerPortMAC)

	for _, c := range []struct {
		name string
		cfg  snmp.Config
	}{
		{"v2c", v2c(t, sw.Addr, snmptest.Community)},
		{"v3 SHA/AES authPriv", v3(t, sw.Addr, snmptest.V3User, "SHA", snmptest.V3AuthPass, "AES", snmptest.V3PrivPass)},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newProvider(t, c.cfg, snmp.Options{})
			// snmpd reads the kernel table when asked; poll until the
			// peer shows, within a deadline.
			var got polled
			for deadline := time.Now().Add(10 * time.Second); ; {
				res, err := pollIn(t, sw.NS, p)
				if err != nil {
					t.Fatalf("Poll: %v", err)
				}
				got = split(t, res)
				if neighborLines(got.ipNeighbors()) == want || time.Now().After(deadline) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if got.ipn == nil {
				t.Fatalf("no IP neighbour observation; want:\n%s", want)
			}
			if !got.ipn.Complete || len(got.ipn.Incomplete) != 0 {
				t.Errorf("IP neighbours incomplete: %v", got.ipn.Incomplete)
			}
			if s := neighborLines(got.ipNeighbors()); s != want {
				t.Errorf("neighbours:\n%s\nwant:\n%s", s, want)
			}
			if st := got.status.GetTargetStatus(); !got.status.Complete || st.Error != "" {
				t.Errorf("status = %+v", st)
			}
		})
	}
}
