package snmp_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/racktrack/racktrack/providers/snmp"
	"github.com/racktrack/racktrack/providers/snmp/switchsim"
)

var simUsers = []switchsim.User{
	{Name: "shaaes", AuthProtocol: "SHA", AuthPassword: "authpass123", PrivProtocol: "AES", PrivPassword: "privpass123"},
	{Name: "sha256aes256", AuthProtocol: "SHA256", AuthPassword: "authpass256", PrivProtocol: "AES256", PrivPassword: "privpass256"},
	{Name: "sha512aes256c", AuthProtocol: "SHA512", AuthPassword: "authpass512", PrivProtocol: "AES256C", PrivPassword: "privpass512"},
	{Name: "shaonly", AuthProtocol: "SHA", AuthPassword: "authpass123"},
	{Name: "plain"},
}

// TestPollGeneratedSite walks a generated switch over every credential
// kind and checks each table against the wiring the generator returned.
func TestPollGeneratedSite(t *testing.T) {
	site := demoSite(t, 12, 0)
	sw := site.Switches[0]
	a := startAgent(t, sw.Records, switchsim.Config{Community: "demo-ro", Users: simUsers})
	addr := a.Addr().String()
	cases := []struct {
		name string
		cfg  snmp.Config
	}{
		{"v2c", v2c(t, addr, "demo-ro")},
		{"v3 SHA/AES", v3(t, addr, "shaaes", "SHA", "authpass123", "AES", "privpass123")},
		{"v3 SHA256/AES256", v3(t, addr, "sha256aes256", "SHA256", "authpass256", "AES256", "privpass256")},
		{"v3 SHA512/AES256C", v3(t, addr, "sha512aes256c", "SHA512", "authpass512", "AES256C", "privpass512")},
		{"v3 authNoPriv", v3(t, addr, "shaonly", "SHA", "authpass123", "", "")},
		{"v3 noAuthNoPriv", v3(t, addr, "plain", "", "", "", "")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newProvider(t, tc.cfg, snmp.Options{})
			got := pollOK(t, p)
			checkGeneratedSwitch(t, site, sw, got)
		})
	}
}

func checkGeneratedSwitch(t *testing.T, site *switchsim.Site, sw switchsim.Switch, got polled) {
	t.Helper()
	for _, o := range got.res.Observations {
		if !o.Complete || len(o.Incomplete) > 0 {
			t.Errorf("%T incomplete: %v", o.Payload, o.Incomplete)
		}
	}
	inv := got.inv.GetSwitchInventory()
	if inv.SysName != sw.Name || inv.SysLocation != "demo" || inv.SysObjectId != "1.3.6.1.4.1.32473.1.48" ||
		inv.SysContact != "noc@example.net" || inv.SysDescr != "racktrack switchsim 48x25G, firmware 4.2.1" {
		t.Errorf("system group = %+v", inv)
	}
	if len(inv.Entities) != 4+48 {
		t.Fatalf("entities = %d, want 52", len(inv.Entities))
	}
	ch := inv.Entities[0]
	if ch.Index != 1 || ch.Class != "chassis" || ch.SerialNumber != sw.Serial || ch.Model != "RT-4825" ||
		ch.Manufacturer != "racktrack" || ch.HardwareRev != "A1" || ch.FirmwareRev != "1.07" || ch.SoftwareRev != "4.2.1" || ch.ContainedIn != 0 {
		t.Errorf("chassis = %+v", ch)
	}
	if psu := inv.Entities[1]; psu.Class != "powerSupply" || psu.ContainedIn != 1 || psu.SerialNumber != sw.Serial+"P1" || psu.Name != "PSU1" {
		t.Errorf("psu = %+v", psu)
	}
	if inv.ContentHash == "" || len(inv.ContentHash) != 64 {
		t.Errorf("content hash %q", inv.ContentHash)
	}

	cables := map[int]switchsim.Cable{}
	for _, c := range site.Cables {
		if c.Switch == sw.Name {
			cables[c.IfIndex] = c
		}
	}
	ifs := got.interfaces()
	if len(ifs) != 48 {
		t.Fatalf("interfaces = %d, want 48", len(ifs))
	}
	for n, i := range ifs {
		port := n + 1
		c, cabled := cables[int(i.IfIndex)]
		wantOper, wantAlias := "down", ""
		if cabled {
			wantOper, wantAlias = "up", c.Host+":"+c.NIC
		}
		wantMAC := sw.BaseMAC[:15] + fmt.Sprintf("%02x", port)
		if i.IfIndex != int32(10000+port) || i.Name != switchsim.PortName(port) || i.Descr != fmt.Sprintf("Ethernet1/%d 25G", port) ||
			i.SpeedMbps != 25000 || i.Mtu != 9216 || i.IfType != 6 || i.AdminStatus != "up" || i.OperStatus != wantOper ||
			i.Alias != wantAlias || i.MacAddress != wantMAC || i.LastChangeCentiseconds != uint64(1000*port) {
			t.Errorf("interface %d = %+v", port, i)
		}
		if i.InOctets == 0 || i.InOctets != i.InUnicastPackets*1000 || i.InDiscards != uint64(port) || i.OutErrors != uint64(port%3) {
			t.Errorf("interface %d counters = in %d/%d disc %d err %d", port, i.InOctets, i.InUnicastPackets, i.InDiscards, i.OutErrors)
		}
	}

	nbrs := got.neighbors()
	if len(nbrs) != len(cables) {
		t.Fatalf("neighbours = %d, want %d", len(nbrs), len(cables))
	}
	hosts := map[string]switchsim.Host{}
	for _, h := range switchsim.DemoHosts("web", 12) {
		hosts[h.Name] = h
	}
	for _, n := range nbrs {
		c, ok := cables[10000+int(n.LocalPortIndex)]
		if !ok {
			t.Errorf("neighbour on unexpected port %d", n.LocalPortIndex)
			continue
		}
		h := hosts[c.Host]
		if n.LocalPort != c.Port || n.SystemName != c.Host || n.PortIdSubtype != "mac_address" || n.PortId != c.MAC ||
			n.ChassisIdSubtype != "mac_address" || n.ChassisId != h.NICs[0].MAC || n.PortDescription != c.NIC ||
			strings.Join(n.Capabilities, ",") != "bridge,router" || len(n.EnabledCapabilities) != 0 ||
			strings.Join(n.ManagementAddresses, ",") != h.MgmtIP {
			t.Errorf("neighbour %+v, cable %+v", n, c)
		}
	}

	entries := got.entries()
	if len(entries) != len(cables)+len(sw.Extra) {
		t.Fatalf("FDB entries = %d, want %d", len(entries), len(cables)+len(sw.Extra))
	}
	byMAC := map[string]switchsim.Cable{}
	for _, c := range cables {
		byMAC[c.MAC] = c
	}
	for _, e := range entries {
		if port, ok := sw.Extra[e.MacAddress]; ok {
			if e.Vlan != 101 || e.PortName != port || e.Status != "learned" {
				t.Errorf("extra FDB entry %+v, want port %s", e, port)
			}
			continue
		}
		c, ok := byMAC[e.MacAddress]
		if !ok || e.Vlan != 100 || e.IfIndex != int32(c.IfIndex) || e.BridgePort != int32(c.BridgePort) ||
			e.PortName != c.Port || e.Status != "learned" {
			t.Errorf("FDB entry %+v, cable %+v", e, c)
		}
	}
	st := got.status.GetTargetStatus()
	if !st.Reachable || st.Error != "" || st.Requests == 0 || int(st.Requests) != got.res.Requests {
		t.Errorf("status = %+v, requests %d", st, got.res.Requests)
	}
}

