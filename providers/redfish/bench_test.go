package redfish

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stmcginnis/gofish/schemas"

	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
	"github.com/racktrack/racktrack/providers/redfish/redfishsim"
)

// BenchmarkPoll polls a simulated BMC of each profile, with and without
// $expand, over real HTTPS on loopback with the session reused. It
// reports requests per poll; ns/op and allocs include the simulator,
// which runs in the same process.
func BenchmarkPoll(b *testing.B) {
	e := startEnv(b, "127.0.4.1", allProfiles())
	for _, bmc := range e.sim.BMCs() {
		for _, mode := range []string{ExpandAuto, ExpandOff} {
			b.Run(fmt.Sprintf("%s/expand=%s", bmc.Server().Profile, mode), func(b *testing.B) {
				c := e.config(bmc.URL)
				c.Expand = mode
				c.RequestsPerSecond = 1e6
				p := newProvider(b, bmc.Name, c)
				if _, err := p.Poll(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				var reqs int
				for b.Loop() {
					res, err := p.Poll(context.Background())
					if err != nil {
						b.Fatal(err)
					}
					reqs = res.Requests
				}
				b.ReportMetric(float64(reqs), "requests/poll")
			})
		}
	}
}

// BenchmarkDecodeMap is the provider's CPU cost per poll without the
// network: decoding and mapping every resource of one simulated server
// (read from a mockup written by the simulator) and hashing the result.
func BenchmarkDecodeMap(b *testing.B) {
	e := startEnv(b, "127.0.4.21", []redfishsim.Server{redfishsim.GenerateServer("lab", "r01", 0, redfishsim.ProfileGeneric)})
	dir := b.TempDir()
	if err := e.sim.BMCs()[0].WriteMockup(dir); err != nil {
		b.Fatal(err)
	}
	read := func(parts ...string) [][]byte {
		pattern := filepath.Join(append([]string{dir, "redfish", "v1"}, parts...)...)
		files, _ := filepath.Glob(pattern)
		var out [][]byte
		for _, f := range files {
			buf, err := os.ReadFile(f)
			if err != nil {
				b.Fatal(err)
			}
			out = append(out, buf)
		}
		if len(out) == 0 {
			b.Fatalf("no files match %s", pattern)
		}
		return out
	}
	sys := read("Systems", "1", "index.json")[0]
	cpus := read("Systems", "1", "Processors", "*", "index.json")
	dimms := read("Systems", "1", "Memory", "*", "index.json")
	drives := read("Systems", "1", "Storage", "*", "Drives", "*", "index.json")
	nics := read("Systems", "1", "EthernetInterfaces", "*", "index.json")
	ch := read("Chassis", "1", "index.json")[0]
	power := read("Chassis", "1", "Power", "index.json")[0]
	thermal := read("Chassis", "1", "Thermal", "index.json")[0]
	fw := read("UpdateService", "FirmwareInventory", "*", "index.json")
	b.ReportAllocs()
	for b.Loop() {
		inv := &racktrackv1.ServerInventory{}
		var s schemas.ComputerSystem
		_ = json.Unmarshal(sys, &s)
		inv.System = mapSystem(&s)
		for _, raw := range cpus {
			var p schemas.Processor
			_ = json.Unmarshal(raw, &p)
			m, _ := mapProcessor(&p)
			inv.Processors = append(inv.Processors, m)
		}
		for _, raw := range dimms {
			var m schemas.Memory
			_ = json.Unmarshal(raw, &m)
			x, _ := mapMemory(&m)
			inv.Memory = append(inv.Memory, x)
		}
		for _, raw := range drives {
			var d schemas.Drive
			_ = json.Unmarshal(raw, &d)
			x, _ := mapDrive("s", &d)
			inv.Drives = append(inv.Drives, x)
		}
		for _, raw := range nics {
			var n ethernetInterface
			_ = json.Unmarshal(raw, &n)
			x, _ := mapNIC(&n)
			inv.Nics = append(inv.Nics, x)
		}
		var c schemas.Chassis
		_ = json.Unmarshal(ch, &c)
		inv.Chassis = append(inv.Chassis, mapChassis(&c))
		var pw schemas.Power
		_ = json.Unmarshal(power, &pw)
		for i := range pw.PowerSupplies {
			x, _ := mapLegacyPSU(&pw.PowerSupplies[i])
			inv.PowerSupplies = append(inv.PowerSupplies, x)
		}
		var th legacyThermal
		_ = json.Unmarshal(thermal, &th)
		_ = mapLegacyThermal(&th)
		for _, raw := range fw {
			var f schemas.SoftwareInventory
			_ = json.Unmarshal(raw, &f)
			x, _ := mapFirmware(&f)
			inv.Firmware = append(inv.Firmware, x)
		}
		sortInventory(inv)
		if h := contentHash(inv); len(h) != 64 {
			b.Fatal("bad hash")
		}
	}
}
