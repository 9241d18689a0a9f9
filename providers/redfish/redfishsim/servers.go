package redfishsim

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Server is the state of one simulated server as its BMC reports it. The
// simulator serves exactly these values, so tests compare what a client
// decoded with the Server they gave the simulator.
type Server struct {
	// Profile selects the vendor flavour of the Redfish tree (resource
	// ids, MAC spelling, $expand support, session limit).
	Profile      Profile
	Name         string // host name
	Manufacturer string
	Model        string
	SKU          string
	SerialNumber string
	PartNumber   string
	UUID         string
	AssetTag     string
	BIOSVersion  string
	// PowerState is a Redfish PowerState: On, Off, PoweringOn, PoweringOff.
	PowerState string
	// Health is the Redfish Health of the system: OK, Warning, Critical.
	Health string
	// IndicatorLED is Lit, Blinking or Off.
	IndicatorLED string

	// Rack and RackUnit are the location hints the chassis reports.
	Site     string
	Rack     string
	RackUnit int

	Manager      ManagerInfo
	Adapters     []NetworkAdapter
	NICs         []NIC
	Processors   []Processor
	DIMMs        []DIMM
	Storage      []StorageController
	PSUs         []PSU
	Firmware     []FirmwareItem
	Fans         []Fan
	Temperatures []Temperature
	// PowerConsumedWatts is the chassis power reading.
	PowerConsumedWatts float64

	// Boot is the one-time boot override.
	Boot BootOverride
	// BIOSAttributes are the current BIOS settings (Bios resource).
	BIOSAttributes map[string]string
	// BIOSPending are settings written to Bios/Settings that take effect
	// at the next reset.
	BIOSPending map[string]string
}

// ManagerInfo describes the BMC itself. Its IP address is the address the
// simulator listens on for this server.
type ManagerInfo struct {
	Model           string
	FirmwareVersion string
	// MACAddress is lower-case, colon separated.
	MACAddress string
	UUID       string
}

// NIC is one server Ethernet interface.
type NIC struct {
	ID        string
	AdapterID string // id of the NetworkAdapter it belongs to
	// MACAddress is lower-case, colon separated; profiles that spell MACs
	// in upper case convert when serving.
	MACAddress string
	SpeedMbps  int
	// LinkStatus is LinkUp, LinkDown or NoLink.
	LinkStatus string
}

// NetworkAdapter is a NIC card or LOM in the chassis.
type NetworkAdapter struct {
	ID              string
	Manufacturer    string
	Model           string
	SerialNumber    string
	PartNumber      string
	FirmwareVersion string
}

// Processor is one CPU socket.
type Processor struct {
	ID           string
	Socket       string
	Manufacturer string
	Model        string
	Cores        int
	Threads      int
	MaxSpeedMHz  int
	Health       string
}

// DIMM is one memory module.
type DIMM struct {
	ID           string
	Slot         string
	CapacityMiB  int
	MemoryType   string // DDR4, DDR5
	SpeedMHz     int
	Manufacturer string
	PartNumber   string
	SerialNumber string
	Health       string
}

// StorageController is one Redfish Storage resource with its controller and drives.
type StorageController struct {
	ID              string
	Name            string
	Manufacturer    string
	Model           string
	FirmwareVersion string
	SerialNumber    string
	Health          string
	Drives          []Drive
}

// Drive is one disk.
type Drive struct {
	ID              string
	Manufacturer    string
	Model           string
	SerialNumber    string
	CapacityBytes   int64
	MediaType       string // HDD, SSD
	Protocol        string // SATA, SAS, NVMe
	FirmwareVersion string
	Health          string
}

// PSU is one power supply.
type PSU struct {
	ID              string
	Manufacturer    string
	Model           string
	SerialNumber    string
	PartNumber      string
	FirmwareVersion string
	CapacityWatts   float64
	Health          string
}

// FirmwareItem is one entry of the UpdateService firmware inventory.
type FirmwareItem struct {
	ID         string
	Name       string
	Version    string
	Updateable bool
}

// Fan is one fan sensor.
type Fan struct {
	Name string
	RPM  float64
}

// Temperature is one temperature sensor.
type Temperature struct {
	Name            string
	PhysicalContext string // CPU, Intake, Exhaust, SystemBoard ...
	Celsius         float64
	UpperCritical   float64
}

