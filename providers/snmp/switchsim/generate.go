package switchsim

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
)

// Host is a server of the demo site, as the Redfish simulator serves it:
// its host name and the NICs cabled to the switches.
type Host struct {
	Name string
	// MgmtIP is an optional IPv4 address the host advertises over LLDP.
	MgmtIP string
	NICs   []NIC
}

// NIC is one server port: its name (e.g. "eno1") and MAC address.
type NIC struct {
	Name string
	MAC  string
}

// SiteSpec says what to generate.
type SiteSpec struct {
	// Name prefixes switch names ("<name>-sw1", ...) and is sysLocation.
	Name string
	// Switches is the number of switches (default 2: an A/B pair). NIC i
	// of every host is cabled to switch i mod Switches.
	Switches int
	// Ports per switch (default 48).
	Ports int
	// Hosts are cabled in order, each NIC to the next free port.
	Hosts []Host
	// VLAN of the host ports (default 100).
	VLAN int
	// ExtraFDB adds this many learned MACs per switch (VMs behind the
	// hosts, VLAN+1), spread over the cabled ports, for scale tests.
	ExtraFDB int
}

// Cable is one generated link: the switch port and what is on it.
type Cable struct {
	Switch  string
	Port    string // ifName of the switch port
	IfIndex int
	// BridgePort is the BRIDGE-MIB port number, LLDPPort the LLDP-MIB
	// local port number of the same port.
	BridgePort int
	LLDPPort   int
	Host       string
	NIC        string
	MAC        string // lower-case colon form
}

// Switch is one generated switch and its recording.
type Switch struct {
	Name    string
	Serial  string
	BaseMAC string
	Records []Record
	// Extra are the additional FDB entries (MAC -> ifName).
	Extra map[string]string
}

// Site is the generated demo site: the switches and the wiring, returned
// as data so tests can check the topology end to end.
type Site struct {
	Switches []Switch
	Cables   []Cable
}

// Port numbering of generated switches, Cisco-like so that clients must
// use the mapping tables: ifIndex 10000+n, bridge port n, LLDP port n.
const ifIndexBase = 10000

// PortName is the ifName of port n (1-based) of a generated switch.
func PortName(n int) string { return fmt.Sprintf("Ethernet1/%d", n) }