// TestSiteTopologyJoin checks that both switches' FDB and LLDP tables name
// exactly the hosts' NIC MACs and host names, port for port.
func TestSiteTopologyJoin(t *testing.T) {
	hosts := switchsim.DemoHosts("db", 20)
	site, err := switchsim.Generate(switchsim.SiteSpec{Name: "lab", Hosts: hosts})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, h := range hosts {
		for i, n := range h.NICs {
			want = append(want, fmt.Sprintf("lab-sw%d|%s|%s|%s", i+1, h.Name, n.Name, n.MAC))
		}
	}
	var fromFDB, fromLLDP []string
	for _, sw := range site.Switches {
		a := startAgent(t, sw.Records, switchsim.Config{Community: "c0mm"})
		got := pollOK(t, newProvider(t, v2c(t, a.Addr().String(), "c0mm"), snmp.Options{}))
		alias := map[string]string{}
		for _, i := range got.interfaces() {
			alias[i.Name] = i.Alias
		}
		for _, e := range got.entries() {
			hostNIC := strings.SplitN(alias[e.PortName], ":", 2)
			fromFDB = append(fromFDB, fmt.Sprintf("%s|%s|%s|%s", sw.Name, hostNIC[0], hostNIC[1], e.MacAddress))
		}
		for _, n := range got.neighbors() {
			fromLLDP = append(fromLLDP, fmt.Sprintf("%s|%s|%s|%s", sw.Name, n.SystemName, n.PortDescription, n.PortId))
		}
	}
	sort.Strings(want)
	sort.Strings(fromFDB)
	sort.Strings(fromLLDP)
	if strings.Join(fromFDB, "\n") != strings.Join(want, "\n") {
		t.Errorf("FDB topology:\n%s\nwant:\n%s", strings.Join(fromFDB, "\n"), strings.Join(want, "\n"))
	}
	if strings.Join(fromLLDP, "\n") != strings.Join(want, "\n") {
		t.Errorf("LLDP topology:\n%s\nwant:\n%s", strings.Join(fromLLDP, "\n"), strings.Join(want, "\n"))
	}
	if len(site.Cables) != 40 {
		t.Errorf("cables = %d, want 40", len(site.Cables))
	}
}
