package redfish

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/stmcginnis/gofish/schemas"
	"google.golang.org/protobuf/proto"

	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
)

// The map functions turn decoded Redfish resources into observation
// messages. They are pure: no I/O, no state; FuzzMapping drives them with
// arbitrary JSON.

// healthOf is the rollup when the BMC gives one, else the resource's own.
func healthOf(s schemas.Status) string {
	if s.HealthRollup != "" {
		return string(s.HealthRollup)
	}
	return string(s.Health)
}

// absent reports a slot the BMC lists without a part in it (empty DIMM
// slots and CPU sockets appear this way on some BMCs).
func absent(s schemas.Status) bool { return s.State == "Absent" }

func trim(s string) string { return strings.TrimSpace(s) }

func u32[T int | uint | float32 | float64](p *T) uint32 {
	if p == nil || *p < 0 || float64(*p) > 4294967295 {
		return 0
	}
	return uint32(*p)
}

func mapSystem(s *schemas.ComputerSystem) *racktrackv1.SystemInfo {
	return &racktrackv1.SystemInfo{
		Id:           s.ID,
		Manufacturer: trim(s.Manufacturer),
		Model:        trim(s.Model),
		Sku:          trim(s.SKU),
		SerialNumber: trim(s.SerialNumber),
		Uuid:         strings.ToLower(trim(s.UUID)),
		AssetTag:     trim(s.AssetTag),
		BiosVersion:  trim(s.BiosVersion),
		Hostname:     trim(s.HostName),
		PowerState:   string(s.PowerState),
		Health:       healthOf(s.Status),
		PartNumber:   trim(s.PartNumber),
		SystemType:   string(s.SystemType),
	}
}

func mapProcessor(p *schemas.Processor) (*racktrackv1.Processor, bool) {
	if absent(p.Status) || (p.ProcessorType != "" && p.ProcessorType != "CPU") {
		return nil, false
	}
	return &racktrackv1.Processor{
		Id:           p.ID,
		Socket:       trim(p.Socket),
		Manufacturer: trim(p.Manufacturer),
		Model:        trim(p.Model),
		Cores:        u32(p.TotalCores),
		Threads:      u32(p.TotalThreads),
		MaxSpeedMhz:  u32(p.MaxSpeedMHz),
		Health:       string(p.Status.Health),
	}, true
}

func mapMemory(m *schemas.Memory) (*racktrackv1.MemoryModule, bool) {
	if absent(m.Status) || (m.CapacityMiB != nil && *m.CapacityMiB == 0) {
		return nil, false
	}
	slot := trim(m.DeviceLocator)
	if slot == "" && m.MemoryLocation.Slot != nil {
		slot = strconv.Itoa(*m.MemoryLocation.Slot)
	}
	var capMiB uint64
	if m.CapacityMiB != nil && *m.CapacityMiB > 0 {
		capMiB = uint64(*m.CapacityMiB)
	}
	return &racktrackv1.MemoryModule{
		Id:           m.ID,
		Slot:         slot,
		CapacityMib:  capMiB,
		MemoryType:   string(m.MemoryDeviceType),
		SpeedMhz:     u32(m.OperatingSpeedMhz),
		Manufacturer: trim(m.Manufacturer),
		PartNumber:   trim(m.PartNumber),
		SerialNumber: trim(m.SerialNumber),
		Health:       string(m.Status.Health),
	}, true
}

// mapStorageController maps one controller of the Storage resource
// storageID; with several controllers their ids are storageID/controller.
func mapStorageController(storageID string, c *schemas.StorageController, n int) *racktrackv1.StorageController {
	id := storageID
	if n > 1 {
		cid := c.ID
		if cid == "" {
			cid = path.Base(c.ODataID)
		}
		id = storageID + "/" + cid
	}
	return &racktrackv1.StorageController{
		Id:              id,
		Name:            trim(c.Name),
		Manufacturer:    trim(c.Manufacturer),
		Model:           trim(c.Model),
		FirmwareVersion: trim(c.FirmwareVersion),
		SerialNumber:    trim(c.SerialNumber),
		Health:          string(c.Status.Health),
	}
}

