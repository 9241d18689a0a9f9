package redfish

import (
	"encoding/json"
	"testing"

	"github.com/stmcginnis/gofish/schemas"
	"google.golang.org/protobuf/proto"

	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
)

func TestNormalizeMAC(t *testing.T) {
	tests := map[string]string{
		"AA:BB:CC:DD:EE:0F":    "aa:bb:cc:dd:ee:0f",
		"aa-bb-cc-dd-ee-0f":    "aa:bb:cc:dd:ee:0f",
		"aabb.ccdd.ee0f":       "aa:bb:cc:dd:ee:0f",
		"AABBCCDDEE0F":         "aa:bb:cc:dd:ee:0f",
		" aa:bb:cc:dd:ee:0f ":  "aa:bb:cc:dd:ee:0f",
		"00:00:00:00:00:00":    "",
		"":                     "",
		"not a mac":            "",
		"aa:bb:cc:dd:ee":       "",
		"00:00:00:00:fe:80:00": "",
	}
	for in, want := range tests {
		if got := normalizeMAC(in); got != want {
			t.Errorf("normalizeMAC(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestMapping maps hand-written resources showing the variations of
// QUIRKS.md: absent slots, fractional fan readings, trailing slashes,
// padded strings.
func TestMapping(t *testing.T) {
	t.Run("absent and empty slots are skipped", func(t *testing.T) {
		for _, raw := range []string{
			`{"Id":"proc1dimm1","Status":{"State":"Absent"}}`,
			`{"Id":"DIMM2","CapacityMiB":0,"Status":{"State":"Enabled"}}`,
		} {
			var m schemas.Memory
			if err := json.Unmarshal([]byte(raw), &m); err != nil {
				t.Fatal(err)
			}
			if got, ok := mapMemory(&m); ok {
				t.Errorf("%s mapped to %v", raw, got)
			}
		}
		var p schemas.Processor
		_ = json.Unmarshal([]byte(`{"Id":"GPU1","ProcessorType":"GPU","Status":{"State":"Enabled"}}`), &p)
		if _, ok := mapProcessor(&p); ok {
			t.Error("GPU mapped as a CPU")
		}
	})
	t.Run("memory", func(t *testing.T) {
		var m schemas.Memory
		raw := `{"Id":"proc1dimm3","MemoryLocation":{"Slot":3,"Socket":1},"CapacityMiB":65536,"MemoryDeviceType":"DDR5",
			"OperatingSpeedMhz":4800,"Manufacturer":"Micron  ","PartNumber":"MTC40F2046S1RC48BA1   ","SerialNumber":" 2AB3C4D5","Status":{"State":"Enabled","Health":"Warning"}}`
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			t.Fatal(err)
		}
		got, ok := mapMemory(&m)
		want := &racktrackv1.MemoryModule{Id: "proc1dimm3", Slot: "3", CapacityMib: 65536, MemoryType: "DDR5", SpeedMhz: 4800,
			Manufacturer: "Micron", PartNumber: "MTC40F2046S1RC48BA1", SerialNumber: "2AB3C4D5", Health: "Warning"}
		if !ok || !proto.Equal(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
	t.Run("legacy thermal with fractions", func(t *testing.T) {
		var th legacyThermal
		raw := `{"Temperatures":[{"MemberId":"0","Name":"CPU1 Temp","ReadingCelsius":61.5,"UpperThresholdCritical":95,"PhysicalContext":"CPU","Status":{"Health":"OK","State":"Enabled"}},
			{"MemberId":"1","Name":"Absent","Status":{"State":"Absent"}}],
			"Fans":[{"MemberId":"0","FanName":"Fan 1","Reading":41.7,"ReadingUnits":"Percent","Status":{"Health":"Warning"}}]}`
		if err := json.Unmarshal([]byte(raw), &th); err != nil {
			t.Fatal(err)
		}
		got := mapLegacyThermal(&th)
		want := []*racktrackv1.Sensor{
			{Name: "CPU1 Temp", Kind: "temperature", Reading: 61.5, Units: "Cel", Health: "OK", PhysicalContext: "CPU", UpperCritical: 95},
			{Name: "Fan 1", Kind: "fan", Reading: 41.7, Units: "%", Health: "Warning"},
		}
		if len(got) != len(want) {
			t.Fatalf("got %d sensors, want %d", len(got), len(want))
		}
		for i := range want {
			if !proto.Equal(got[i], want[i]) {
				t.Errorf("sensor %d = %v, want %v", i, got[i], want[i])
			}
		}
	})
	t.Run("nic adapter from link, trailing slash", func(t *testing.T) {
		var e ethernetInterface
		raw := `{"Id":"NIC.Slot.3-2-1","Name":"NIC in Slot 3 Port 2","MACAddress":"","PermanentMACAddress":"B0-26-28-AA-BB-CC",
			"LinkStatus":"LinkUp","SpeedMbps":25000,"Status":{"Health":"OK","State":"Enabled"},
			"Links":{"NetworkDeviceFunction":{"@odata.id":"/redfish/v1/Chassis/System.Embedded.1/NetworkAdapters/NIC.Slot.3/NetworkDeviceFunctions/NIC.Slot.3-2-1/"}}}`
		if err := json.Unmarshal([]byte(raw), &e); err != nil {
			t.Fatal(err)
		}
		got, _ := mapNIC(&e)
		want := &racktrackv1.NetworkPort{Id: "NIC.Slot.3-2-1", AdapterId: "NIC.Slot.3", Name: "NIC in Slot 3 Port 2",
			MacAddress: "b0:26:28:aa:bb:cc", LinkStatus: "LinkUp", SpeedMbps: 25000, Health: "OK"}
		if !proto.Equal(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		if !sameURI("/redfish/v1/Chassis/1/", "/redfish/v1/Chassis/1") {
			t.Error("sameURI ignores no trailing slash")
		}
	})
	t.Run("content hash ignores the hash field and follows content", func(t *testing.T) {
		a := &racktrackv1.ServerInventory{System: &racktrackv1.SystemInfo{SerialNumber: "X1"}}
		b := proto.CloneOf(a)
		b.ContentHash = "something"
		if contentHash(a) != contentHash(b) {
			t.Error("hash depends on content_hash")
		}
		b.System.SerialNumber = "X2"
		if contentHash(a) == contentHash(b) {
			t.Error("hash ignores the serial number")
		}
	})
}
