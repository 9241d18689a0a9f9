package redfish

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stmcginnis/gofish/schemas"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/proto"

	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
)

var macForm = regexp.MustCompile(`^([0-9a-f]{2}:){5}[0-9a-f]{2}$`)

// FuzzMapping feeds arbitrary JSON, as a BMC could send it, through every
// decode-and-map step of a poll. Invariants: no panic, MACs are empty or
// lower-case colon form, the result marshals and hashes.
func FuzzMapping(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("redfishsim", "testdata", "mockup-minimal", "redfish", "v1", "*", "*", "index.json"))
	more, _ := filepath.Glob(filepath.Join("redfishsim", "testdata", "mockup-minimal", "redfish", "v1", "*", "*", "*", "*", "index.json"))
	for _, p := range append(seeds, more...) {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		`{"Id":"CPU1","TotalCores":-4,"TotalThreads":1e30,"MaxSpeedMHz":3500,"Status":{"State":"Enabled"}}`,
		`{"Id":"DIMM1","CapacityMiB":-1,"MemoryLocation":{"Slot":-3},"Status":{"Health":"OK"}}`,
		`{"Id":"eth0","MACAddress":"ZZ:ZZ","PermanentMACAddress":"0011.2233.4455","SpeedMbps":10000,"Links":{"NetworkDeviceFunctions":[{"@odata.id":"/NetworkAdapters/x"}]}}`,
		`{"Temperatures":[{"ReadingCelsius":1e308,"UpperThresholdCritical":null}],"Fans":[{"Reading":-1.5}]}`,
		`{"PowerSupplies":[{"MemberId":"0","PowerCapacityWatts":1e40}],"PowerControl":[{"PowerConsumedWatts":250}]}`,
		`{"@odata.id":"/redfish/v1/Systems/1"}`,
		`{"Members":[{"@odata.id":"/a"},{"Id":"b"}],"Members@odata.nextLink":"/next"}`,
		`[]`, `null`, `"x"`, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		inv := &racktrackv1.ServerInventory{}
		var sys schemas.ComputerSystem
		if json.Unmarshal(data, &sys) == nil {
			inv.System = mapSystem(&sys)
		}
		var cpu schemas.Processor
		if json.Unmarshal(data, &cpu) == nil {
			if p, ok := mapProcessor(&cpu); ok {
				inv.Processors = append(inv.Processors, p)
			}
		}
		var mem schemas.Memory
		if json.Unmarshal(data, &mem) == nil {
			if m, ok := mapMemory(&mem); ok {
				inv.Memory = append(inv.Memory, m)
			}
		}
		var st schemas.Storage
		if json.Unmarshal(data, &st) == nil {
			for i := range st.StorageControllers {
				inv.StorageControllers = append(inv.StorageControllers, mapStorageController(st.ID, &st.StorageControllers[i], len(st.StorageControllers)))
			}
		}
		var d schemas.Drive
		if json.Unmarshal(data, &d) == nil {
			if m, ok := mapDrive("s", &d); ok {
				inv.Drives = append(inv.Drives, m)
			}
		}
		var e ethernetInterface
		if json.Unmarshal(data, &e) == nil {
			if n, ok := mapNIC(&e); ok {
				inv.Nics = append(inv.Nics, n)
				if n.MacAddress != "" && !macForm.MatchString(n.MacAddress) {
					t.Fatalf("MAC %q not normalised", n.MacAddress)
				}
			}
		}
		var ch schemas.Chassis
		if json.Unmarshal(data, &ch) == nil {
			inv.Chassis = append(inv.Chassis, mapChassis(&ch))
		}
		var m schemas.Manager
		if json.Unmarshal(data, &m) == nil {
			inv.Manager = mapManager(&m)
			var ei schemas.EthernetInterface
			if json.Unmarshal(data, &ei) == nil {
				if pick := pickBMCInterface([]*schemas.EthernetInterface{&ei}, "127.0.0.1"); pick != nil {
					inv.Manager.MacAddress = normalizeMAC(pick.MACAddress)
					inv.Manager.IpAddress = firstIPv4(pick)
				}
			}
		}
		var pw schemas.Power
		if json.Unmarshal(data, &pw) == nil {
			for i := range pw.PowerSupplies {
				if p, ok := mapLegacyPSU(&pw.PowerSupplies[i]); ok {
					inv.PowerSupplies = append(inv.PowerSupplies, p)
				}
			}
		}
		var psu schemas.PowerSupplyUnit
		if json.Unmarshal(data, &psu) == nil {
			if p, ok := mapPSU(&psu); ok {
				inv.PowerSupplies = append(inv.PowerSupplies, p)
			}
		}
		var fw schemas.SoftwareInventory
		if json.Unmarshal(data, &fw) == nil {
			if i, ok := mapFirmware(&fw); ok {
				inv.Firmware = append(inv.Firmware, i)
			}
		}
		health := &racktrackv1.ServerHealth{}
		var lt legacyThermal
		if json.Unmarshal(data, &lt) == nil {
			health.Sensors = append(health.Sensors, mapLegacyThermal(&lt)...)
		}
		var tm schemas.ThermalMetrics
		if json.Unmarshal(data, &tm) == nil {
			health.Sensors = append(health.Sensors, mapThermalMetrics(&tm)...)
		}
		var fn fan
		if json.Unmarshal(data, &fn) == nil {
			health.Sensors = append(health.Sensors, mapFan(&fn))
		}
		_, _ = isRef(data)
		var page collectionPage
		_ = json.Unmarshal(data, &page)

		sortInventory(inv)
		sortSensors(health.Sensors)
		if h := contentHash(inv); len(h) != 64 {
			t.Fatalf("content hash %q", h)
		}
		if _, err := proto.Marshal(health); err != nil {
			t.Fatalf("health does not marshal: %v", err)
		}
	})
}

// FuzzConfig decodes arbitrary YAML into a Config: errors are fine,
// panics are not, and what decodes must validate or fail cleanly.
func FuzzConfig(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.yml"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("a: &x {b: *x}\n"))
	f.Add([]byte("url: [1, 2]\npassword: {file: {x: 1}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var c Config
		if yaml.Unmarshal(data, &c) == nil {
			_ = c.Validate()
		}
	})
}