func mapDrive(storageID string, d *schemas.Drive) (*racktrackv1.Drive, bool) {
	if absent(d.Status) {
		return nil, false
	}
	fw := trim(d.Revision)
	if fw == "" {
		fw = trim(d.FirmwareVersion)
	}
	var capBytes uint64
	if d.CapacityBytes != nil && *d.CapacityBytes > 0 {
		capBytes = uint64(*d.CapacityBytes)
	}
	return &racktrackv1.Drive{
		Id:              d.ID,
		ControllerId:    storageID,
		Manufacturer:    trim(d.Manufacturer),
		Model:           trim(d.Model),
		SerialNumber:    trim(d.SerialNumber),
		CapacityBytes:   capBytes,
		MediaType:       string(d.MediaType),
		Protocol:        string(d.Protocol),
		FirmwareVersion: fw,
		Health:          string(d.Status.Health),
	}, true
}

// nicLinks is what gofish keeps unexported on an EthernetInterface: the
// network device function behind it, whose URI names the adapter
// (/redfish/v1/Chassis/{id}/NetworkAdapters/{adapter}/NetworkDeviceFunctions/{f}).
type nicLinks struct {
	Links struct {
		NetworkDeviceFunctions []odataRef
		NetworkDeviceFunction  odataRef // before EthernetInterface v1.6
	}
}

// ethernetInterface adds the links to gofish's type.
type ethernetInterface struct {
	schemas.EthernetInterface
	links nicLinks
}

func (e *ethernetInterface) UnmarshalJSON(b []byte) error {
	if err := e.EthernetInterface.UnmarshalJSON(b); err != nil {
		return err
	}
	return jsonUnmarshal(b, &e.links)
}

func adapterOf(uri string) string {
	parts := strings.Split(strings.Trim(uri, "/"), "/")
	for i := 0; i+1 < len(parts); i++ {
		if parts[i] == "NetworkAdapters" {
			return parts[i+1]
		}
	}
	return ""
}

func mapNIC(e *ethernetInterface) (*racktrackv1.NetworkPort, bool) {
	if absent(e.Status) {
		return nil, false
	}
	mac := normalizeMAC(e.MACAddress)
	if mac == "" {
		mac = normalizeMAC(e.PermanentMACAddress)
	}
	adapter := ""
	if l := e.links.Links.NetworkDeviceFunctions; len(l) > 0 {
		adapter = adapterOf(l[0].ID)
	} else {
		adapter = adapterOf(e.links.Links.NetworkDeviceFunction.ID)
	}
	return &racktrackv1.NetworkPort{
		Id:         e.ID,
		AdapterId:  adapter,
		Name:       trim(e.Name),
		MacAddress: mac,
		LinkStatus: string(e.LinkStatus),
		SpeedMbps:  u32(e.SpeedMbps),
		Health:     string(e.Status.Health),
	}, true
}

// normalizeMAC returns a MAC as lower-case colon-separated hex
// (aa:bb:cc:dd:ee:ff), accepting colons, dashes, dots or no separators.
// Anything else (or an all-zero address) yields "".
func normalizeMAC(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if hw, err := net.ParseMAC(s); err == nil && len(hw) == 6 {
		return nonZero(hw.String())
	}
	if len(s) == 12 {
		if b, err := hex.DecodeString(s); err == nil {
			return nonZero(net.HardwareAddr(b).String())
		}
	}
	return ""
}

func nonZero(mac string) string {
	if mac == "00:00:00:00:00:00" {
		return ""
	}
	return mac
}

func mapChassis(c *schemas.Chassis) *racktrackv1.Chassis {
	ru := ""
	if c.Location.Placement.RackOffset != nil {
		ru = strconv.Itoa(*c.Location.Placement.RackOffset)
	}
	return &racktrackv1.Chassis{
		Id:           c.ID,
		ChassisType:  string(c.ChassisType),
		Manufacturer: trim(c.Manufacturer),
		Model:        trim(c.Model),
		SerialNumber: trim(c.SerialNumber),
		PartNumber:   trim(c.PartNumber),
		Sku:          trim(c.SKU),
		AssetTag:     trim(c.AssetTag),
		Rack:         trim(c.Location.Placement.Rack),
		RackUnit:     ru,
		Health:       healthOf(c.Status),
	}
}

