package topology

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestNormalizeMAC(t *testing.T) {
	for in, want := range map[string]string{
		"AA:BB:CC:DD:EE:FF": "aa:bb:cc:dd:ee:ff",
		"aa-bb-cc-dd-ee-ff": "aa:bb:cc:dd:ee:ff",
		"aabb.ccdd.eeff":    "aa:bb:cc:dd:ee:ff",
		"aabbccddeeff":      "aa:bb:cc:dd:ee:ff",
		"Gi1/0/1":           "gi1/0/1",
		"":                  "",
	} {
		if got := NormalizeMAC(in); got != want {
			t.Errorf("NormalizeMAC(%q) = %q, want %q", in, got, want)
		}
	}
}

// summary is the part of a link the test pins down.
type summary struct {
	A, B      string
	DecidedBy string
	Evidence  string
	Stale     bool
	Conflicts string
}

func summarize(ls []Link) []summary {
	var out []summary
	for _, l := range ls {
		var ev []string
		for _, p := range l.Evidence {
			s := p.Kind + "@" + p.Switch + ":" + p.Port
			if !p.Agrees {
				s += "(disagrees)"
			}
			if p.Stale {
				s += "(stale)"
			}
			ev = append(ev, s)
		}
		out = append(out, summary{
			A: l.A.Kind + " " + l.A.Device + " " + l.A.Port, B: l.B.Kind + " " + l.B.Device + " " + l.B.Port,
			DecidedBy: l.DecidedBy, Evidence: strings.Join(ev, ", "), Stale: l.Stale, Conflicts: strings.Join(l.Conflicts, "; "),
		})
		if l.Conflict != (len(l.Conflicts) > 0) {
			out[len(out)-1].Conflicts += " [Conflict flag inconsistent]"
		}
	}
	return out
}

