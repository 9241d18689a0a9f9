package inventory

import (
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/racktrack/racktrack/collector/internal/fixture"
	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
)

func TestDevice(t *testing.T) {
	tests := []struct {
		source racktrackv1.Source
		want   string
	}{
		{racktrackv1.Source_SOURCE_REDFISH, "eth0"},
		{racktrackv1.Source_SOURCE_SNMP, "eth0"},
		{racktrackv1.Source_SOURCE_LLDP, "agent-7/eth0"},
	}
	for _, tt := range tests {
		o := &racktrackv1.Observation{AgentId: "agent-7", Target: "eth0", Source: tt.source}
		if got := Device(o); got != tt.want {
			t.Errorf("Device(%v) = %q, want %q", tt.source, got, tt.want)
		}
	}
}

func TestFlattenServer(t *testing.T) {
	s := fixture.Server{Site: "ams1", Rack: "r01", Target: "bmc-1", N: 1}
	f := Flatten(fixture.Inventory("a", 1, s))
	want := map[string]map[string]string{
		"": {"system_id": "System.Embedded.1", "manufacturer": "Dell Inc.", "model": "PowerEdge R650", "sku": "SKU1",
			"serial_number": "SN000001", "uuid": s.UUID(), "asset_tag": "AT1", "bios_version": "1.8.2",
			"hostname": "bmc-1", "power_state": "On", "health": "OK"},
		"manager": {"id": "iDRAC.Embedded.1", "manufacturer": "Dell Inc.", "model": "iDRAC9", "firmware_version": "6.10.30.00",
			"mac_address": s.MAC(0), "ip_address": "10.0.0.2"},
		"memory[DIMM.A1]": {"slot": "A1", "capacity_mib": "32768", "memory_type": "DDR4", "speed_mhz": "3200",
			"manufacturer": "Samsung", "serial_number": "D000001A1"},
		"nic[NIC.Integrated.1-2]": {"adapter_id": "NIC.Integrated.1", "name": "eno2", "mac_address": s.MAC(2),
			"link_status": "Down", "speed_mbps": "25000", "health": "OK"},
		"psu[PSU.Slot.1]":   {"manufacturer": "Dell", "model": "PWR SPLY,1400W", "serial_number": "PS0000011", "firmware_version": "00.1D.7D", "capacity_watts": "1400"},
		"firmware[BIOS]":    {"name": "BIOS", "version": "1.8.2", "updateable": "true"},
		"cpu[CPU.Socket.1]": {"socket": "CPU 1", "manufacturer": "Intel", "model": "Xeon Gold 6338", "cores": "32", "threads": "64"},
		"drive[Disk.0]": {"manufacturer": "Intel", "model": "SSDPE2KX010T8", "serial_number": "PHLJ000001", "capacity_bytes": "1099511627776",
			"media_type": "SSD", "protocol": "NVMe", "firmware_version": "VDV10131"},
	}
	for c, fields := range want {
		if !reflect.DeepEqual(f[c], fields) {
			t.Errorf("facts[%q]:\n got %v\nwant %v", c, f[c], fields)
		}
	}
	if len(f) != 12 {
		t.Errorf("%d components, want 12: %v", len(f), sortedKeys(f))
	}
}