func mapLegacyPSU(p *schemas.PowerSupply) (*racktrackv1.PowerSupply, bool) {
	if absent(p.Status) {
		return nil, false
	}
	id := p.MemberID
	if id == "" {
		id = p.Name
	}
	var capW float64
	if p.PowerCapacityWatts != nil {
		capW = float64(*p.PowerCapacityWatts)
	}
	return &racktrackv1.PowerSupply{
		Id:              id,
		Manufacturer:    trim(p.Manufacturer),
		Model:           trim(p.Model),
		SerialNumber:    trim(p.SerialNumber),
		PartNumber:      trim(p.PartNumber),
		FirmwareVersion: trim(p.FirmwareVersion),
		CapacityWatts:   capW,
		Health:          string(p.Status.Health),
	}, true
}

func mapPSU(p *schemas.PowerSupplyUnit) (*racktrackv1.PowerSupply, bool) {
	if absent(p.Status) {
		return nil, false
	}
	var capW float64
	if p.PowerCapacityWatts != nil {
		capW = *p.PowerCapacityWatts
	}
	return &racktrackv1.PowerSupply{
		Id:              p.ID,
		Manufacturer:    trim(p.Manufacturer),
		Model:           trim(p.Model),
		SerialNumber:    trim(p.SerialNumber),
		PartNumber:      trim(p.PartNumber),
		FirmwareVersion: trim(p.FirmwareVersion),
		CapacityWatts:   capW,
		Health:          string(p.Status.Health),
	}, true
}

// legacyThermal is Chassis/{id}/Thermal, decoded with float readings (gofish
// types fan readings as integers; some BMCs send fractions).
type legacyThermal struct {
	Temperatures []struct {
		MemberID               string `json:"MemberId"`
		Name                   string
		ReadingCelsius         *float64
		UpperThresholdCritical *float64
		PhysicalContext        string
		Status                 schemas.Status
	}
	Fans []struct {
		MemberID     string `json:"MemberId"`
		Name         string
		FanName      string
		Reading      *float64
		ReadingUnits string
		Status       schemas.Status
	}
}