// BootOverride is the ComputerSystem Boot override state.
type BootOverride struct {
	// Target is a BootSourceOverrideTarget: None, Pxe, Hdd, Cd, BiosSetup.
	Target string
	// Enabled is Disabled, Once or Continuous.
	Enabled string
}

// Clone returns a deep copy, so callers can keep a snapshot while the
// simulator goes on changing its own copy.
func (s Server) Clone() Server {
	c := s
	c.Adapters = slices.Clone(s.Adapters)
	c.NICs = slices.Clone(s.NICs)
	c.Processors = slices.Clone(s.Processors)
	c.DIMMs = slices.Clone(s.DIMMs)
	c.Storage = slices.Clone(s.Storage)
	for i := range c.Storage {
		c.Storage[i].Drives = slices.Clone(s.Storage[i].Drives)
	}
	c.PSUs = slices.Clone(s.PSUs)
	c.Firmware = slices.Clone(s.Firmware)
	c.Fans = slices.Clone(s.Fans)
	c.Temperatures = slices.Clone(s.Temperatures)
	c.BIOSAttributes = maps.Clone(s.BIOSAttributes)
	c.BIOSPending = maps.Clone(s.BIOSPending)
	return c
}

// vendorModel is what GenerateServers gives a server of each profile.
type vendorModel struct {
	manufacturer, model, sku, bios, bmcModel, bmcFirmware, serialPrefix string
	cpuVendor, cpuModel                                                 string
	cores                                                               int
	dimmType                                                            string
	dimmMHz                                                             int
}

var vendorModels = map[Profile]vendorModel{
	ProfileGeneric:    {"Racktrack Sim", "SimServer 1000", "SIM-1000", "1.0.0", "SimBMC", "1.00", "SIM", "Intel(R) Corporation", "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz", 32, "DDR4", 3200},
	ProfileDell:       {"Dell Inc.", "PowerEdge R650", "0N1K2X", "1.10.2", "14G Monolithic", "6.10.30.00", "D", "Intel(R) Corporation", "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz", 32, "DDR4", 3200},
	ProfileHPE:        {"HPE", "ProLiant DL360 Gen10 Plus", "P55241-B21", "U46 v1.62", "iLO 5", "iLO 5 v2.78", "CZ", "Intel(R) Corporation", "Intel(R) Xeon(R) Silver 4314 CPU @ 2.40GHz", 16, "DDR4", 2933},
	ProfileSupermicro: {"Supermicro", "SYS-620U-TNR", "SYS-620U-TNR", "1.4a", "ASPEED", "01.01.06", "S", "Intel(R) Corporation", "Intel(R) Xeon(R) Gold 5318Y CPU @ 2.10GHz", 24, "DDR4", 2933},
	ProfileLenovo:     {"Lenovo", "ThinkSystem SR650 V2", "7Z73CTO1WW", "AFE120G-1.20", "XClarity Controller", "CDI3A4A 4.20", "J", "Intel(R) Corporation", "Intel(R) Xeon(R) Gold 6330 CPU @ 2.00GHz", 28, "DDR4", 3200},
	ProfileOpenBMC:    {"OpenBMC Community", "Romulus", "ROMULUS-1", "v2.12.0", "OpenBMC", "2.14.0-dev", "OB", "Advanced Micro Devices, Inc.", "AMD EPYC 7443 24-Core Processor", 24, "DDR5", 4800},
}

// generatedProfiles is the order GenerateServers cycles through, so one
// generated rack exercises every vendor flavour.
var generatedProfiles = []Profile{ProfileDell, ProfileHPE, ProfileSupermicro, ProfileLenovo, ProfileOpenBMC}

// GenerateServers returns n servers for one rack. The result depends only on
// its arguments: serials, UUIDs and MAC addresses are derived from
// site/rack/index, so two runs describe the same hardware. Profiles cycle
// through Dell-, HPE-, Supermicro-, Lenovo- and OpenBMC-like flavours.
// MAC addresses are locally administered (02:... for server NICs, 06:...
// for BMCs), lower-case and colon separated.
func GenerateServers(site, rack string, n int) []Server {
	out := make([]Server, 0, n)
	for i := range n {
		out = append(out, generateServer(site, rack, i, generatedProfiles[i%len(generatedProfiles)]))
	}
	return out
}