func TestBuild(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	fresh, old := now.Add(-time.Minute), now.Add(-time.Hour)
	in := Input{
		Now: now,
		Servers: []Server{
			{Device: "bmc-1", Hostname: "srv-1", NICs: []NIC{{ID: "NIC.1", Name: "eno1", MAC: "02:00:00:00:01:01"}, {ID: "NIC.2", Name: "eno2", MAC: "02:00:00:00:01:02"}}},
			{Device: "bmc-2", Hostname: "srv-2", ManagerMAC: "02:00:00:00:02:00", NICs: []NIC{{ID: "NIC.1", Name: "eno1", MAC: "02-00-00-00-02-01"}}},
			{Device: "bmc-3", NICs: []NIC{{ID: "NIC.1", Name: "eno1", MAC: "02:00:00:00:03:01"}}},
			{Device: "bmc-4", NICs: []NIC{{ID: "NIC.1", Name: "eno1", MAC: "02:00:00:00:04:01"}}},
		},
		Switches: []Switch{
			{Device: "sw-1", SysName: "leaf1", PortMACs: []string{"0c:00:00:00:01:01"}},
			{Device: "sw-2", SysName: "spine1", PortMACs: []string{"0c:00:00:00:02:01"}},
		},
		Neighbors: []Neighbor{
			// By port MAC.
			{Device: "sw-1", Source: "snmp", LocalPort: "Gi1/0/1", ChassisSubtype: "mac_address", ChassisID: "02:00:00:00:01:01", PortSubtype: "mac_address", PortID: "02:00:00:00:01:01", SeenAt: fresh},
			// By chassis (the BMC's MAC) and interface name.
			{Device: "sw-1", Source: "snmp", LocalPort: "Gi1/0/2", ChassisSubtype: "mac_address", ChassisID: "02:00:00:00:02:00", PortSubtype: "interface_name", PortID: "eno1", SystemName: "srv-2", SeenAt: fresh},
			// The uplink to the spine.
			{Device: "sw-1", Source: "snmp", LocalPort: "Gi1/0/48", ChassisSubtype: "mac_address", ChassisID: "0c:00:00:00:02:01", PortSubtype: "interface_name", PortID: "Eth1", SystemName: "spine1", SeenAt: fresh},
			// Something unknown.
			{Device: "sw-1", Source: "snmp", LocalPort: "Gi1/0/30", ChassisSubtype: "mac_address", ChassisID: "aa:aa:aa:aa:aa:aa", PortSubtype: "interface_name", PortID: "eth0", SystemName: "mystery", SeenAt: fresh},
			// An agent host confirming bmc-1's link, and one on a port nothing else knows.
			{Device: "agent-1/eth0", Source: "lldp", LocalPort: "eth0", ChassisSubtype: "mac_address", ChassisID: "0c:00:00:00:01:01", PortSubtype: "interface_name", PortID: "Gi1/0/1", SystemName: "leaf1", SeenAt: fresh},
			{Device: "agent-1/eth1", Source: "lldp", LocalPort: "eth1", ChassisSubtype: "mac_address", ChassisID: "0c:00:00:00:01:01", PortSubtype: "interface_name", PortID: "Gi1/0/20", SystemName: "leaf1", SeenAt: fresh},
		},
		FDB: []FDBEntry{
			{Device: "sw-1", Port: "Gi1/0/1", MAC: "02:00:00:00:01:01", VLAN: 10, SeenAt: fresh},
			// Two servers on one port: both claim it.
			{Device: "sw-1", Port: "Gi1/0/3", MAC: "02:00:00:00:03:01", VLAN: 10, SeenAt: fresh},
			{Device: "sw-1", Port: "Gi1/0/3", MAC: "02:00:00:00:04:01", VLAN: 10, SeenAt: fresh},
			// The uplink learns everything: ignored.
			{Device: "sw-1", Port: "Gi1/0/48", MAC: "02:00:00:00:01:01", VLAN: 10, SeenAt: fresh},
			{Device: "sw-1", Port: "Gi1/0/48", MAC: "02:00:00:00:03:01", VLAN: 10, SeenAt: fresh},
			// FDB disagrees with LLDP about bmc-2.
			{Device: "sw-1", Port: "Gi1/0/7", MAC: "02:00:00:00:02:01", VLAN: 10, SeenAt: fresh},
			// Only stale evidence for bmc-1 NIC.2.
			{Device: "sw-2", Port: "Eth9", MAC: "02:00:00:00:01:02", VLAN: 10, SeenAt: old},
		},
	}
	got := summarize(Build(in, Rules{Precedence: DefaultPrecedence, StaleAfter: 15 * time.Minute}))
	want := []summary{
		{A: "host agent-1/eth1 eth1", B: "switch sw-1 Gi1/0/20", DecidedBy: LLDPHost, Evidence: "lldp_host@sw-1:Gi1/0/20"},
		{A: "server bmc-1 NIC.1", B: "switch sw-1 Gi1/0/1", DecidedBy: LLDPSwitch,
			Evidence: "lldp_switch@sw-1:Gi1/0/1, lldp_host@sw-1:Gi1/0/1, fdb@sw-1:Gi1/0/1"},
		{A: "server bmc-1 NIC.2", B: "switch sw-2 Eth9", DecidedBy: FDB, Evidence: "fdb@sw-2:Eth9(stale)", Stale: true},
		{A: "server bmc-2 NIC.1", B: "switch sw-1 Gi1/0/2", DecidedBy: LLDPSwitch,
			Evidence:  "lldp_switch@sw-1:Gi1/0/2, fdb@sw-1:Gi1/0/7(disagrees)",
			Conflicts: "fdb evidence from sw-1 puts bmc-2 NIC.1 on sw-1 port Gi1/0/7"},
		{A: "server bmc-3 NIC.1", B: "switch sw-1 Gi1/0/3", DecidedBy: FDB, Evidence: "fdb@sw-1:Gi1/0/3",
			Conflicts: "sw-1 port Gi1/0/3 is claimed by bmc-3 NIC.1 and bmc-4 NIC.1"},
		{A: "server bmc-4 NIC.1", B: "switch sw-1 Gi1/0/3", DecidedBy: FDB, Evidence: "fdb@sw-1:Gi1/0/3",
			Conflicts: "sw-1 port Gi1/0/3 is claimed by bmc-3 NIC.1 and bmc-4 NIC.1"},
		{A: "unknown mystery eth0", B: "switch sw-1 Gi1/0/30", DecidedBy: LLDPSwitch, Evidence: "lldp_switch@sw-1:Gi1/0/30"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Build:")
		for i := range max(len(got), len(want)) {
			var g, w summary
			if i < len(got) {
				g = got[i]
			}
			if i < len(want) {
				w = want[i]
			}
			if g != w {
				t.Errorf(" link %d:\n  got %+v\n want %+v", i, g, w)
			}
		}
	}

	// With FDB first, the FDB evidence decides bmc-2 and LLDP disagrees.
	got = summarize(Build(in, Rules{Precedence: []string{FDB, LLDPSwitch}, StaleAfter: 15 * time.Minute}))
	for _, s := range got {
		if s.A == "server bmc-2 NIC.1" && (s.B != "switch sw-1 Gi1/0/7" || s.DecidedBy != FDB ||
			s.Conflicts != "lldp_switch evidence from sw-1 puts bmc-2 NIC.1 on sw-1 port Gi1/0/2") {
			t.Errorf("FDB-first bmc-2: %+v", s)
		}
	}
}

func TestBuildAges(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ls := Build(Input{
		Now:     now,
		Servers: []Server{{Device: "bmc-1", NICs: []NIC{{ID: "NIC.1", MAC: "02:00:00:00:01:01"}}}},
		FDB:     []FDBEntry{{Device: "sw-1", Port: "p1", MAC: "02:00:00:00:01:01", SeenAt: now.Add(-90 * time.Second)}},
	}, Rules{Precedence: DefaultPrecedence})
	if len(ls) != 1 || ls[0].Evidence[0].AgeSeconds != 90 || ls[0].Evidence[0].Stale {
		t.Errorf("links %+v, want one with 90 s old fresh evidence", ls)
	}
}