func TestFlattenTables(t *testing.T) {
	tests := []struct {
		name string
		obs  *racktrackv1.Observation
		want Facts
	}{
		{
			name: "switch",
			obs: &racktrackv1.Observation{Payload: &racktrackv1.Observation_SwitchInventory{SwitchInventory: &racktrackv1.SwitchInventory{
				SysName: "sw1", SysDescr: "Cisco IOS", SysUptimeCentiseconds: 12345,
				Entities: []*racktrackv1.Entity{{Index: 1001, Class: "chassis", Model: "WS-C3750", SerialNumber: "FOC1"}},
			}}},
			want: Facts{"": {"sys_name": "sw1", "sys_descr": "Cisco IOS"}, "entity[1001]": {"class": "chassis", "model": "WS-C3750", "serial_number": "FOC1"}},
		},
		{
			name: "interfaces without counters",
			obs: &racktrackv1.Observation{Payload: &racktrackv1.Observation_Interfaces{Interfaces: &racktrackv1.InterfaceTable{Interfaces: []*racktrackv1.Interface{
				{IfIndex: 10101, Name: "Gi1/0/1", Alias: "srv-1 eno1", SpeedMbps: 1000, MacAddress: "00:11:22:33:44:01", AdminStatus: "up", OperStatus: "up", InOctets: 999, LastChangeCentiseconds: 5},
				{IfIndex: 5, AdminStatus: "down"},
			}}}},
			want: Facts{
				"interface[Gi1/0/1]":   {"if_index": "10101", "alias": "srv-1 eno1", "speed_mbps": "1000", "mac_address": "00:11:22:33:44:01", "admin_status": "up", "oper_status": "up"},
				"interface[ifIndex 5]": {"if_index": "5", "admin_status": "down"},
			},
		},
		{
			name: "lldp, two neighbours on one port",
			obs: &racktrackv1.Observation{Payload: &racktrackv1.Observation_LldpNeighbors{LldpNeighbors: &racktrackv1.LLDPNeighborTable{Neighbors: []*racktrackv1.LLDPNeighbor{
				{LocalPort: "swp1", ChassisIdSubtype: "mac_address", ChassisId: "02:00:00:00:00:0b", PortIdSubtype: "interface_name", PortId: "eno1", SystemName: "srv-b", TtlSeconds: 120},
				{LocalPort: "swp1", ChassisIdSubtype: "mac_address", ChassisId: "02:00:00:00:00:0a", PortIdSubtype: "interface_name", PortId: "eno1", SystemName: "srv-a"},
			}}}},
			want: Facts{
				"neighbor[swp1]":   {"chassis_id_subtype": "mac_address", "chassis_id": "02:00:00:00:00:0a", "port_id_subtype": "interface_name", "port_id": "eno1", "system_name": "srv-a"},
				"neighbor[swp1#2]": {"chassis_id_subtype": "mac_address", "chassis_id": "02:00:00:00:00:0b", "port_id_subtype": "interface_name", "port_id": "eno1", "system_name": "srv-b"},
			},
		},
		{
			name: "fdb",
			obs: &racktrackv1.Observation{Payload: &racktrackv1.Observation_Fdb{Fdb: &racktrackv1.FDBTable{Entries: []*racktrackv1.FDBEntry{
				{Vlan: 10, MacAddress: "02:00:00:00:01:01", PortName: "Gi1/0/1", IfIndex: 10101, Status: "learned"},
			}}}},
			want: Facts{"fdb[10/02:00:00:00:01:01]": {"port_name": "Gi1/0/1", "if_index": "10101", "status": "learned"}},
		},
		{
			name: "target status is not tracked",
			obs:  fixture.TargetStatus("a", 1, "s", "r", "t", true, ""),
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Flatten(tt.obs); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Flatten:\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestDiff(t *testing.T) {
	s := fixture.Server{Site: "ams1", Rack: "r01", Target: "bmc-1", N: 1}
	base := fixture.Inventory("a", 1, s)
	edit := func(f func(inv *racktrackv1.ServerInventory)) Facts {
		o := proto.Clone(base).(*racktrackv1.Observation)
		f(o.GetServerInventory())
		return Flatten(o)
	}
	old := Flatten(base)
	tests := []struct {
		name string
		new  Facts
		want []Change
	}{
		{"unchanged", Flatten(base), nil},
		{
			name: "DIMM swap and firmware upgrade",
			new: edit(func(inv *racktrackv1.ServerInventory) {
				inv.Memory[1].SerialNumber = "NEWSERIAL"
				inv.Firmware[0].Version = "1.9.0"
				inv.System.BiosVersion = "1.9.0"
			}),
			want: []Change{
				{Kind: FieldChanged, Field: "bios_version", From: "1.8.2", To: "1.9.0"},
				{Kind: FieldChanged, Component: "firmware[BIOS]", Field: "version", From: "1.8.2", To: "1.9.0"},
				{Kind: FieldChanged, Component: "memory[DIMM.A2]", Field: "serial_number", From: "D000001A2", To: "NEWSERIAL"},
			},
		},
		{
			name: "DIMM removed, drive added, field cleared",
			new: edit(func(inv *racktrackv1.ServerInventory) {
				inv.Memory = inv.Memory[:1]
				inv.Drives = append(inv.Drives, &racktrackv1.Drive{Id: "Disk.1", SerialNumber: "NEWDISK"})
				inv.System.AssetTag = ""
			}),
			want: []Change{
				{Kind: FieldChanged, Field: "asset_tag", From: "AT1"},
				{Kind: ComponentAppeared, Component: "drive[Disk.1]", To: "NEWDISK"},
				{Kind: ComponentRemoved, Component: "memory[DIMM.A2]", From: "D000001A2"},
			},
		},
		{"new device", nil, []Change{{Kind: DeviceAppeared, To: "SN000001"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, n := old, tt.new
			if n == nil && tt.name == "new device" {
				o, n = nil, old
			}
			got := Diff(o, n)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Diff:\n got %+v\nwant %+v", got, tt.want)
			}
			if (len(got) == 0) != (o != nil && o.Hash() == n.Hash()) {
				t.Errorf("Hash equality disagrees with Diff: %d changes, hashes %x %x", len(got), o.Hash(), n.Hash())
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 5, 0, 0, time.UTC)
	tests := []struct {
		c    Change
		want string
	}{
		{Change{Kind: FieldChanged, Component: "memory[DIMM.A3]", Field: "serial_number", From: "A", To: "B"},
			`serial_number of memory[DIMM.A3] on ams1/bmc-7 changed from "A" to "B" at 2026-03-01T12:05:00Z`},
		{Change{Kind: FieldChanged, Field: "bios_version", From: "1.8.2", To: "1.9.0"},
			`bios_version on ams1/bmc-7 changed from "1.8.2" to "1.9.0" at 2026-03-01T12:05:00Z`},
		{Change{Kind: ComponentAppeared, Component: "drive[Disk.1]", To: "S1"}, "drive[Disk.1] appeared on ams1/bmc-7 (S1) at 2026-03-01T12:05:00Z"},
		{Change{Kind: ComponentRemoved, Component: "psu[PSU.Slot.2]", From: "S2"}, "psu[PSU.Slot.2] was removed from ams1/bmc-7 (was S2) at 2026-03-01T12:05:00Z"},
		{Change{Kind: DeviceAppeared, To: "SN1"}, "ams1/bmc-7 appeared (SN1) at 2026-03-01T12:05:00Z"},
		{Change{Kind: DeviceDisappeared, From: "2026-03-01T11:50:00Z"}, "ams1/bmc-7 disappeared: not observed since 2026-03-01T11:50:00Z (declared at 2026-03-01T12:05:00Z)"},
	}
	for _, tt := range tests {
		if got := Describe(tt.c, "ams1", "bmc-7", at); got != tt.want {
			t.Errorf("Describe:\n got %s\nwant %s", got, tt.want)
		}
	}
}

func BenchmarkFlattenHash(b *testing.B) {
	o := fixture.Inventory("a", 1, fixture.Server{Site: "ams1", Rack: "r01", Target: "bmc-1", N: 1})
	b.ReportAllocs()
	for b.Loop() {
		Flatten(o).Hash()
	}
}