// GenerateServer returns the server at index i of a rack with the given
// profile; GenerateServers uses it for each slot.
func GenerateServer(site, rack string, i int, p Profile) Server {
	return generateServer(site, rack, i, p)
}

func generateServer(site, rack string, i int, p Profile) Server {
	vm, ok := vendorModels[p]
	if !ok {
		vm = vendorModels[ProfileGeneric]
	}
	seed := sha256.Sum256(fmt.Appendf(nil, "%s/%s/%d", site, rack, i))
	rackHash := sha256.Sum256(fmt.Appendf(nil, "%s/%s", site, rack))
	tag := strings.ToUpper(fmt.Sprintf("%x", seed[:3]))
	name := fmt.Sprintf("%s-%s-%02d", site, rack, i+1)
	mac := func(first byte, idx int) string {
		// first octet: locally administered unicast. Octets 2-3 identify
		// the rack, 4-5 the server, 6 the port.
		return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", first, rackHash[0], rackHash[1], byte(i>>8), byte(i), byte(idx))
	}
	uuid := func(b []byte) string {
		u := slices.Clone(b[:16])
		u[6] = (u[6] & 0x0f) | 0x50 // version 5 style
		u[8] = (u[8] & 0x3f) | 0x80 // RFC 4122 variant
		return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
	}
	bmcSeed := sha256.Sum256(seed[:])
	serial := fmt.Sprintf("%s%s%04d", vm.serialPrefix, tag, i+1)

	s := Server{
		Profile:      p,
		Name:         name,
		Manufacturer: vm.manufacturer,
		Model:        vm.model,
		SKU:          vm.sku,
		SerialNumber: serial,
		PartNumber:   fmt.Sprintf("PN-%s", tag),
		UUID:         uuid(seed[:]),
		AssetTag:     fmt.Sprintf("AT-%s-%s-%02d", strings.ToUpper(site), strings.ToUpper(rack), i+1),
		BIOSVersion:  vm.bios,
		PowerState:   "On",
		Health:       "OK",
		IndicatorLED: "Off",
		Site:         site,
		Rack:         rack,
		RackUnit:     2 + 2*i,
		Manager: ManagerInfo{
			Model:           vm.bmcModel,
			FirmwareVersion: vm.bmcFirmware,
			MACAddress:      mac(0x06, 0),
			UUID:            uuid(bmcSeed[:]),
		},
		Boot:               BootOverride{Target: "None", Enabled: "Disabled"},
		PowerConsumedWatts: float64(180 + int(seed[20])%120),
		BIOSAttributes: map[string]string{
			"BootMode":          "Uefi",
			"SriovGlobalEnable": "Disabled",
			"ProcTurboMode":     "Enabled",
		},
	}
	// Two adapters, two ports each: an embedded LOM and a PCIe card.
	s.Adapters = []NetworkAdapter{
		{ID: "NIC.Embedded.1", Manufacturer: "Broadcom Inc.", Model: "BCM57416 NetXtreme-E 10GBASE-T", SerialNumber: fmt.Sprintf("NE%s%02d", tag, i), PartNumber: "0W23KR", FirmwareVersion: "22.31.6"},
		{ID: "NIC.Slot.1", Manufacturer: "Mellanox Technologies", Model: "ConnectX-6 Lx 25GbE SFP28", SerialNumber: fmt.Sprintf("MT%s%02d", tag, i), PartNumber: "MCX631102AN", FirmwareVersion: "26.36.1010"},
	}
	for a, ad := range s.Adapters {
		for port := range 2 {
			speed := 10000
			if a == 1 {
				speed = 25000
			}
			link := "LinkUp"
			if a == 0 && port == 1 {
				link, speed = "LinkDown", 0
			}
			s.NICs = append(s.NICs, NIC{
				ID:         fmt.Sprintf("%s-%d", ad.ID, port+1),
				AdapterID:  ad.ID,
				MACAddress: mac(0x02, a*2+port),
				SpeedMbps:  speed,
				LinkStatus: link,
			})
		}
	}
	for c := range 2 {
		s.Processors = append(s.Processors, Processor{
			ID: fmt.Sprintf("CPU%d", c+1), Socket: fmt.Sprintf("CPU %d", c+1),
			Manufacturer: vm.cpuVendor, Model: vm.cpuModel,
			Cores: vm.cores, Threads: 2 * vm.cores, MaxSpeedMHz: 3500, Health: "OK",
		})
	}
	for d := range 8 {
		s.DIMMs = append(s.DIMMs, DIMM{
			ID: fmt.Sprintf("DIMM%c%d", 'A'+d/4, d%4+1), Slot: fmt.Sprintf("%c%d", 'A'+d/4, d%4+1),
			CapacityMiB: 32768, MemoryType: vm.dimmType, SpeedMHz: vm.dimmMHz,
			Manufacturer: "Samsung", PartNumber: "M393A4K40EB3-CWE",
			SerialNumber: fmt.Sprintf("%08X", binary.BigEndian.Uint32(seed[4:8])+uint32(d)),
			Health:       "OK",
		})
	}
	raid := StorageController{
		ID: "RAID.Integrated.1-1", Name: "PERC H755 Front", Manufacturer: "Broadcom / LSI",
		Model: "PERC H755 Front", FirmwareVersion: "52.16.1-4405", SerialNumber: fmt.Sprintf("RC%s%02d", tag, i), Health: "OK",
	}
	for d := range 2 {
		raid.Drives = append(raid.Drives, Drive{
			ID: fmt.Sprintf("Disk.Bay.%d", d), Manufacturer: "SEAGATE", Model: "ST2000NM012B",
			SerialNumber: fmt.Sprintf("ZA%s%02d%d", tag, i, d), CapacityBytes: 2000398934016,
			MediaType: "HDD", Protocol: "SAS", FirmwareVersion: "CSL7", Health: "OK",
		})
	}
	nvme := StorageController{
		ID: "NVMe.1", Name: "NVMe Storage", Manufacturer: vm.manufacturer, Model: "NVMe Backplane",
		FirmwareVersion: "1.0", SerialNumber: fmt.Sprintf("NV%s%02d", tag, i), Health: "OK",
		Drives: []Drive{{
			ID: "Disk.NVMe.0", Manufacturer: "Samsung", Model: "MZQL23T8HCLS-00A07",
			SerialNumber: fmt.Sprintf("S6%s%02d", tag, i), CapacityBytes: 3840755982336,
			MediaType: "SSD", Protocol: "NVMe", FirmwareVersion: "GDC5602Q", Health: "OK",
		}},
	}
	s.Storage = []StorageController{raid, nvme}
	for p := range 2 {
		s.PSUs = append(s.PSUs, PSU{
			ID: fmt.Sprintf("PSU%d", p+1), Manufacturer: "Delta", Model: "D1400E-S1",
			SerialNumber: fmt.Sprintf("PS%s%02d%d", tag, i, p), PartNumber: "0NCXTR",
			FirmwareVersion: "00.1B.53", CapacityWatts: 1400, Health: "OK",
		})
	}
	s.Firmware = []FirmwareItem{
		{ID: "BIOS", Name: "BIOS", Version: vm.bios, Updateable: true},
		{ID: "BMC", Name: vm.bmcModel + " firmware", Version: vm.bmcFirmware, Updateable: true},
		{ID: "NIC.Embedded.1", Name: "Broadcom NetXtreme-E", Version: "22.31.6", Updateable: true},
		{ID: "NIC.Slot.1", Name: "Mellanox ConnectX-6 Lx", Version: "26.36.1010", Updateable: true},
		{ID: "RAID.Integrated.1-1", Name: "PERC H755 Front", Version: "52.16.1-4405", Updateable: true},
		{ID: "PSU1", Name: "Power Supply 1", Version: "00.1B.53", Updateable: false},
	}
	s.Fans = []Fan{{Name: "Fan1", RPM: 7200}, {Name: "Fan2", RPM: 7320}, {Name: "Fan3", RPM: 7080}}
	s.Temperatures = []Temperature{
		{Name: "Inlet Temp", PhysicalContext: "Intake", Celsius: 22, UpperCritical: 47},
		{Name: "Exhaust Temp", PhysicalContext: "Exhaust", Celsius: 38, UpperCritical: 75},
		{Name: "CPU1 Temp", PhysicalContext: "CPU", Celsius: float64(50 + int(seed[21])%10), UpperCritical: 95},
		{Name: "CPU2 Temp", PhysicalContext: "CPU", Celsius: float64(50 + int(seed[22])%10), UpperCritical: 95},
	}
	return s
}