func deref(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

func mapLegacyThermal(t *legacyThermal) []*racktrackv1.Sensor {
	var out []*racktrackv1.Sensor
	for _, tp := range t.Temperatures {
		if absent(tp.Status) || tp.ReadingCelsius == nil {
			continue
		}
		out = append(out, &racktrackv1.Sensor{
			Name:            cmp.Or(trim(tp.Name), tp.MemberID),
			Kind:            "temperature",
			Reading:         *tp.ReadingCelsius,
			Units:           "Cel",
			Health:          string(tp.Status.Health),
			PhysicalContext: tp.PhysicalContext,
			UpperCritical:   deref(tp.UpperThresholdCritical),
		})
	}
	for _, f := range t.Fans {
		if absent(f.Status) || f.Reading == nil {
			continue
		}
		units := f.ReadingUnits
		if units == "Percent" {
			units = "%"
		}
		out = append(out, &racktrackv1.Sensor{
			Name:    cmp.Or(trim(f.Name), trim(f.FanName), f.MemberID),
			Kind:    "fan",
			Reading: *f.Reading,
			Units:   units,
			Health:  string(f.Status.Health),
		})
	}
	return out
}

func mapThermalMetrics(t *schemas.ThermalMetrics) []*racktrackv1.Sensor {
	var out []*racktrackv1.Sensor
	for _, r := range t.TemperatureReadingsCelsius {
		if r.Reading == nil {
			continue
		}
		out = append(out, &racktrackv1.Sensor{
			Name:            cmp.Or(trim(r.DeviceName), path.Base(r.DataSourceURI)),
			Kind:            "temperature",
			Reading:         *r.Reading,
			Units:           "Cel",
			PhysicalContext: string(r.PhysicalContext),
		})
	}
	return out
}

// fan is a ThermalSubsystem Fan, decoded with float readings.
type fan struct {
	ID           string `json:"Id"`
	Name         string
	Status       schemas.Status
	SpeedPercent struct {
		Reading  *float64
		SpeedRPM *float64
	}
}

func mapFan(f *fan) *racktrackv1.Sensor {
	s := &racktrackv1.Sensor{Name: cmp.Or(trim(f.Name), f.ID), Kind: "fan", Health: string(f.Status.Health)}
	switch {
	case f.SpeedPercent.SpeedRPM != nil:
		s.Reading, s.Units = *f.SpeedPercent.SpeedRPM, "RPM"
	case f.SpeedPercent.Reading != nil:
		s.Reading, s.Units = *f.SpeedPercent.Reading, "%"
	}
	return s
}

func mapManager(m *schemas.Manager) *racktrackv1.Manager {
	return &racktrackv1.Manager{
		Id:              m.ID,
		Manufacturer:    trim(m.Manufacturer),
		Model:           trim(m.Model),
		FirmwareVersion: trim(m.FirmwareVersion),
		Uuid:            strings.ToLower(trim(m.UUID)),
		Health:          string(m.Status.Health),
	}
}

// pickBMCInterface chooses the manager interface that is the BMC's own
// network port: the one carrying the address we talk to, else the first
// enabled one with a MAC.
func pickBMCInterface(ifaces []*schemas.EthernetInterface, host string) *schemas.EthernetInterface {
	for _, e := range ifaces {
		for _, a := range e.IPv4Addresses {
			if a.Address == host {
				return e
			}
		}
	}
	for _, e := range ifaces {
		if normalizeMAC(e.MACAddress) != "" && (e.InterfaceEnabled || e.LinkStatus == "LinkUp") {
			return e
		}
	}
	if len(ifaces) > 0 {
		return ifaces[0]
	}
	return nil
}

func firstIPv4(e *schemas.EthernetInterface) string {
	for _, a := range e.IPv4Addresses {
		if a.Address != "" && a.Address != "0.0.0.0" {
			return a.Address
		}
	}
	return ""
}

func mapFirmware(f *schemas.SoftwareInventory) (*racktrackv1.FirmwareItem, bool) {
	if f.ID == "" && f.Version == "" {
		return nil, false
	}
	return &racktrackv1.FirmwareItem{
		Id:         f.ID,
		Name:       trim(f.Name),
		Version:    trim(f.Version),
		Updateable: f.Updateable,
	}, true
}

// sortInventory orders every list by id, so equal hardware always
// serialises the same way.
func sortInventory(inv *racktrackv1.ServerInventory) {
	slices.SortFunc(inv.Chassis, func(a, b *racktrackv1.Chassis) int { return cmp.Compare(a.Id, b.Id) })
	slices.SortFunc(inv.Processors, func(a, b *racktrackv1.Processor) int { return cmp.Compare(a.Id, b.Id) })
	slices.SortFunc(inv.Memory, func(a, b *racktrackv1.MemoryModule) int { return cmp.Compare(a.Id, b.Id) })
	slices.SortFunc(inv.StorageControllers, func(a, b *racktrackv1.StorageController) int { return cmp.Compare(a.Id, b.Id) })
	slices.SortFunc(inv.Drives, func(a, b *racktrackv1.Drive) int {
		return cmp.Or(cmp.Compare(a.ControllerId, b.ControllerId), cmp.Compare(a.Id, b.Id))
	})
	slices.SortFunc(inv.Nics, func(a, b *racktrackv1.NetworkPort) int {
		return cmp.Or(cmp.Compare(a.Id, b.Id), cmp.Compare(a.MacAddress, b.MacAddress))
	})
	slices.SortFunc(inv.PowerSupplies, func(a, b *racktrackv1.PowerSupply) int { return cmp.Compare(a.Id, b.Id) })
	slices.SortFunc(inv.Firmware, func(a, b *racktrackv1.FirmwareItem) int {
		return cmp.Or(cmp.Compare(a.Id, b.Id), cmp.Compare(a.Version, b.Version))
	})
}

func sortSensors(s []*racktrackv1.Sensor) {
	slices.SortFunc(s, func(a, b *racktrackv1.Sensor) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name))
	})
}

// contentHash is the hex SHA-256 of the deterministic protobuf encoding
// of inv with content_hash cleared.
func contentHash(inv *racktrackv1.ServerInventory) string {
	c := proto.CloneOf(inv)
	c.ContentHash = ""
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

var jsonUnmarshal = json.Unmarshal