// Generate builds the recordings of a site. The result is a pure
// function of spec.
func Generate(spec SiteSpec) (*Site, error) {
	if spec.Switches == 0 {
		spec.Switches = 2
	}
	if spec.Ports == 0 {
		spec.Ports = 48
	}
	if spec.VLAN == 0 {
		spec.VLAN = 100
	}
	if spec.Name == "" {
		spec.Name = "site"
	}
	site := &Site{}
	next := make([]int, spec.Switches)
	type link struct {
		port int
		host Host
		nic  NIC
		mac  net.HardwareAddr
	}
	links := make([][]link, spec.Switches)
	for _, h := range spec.Hosts {
		for i, nic := range h.NICs {
			sw := i % spec.Switches
			if next[sw] >= spec.Ports {
				return nil, fmt.Errorf("switchsim: switch %d has no free port for %s %s", sw+1, h.Name, nic.Name)
			}
			mac, err := net.ParseMAC(nic.MAC)
			if err != nil || len(mac) != 6 {
				return nil, fmt.Errorf("switchsim: host %s NIC %s: bad MAC %q", h.Name, nic.Name, nic.MAC)
			}
			next[sw]++
			links[sw] = append(links[sw], link{next[sw], h, nic, mac})
		}
	}
	for s := 0; s < spec.Switches; s++ {
		name := fmt.Sprintf("%s-sw%d", spec.Name, s+1)
		seed := sha256.Sum256([]byte(name))
		base := net.HardwareAddr{0x02, 0x5e, seed[0], seed[1], seed[2], 0x00}
		serial := fmt.Sprintf("RTS%08X", binary.BigEndian.Uint32(seed[4:8]))
		g := &gen{}
		// SNMPv2-MIB system group.
		g.str("1.3.6.1.2.1.1.1.0", "racktrack switchsim 48x25G, firmware 4.2.1")
		g.oid("1.3.6.1.2.1.1.2.0", "1.3.6.1.4.1.32473.1.48")
		g.add("1.3.6.1.2.1.1.3.0", TimeTicks(8640000+uint32(seed[8])*100))
		g.str("1.3.6.1.2.1.1.4.0", "noc@example.net")
		g.str("1.3.6.1.2.1.1.5.0", name)
		g.str("1.3.6.1.2.1.1.6.0", spec.Name)
		g.add("1.3.6.1.2.1.1.7.0", Integer(6))
		cabled := map[int]link{}
		for _, l := range links[s] {
			cabled[l.port] = l
		}
		// IF-MIB ifTable and ifXTable.
		for n := 1; n <= spec.Ports; n++ {
			ifi := ifIndexBase + n
			l, up := cabled[n]
			status := int64(2)
			alias := ""
			if up {
				status = 1
				alias = l.host.Name + ":" + l.nic.Name
			}
			mac := append(net.HardwareAddr{}, base...)
			mac[5] = byte(n)
			p := func(col int) string { return fmt.Sprintf("1.3.6.1.2.1.2.2.1.%d.%d", col, ifi) }
			x := func(col int) string { return fmt.Sprintf("1.3.6.1.2.1.31.1.1.1.%d.%d", col, ifi) }
			g.add(fmt.Sprintf("1.3.6.1.2.1.2.2.1.1.%d", ifi), Integer(int64(ifi)))
			g.str(p(2), "Ethernet1/"+fmt.Sprint(n)+" 25G")
			g.add(p(3), Integer(6))
			g.add(p(4), Integer(9216))
			g.add(p(5), Gauge32(4294967295))
			g.add(p(6), Octets(mac))
			g.add(p(7), Integer(1))
			g.add(p(8), Integer(status))
			g.add(p(9), TimeTicks(uint32(1000*n)))
			h := binary.BigEndian.Uint64(seed[16:24]) + uint64(n)*7919
			g.add(p(10), Counter32(uint32(h)))
			g.add(p(11), Counter32(uint32(h/1000)))
			g.add(p(13), Counter32(uint32(n)))
			g.add(p(14), Counter32(0))
			g.add(p(16), Counter32(uint32(h/3)))
			g.add(p(17), Counter32(uint32(h/3000)))
			g.add(p(19), Counter32(0))
			g.add(p(20), Counter32(uint32(n%3)))
			g.str(x(1), PortName(n))
			g.add(x(6), Counter64(h*1000))
			g.add(x(7), Counter64(h))
			g.add(x(10), Counter64(h*333))
			g.add(x(11), Counter64(h/3))
			g.add(x(15), Gauge32(25000))
			g.str(x(18), alias)
			g.add(x(19), TimeTicks(0))
			if up {
				site.Cables = append(site.Cables, Cable{Switch: name, Port: PortName(n), IfIndex: ifi,
					BridgePort: n, LLDPPort: n, Host: l.host.Name, NIC: l.nic.Name, MAC: l.mac.String()})
			}
		}
		// ENTITY-MIB: chassis, two PSUs, a fan tray, the ports.
		ent := func(i int, descr string, contained, class int64, name, hw, fw, sw, serial, model string) {
			e := func(col int) string { return fmt.Sprintf("1.3.6.1.2.1.47.1.1.1.1.%d.%d", col, i) }
			g.str(e(2), descr)
			g.add(e(4), Integer(contained))
			g.add(e(5), Integer(class))
			g.str(e(7), name)
			g.str(e(8), hw)
			g.str(e(9), fw)
			g.str(e(10), sw)
			g.str(e(11), serial)
			g.str(e(12), "racktrack")
			g.str(e(13), model)
		}
		ent(1, "48x25G switch chassis", 0, 3, "Chassis", "A1", "1.07", "4.2.1", serial, "RT-4825")
		ent(2, "Power supply 1", 1, 6, "PSU1", "B", "", "", serial+"P1", "RT-PSU-1100")
		ent(3, "Power supply 2", 1, 6, "PSU2", "B", "", "", serial+"P2", "RT-PSU-1100")
		ent(4, "Fan tray", 1, 7, "Fan1", "C", "", "", serial+"F1", "RT-FAN")
		for n := 1; n <= spec.Ports; n++ {
			ent(1000+n, "25G port", 1, 10, PortName(n), "", "", "", "", "")
		}
		// BRIDGE-MIB base ports and Q-BRIDGE-MIB FDB / VLAN table.
		for n := 1; n <= spec.Ports; n++ {
			g.add(fmt.Sprintf("1.3.6.1.2.1.17.1.4.1.2.%d", n), Integer(int64(ifIndexBase+n)))
		}
		g.add(fmt.Sprintf("1.3.6.1.2.1.17.7.1.4.2.1.3.0.%d", spec.VLAN), Gauge32(uint32(spec.VLAN)))
		if spec.ExtraFDB > 0 {
			g.add(fmt.Sprintf("1.3.6.1.2.1.17.7.1.4.2.1.3.0.%d", spec.VLAN+1), Gauge32(uint32(spec.VLAN+1)))
		}
		fdb := func(vlan int, mac net.HardwareAddr, port int) {
			idx := fmt.Sprintf("%d.%d.%d.%d.%d.%d.%d", vlan, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5])
			g.add("1.3.6.1.2.1.17.7.1.2.2.1.2."+idx, Integer(int64(port)))
			g.add("1.3.6.1.2.1.17.7.1.2.2.1.3."+idx, Integer(3))
		}
		for _, l := range links[s] {
			fdb(spec.VLAN, l.mac, l.port)
		}
		sw := Switch{Name: name, Serial: serial, BaseMAC: base.String(), Extra: map[string]string{}}
		for i := 0; i < spec.ExtraFDB; i++ {
			port := 1 + i%spec.Ports
			if len(links[s]) > 0 {
				port = links[s][i%len(links[s])].port
			}
			mac := net.HardwareAddr{0x02, 0x42, byte(s), byte(i >> 16), byte(i >> 8), byte(i)}
			fdb(spec.VLAN+1, mac, port)
			sw.Extra[mac.String()] = PortName(port)
		}
		// LLDP-MIB: local ports, one remote per cabled port, its address.
		for n := 1; n <= spec.Ports; n++ {
			lp := func(col int) string { return fmt.Sprintf("1.0.8802.1.1.2.1.3.7.1.%d.%d", col, n) }
			g.add(lp(2), Integer(5)) // interfaceName
			g.str(lp(3), PortName(n))
			g.str(lp(4), "Ethernet1/"+fmt.Sprint(n)+" 25G")
		}
		for _, l := range links[s] {
			rk := fmt.Sprintf("0.%d.1", l.port)
			r := func(col int) string { return fmt.Sprintf("1.0.8802.1.1.2.1.4.1.1.%d.%s", col, rk) }
			chassis, _ := net.ParseMAC(l.host.NICs[0].MAC)
			g.add(r(4), Integer(4)) // macAddress
			g.add(r(5), Octets(chassis))
			g.add(r(6), Integer(3)) // macAddress
			g.add(r(7), Octets(l.mac))
			g.str(r(8), l.nic.Name)
			g.str(r(9), l.host.Name)
			g.str(r(10), "Debian GNU/Linux 12 (bookworm) Linux 6.1.0 x86_64")
			g.add(r(11), Octets([]byte{0x28, 0x00})) // bridge, router
			g.add(r(12), Octets([]byte{0x00, 0x00}))
			if a, err := netip.ParseAddr(l.host.MgmtIP); err == nil && a.Is4() {
				b := a.As4()
				g.add(fmt.Sprintf("1.0.8802.1.1.2.1.4.2.1.3.%s.1.4.%d.%d.%d.%d", rk, b[0], b[1], b[2], b[3]), Integer(2))
			}
		}
		if g.err != nil {
			return nil, g.err
		}
		sw.Records = g.recs
		site.Switches = append(site.Switches, sw)
	}
	return site, nil
}

// gen accumulates records, keeping the first error.
type gen struct {
	recs []Record
	err  error
}

func (g *gen) add(oid string, v Value) {
	o, err := ParseOID(oid)
	if err != nil && g.err == nil {
		g.err = err
	}
	g.recs = append(g.recs, Record{OID: o, Value: v})
}

func (g *gen) str(oid, s string) { g.add(oid, OctetString(s)) }

func (g *gen) oid(oid, v string) {
	val, err := ObjectID(v)
	if err != nil && g.err == nil {
		g.err = err
	}
	g.add(oid, val)
}

// DemoHosts is a small site for examples and tests: n servers named
// "<prefix>-NN" with two NICs each (eno1, eno2) and locally administered
// MACs. n is at most 255.
func DemoHosts(prefix string, n int) []Host {
	hosts := make([]Host, n)
	for i := range hosts {
		hosts[i] = Host{
			Name:   fmt.Sprintf("%s-%02d", prefix, i+1),
			MgmtIP: fmt.Sprintf("192.0.2.%d", 10+i),
			NICs: []NIC{
				{Name: "eno1", MAC: fmt.Sprintf("02:00:5e:10:%02x:01", i+1)},
				{Name: "eno2", MAC: fmt.Sprintf("02:00:5e:10:%02x:02", i+1)},
			},
		}
	}
	return hosts
}
