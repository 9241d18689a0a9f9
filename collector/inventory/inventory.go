// Package inventory turns observations into comparable facts and compares
// them: which device an observation is about, the facts it states, and the
// field-level changes between two observations of the same device.
//
// Everything here is a pure function of its arguments; the ingest stage
// keeps the last-known state and decides what to store.
package inventory

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"time"

	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
)

// Device returns the name of the device an observation is about, unique
// within its site: the target, except for LLDP seen by an agent on its own
// host, where the target is a local interface (eth0 on every host), so the
// device is "<agent_id>/<target>".
func Device(o *racktrackv1.Observation) string {
	if o.GetSource() == racktrackv1.Source_SOURCE_LLDP {
		return o.GetAgentId() + "/" + o.GetTarget()
	}
	return o.GetTarget()
}

// Kinds whose state is tracked (the payload field names).
const (
	KindServerInventory = "server_inventory"
	KindSwitchInventory = "switch_inventory"
	KindInterfaces      = "interfaces"
	KindLLDP            = "lldp_neighbors"
	KindFDB             = "fdb"
)

// Tracked reports whether observations of kind carry inventory state that
// is compared and kept per device.
func Tracked(kind string) bool {
	switch kind {
	case KindServerInventory, KindSwitchInventory, KindInterfaces, KindLLDP, KindFDB:
		return true
	}
	return false
}

// Historied reports whether changes of kind are recorded in the history
// and published as events. FDB tables are tracked (current state) but not
// historied: MAC addresses age out and return all day long.
func Historied(kind string) bool { return Tracked(kind) && kind != KindFDB }

// Facts are what one observation states about a device: component →
// field → value. The component "" is the device itself. Volatile values
// (counters, uptime, TTLs, sensor readings) are not facts.
type Facts map[string]map[string]string

// set records a field, omitting empty values so that "absent" and "empty"
// compare equal.
func (f Facts) set(component, field, value string) {
	m := f[component]
	if m == nil {
		m = map[string]string{}
		f[component] = m
	}
	if value != "" {
		m[field] = value
	}
}

func u(v uint64) string {
	if v == 0 {
		return ""
	}
	return strconv.FormatUint(v, 10)
}

func i32(v int32) string {
	if v == 0 {
		return ""
	}
	return strconv.FormatInt(int64(v), 10)
}

func b(v bool) string {
	if v {
		return "true"
	}
	return ""
}

func f64(v float64) string {
	if v == 0 {
		return ""
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// comp builds a component key, e.g. "memory[DIMM.A3]".
func comp(kind, id string) string { return kind + "[" + id + "]" }

// SplitComponent splits a component key into its type and id:
// "memory[DIMM.A3]" → ("memory", "DIMM.A3"); "manager" → ("manager", "").
func SplitComponent(key string) (typ, id string) {
	typ, rest, ok := strings.Cut(key, "[")
	if !ok {
		return key, ""
	}
	return typ, strings.TrimSuffix(rest, "]")
}

// Flatten returns the facts of o's payload, or nil for a payload that is
// not tracked.
func Flatten(o *racktrackv1.Observation) Facts {
	switch p := o.GetPayload().(type) {
	case *racktrackv1.Observation_ServerInventory:
		return flattenServer(p.ServerInventory)
	case *racktrackv1.Observation_SwitchInventory:
		return flattenSwitch(p.SwitchInventory)
	case *racktrackv1.Observation_Interfaces:
		return flattenInterfaces(p.Interfaces)
	case *racktrackv1.Observation_LldpNeighbors:
		return flattenLLDP(p.LldpNeighbors)
	case *racktrackv1.Observation_Fdb:
		return flattenFDB(p.Fdb)
	}
	return nil
}

// uniqueID returns id, or id#2, id#3 … if id is already in f (two
// components reported with the same id).
func uniqueID(f Facts, kind, id string) string {
	key := comp(kind, id)
	for n := 2; ; n++ {
		if _, dup := f[key]; !dup {
			return key
		}
		key = comp(kind, id+"#"+strconv.Itoa(n))
	}
}

func flattenServer(inv *racktrackv1.ServerInventory) Facts {
	f := Facts{}
	s := inv.GetSystem()
	for _, kv := range [][2]string{
		{"system_id", s.GetId()}, {"manufacturer", s.GetManufacturer()}, {"model", s.GetModel()},
		{"sku", s.GetSku()}, {"serial_number", s.GetSerialNumber()}, {"uuid", s.GetUuid()},
		{"asset_tag", s.GetAssetTag()}, {"bios_version", s.GetBiosVersion()}, {"hostname", s.GetHostname()},
		{"power_state", s.GetPowerState()}, {"health", s.GetHealth()}, {"part_number", s.GetPartNumber()},
		{"system_type", s.GetSystemType()},
	} {
		f.set("", kv[0], kv[1])
	}
	if m := inv.GetManager(); m != nil {
		c := "manager"
		f.set(c, "id", m.GetId())
		f.set(c, "manufacturer", m.GetManufacturer())
		f.set(c, "model", m.GetModel())
		f.set(c, "firmware_version", m.GetFirmwareVersion())
		f.set(c, "mac_address", m.GetMacAddress())
		f.set(c, "ip_address", m.GetIpAddress())
		f.set(c, "uuid", m.GetUuid())
		f.set(c, "health", m.GetHealth())
	}
	for _, x := range inv.GetChassis() {
		c := uniqueID(f, "chassis", x.GetId())
		f.set(c, "chassis_type", x.GetChassisType())
		f.set(c, "manufacturer", x.GetManufacturer())
		f.set(c, "model", x.GetModel())
		f.set(c, "serial_number", x.GetSerialNumber())
		f.set(c, "part_number", x.GetPartNumber())
		f.set(c, "sku", x.GetSku())
		f.set(c, "asset_tag", x.GetAssetTag())
		f.set(c, "rack", x.GetRack())
		f.set(c, "rack_unit", x.GetRackUnit())
		f.set(c, "health", x.GetHealth())
	}
	for _, x := range inv.GetProcessors() {
		c := uniqueID(f, "cpu", x.GetId())
		f.set(c, "socket", x.GetSocket())
		f.set(c, "manufacturer", x.GetManufacturer())
		f.set(c, "model", x.GetModel())
		f.set(c, "cores", u(uint64(x.GetCores())))
		f.set(c, "threads", u(uint64(x.GetThreads())))
		f.set(c, "max_speed_mhz", u(uint64(x.GetMaxSpeedMhz())))
		f.set(c, "health", x.GetHealth())
	}
	for _, x := range inv.GetMemory() {
		c := uniqueID(f, "memory", x.GetId())
		f.set(c, "slot", x.GetSlot())
		f.set(c, "capacity_mib", u(x.GetCapacityMib()))
		f.set(c, "memory_type", x.GetMemoryType())
		f.set(c, "speed_mhz", u(uint64(x.GetSpeedMhz())))
		f.set(c, "manufacturer", x.GetManufacturer())
		f.set(c, "part_number", x.GetPartNumber())
		f.set(c, "serial_number", x.GetSerialNumber())
		f.set(c, "health", x.GetHealth())
	}
	for _, x := range inv.GetStorageControllers() {
		c := uniqueID(f, "storage_controller", x.GetId())
		f.set(c, "name", x.GetName())
		f.set(c, "manufacturer", x.GetManufacturer())
		f.set(c, "model", x.GetModel())
		f.set(c, "firmware_version", x.GetFirmwareVersion())
		f.set(c, "serial_number", x.GetSerialNumber())
		f.set(c, "health", x.GetHealth())
	}
	for _, x := range inv.GetDrives() {
		c := uniqueID(f, "drive", x.GetId())
		f.set(c, "controller_id", x.GetControllerId())
		f.set(c, "manufacturer", x.GetManufacturer())
		f.set(c, "model", x.GetModel())
		f.set(c, "serial_number", x.GetSerialNumber())
		f.set(c, "capacity_bytes", u(x.GetCapacityBytes()))
		f.set(c, "media_type", x.GetMediaType())
		f.set(c, "protocol", x.GetProtocol())
		f.set(c, "firmware_version", x.GetFirmwareVersion())
		f.set(c, "health", x.GetHealth())
	}
	for _, x := range inv.GetNics() {
		c := uniqueID(f, "nic", x.GetId())
		f.set(c, "adapter_id", x.GetAdapterId())
		f.set(c, "name", x.GetName())
		f.set(c, "mac_address", x.GetMacAddress())
		f.set(c, "link_status", x.GetLinkStatus())
		f.set(c, "speed_mbps", u(uint64(x.GetSpeedMbps())))
		f.set(c, "health", x.GetHealth())
	}
	for _, x := range inv.GetPowerSupplies() {
		c := uniqueID(f, "psu", x.GetId())
		f.set(c, "manufacturer", x.GetManufacturer())
		f.set(c, "model", x.GetModel())
		f.set(c, "serial_number", x.GetSerialNumber())
		f.set(c, "part_number", x.GetPartNumber())
		f.set(c, "firmware_version", x.GetFirmwareVersion())
		f.set(c, "capacity_watts", f64(x.GetCapacityWatts()))
		f.set(c, "health", x.GetHealth())
	}
	for _, x := range inv.GetFirmware() {
		c := uniqueID(f, "firmware", x.GetId())
		f.set(c, "name", x.GetName())
		f.set(c, "version", x.GetVersion())
		f.set(c, "updateable", b(x.GetUpdateable()))
	}
	return f
}

func flattenSwitch(sw *racktrackv1.SwitchInventory) Facts {
	f := Facts{}
	f.set("", "sys_name", sw.GetSysName())
	f.set("", "sys_descr", sw.GetSysDescr())
	f.set("", "sys_object_id", sw.GetSysObjectId())
	f.set("", "sys_contact", sw.GetSysContact())
	f.set("", "sys_location", sw.GetSysLocation())
	for _, e := range sw.GetEntities() {
		c := uniqueID(f, "entity", strconv.Itoa(int(e.GetIndex())))
		f.set(c, "class", e.GetClass())
		f.set(c, "descr", e.GetDescr())
		f.set(c, "name", e.GetName())
		f.set(c, "model", e.GetModel())
		f.set(c, "serial_number", e.GetSerialNumber())
		f.set(c, "hardware_rev", e.GetHardwareRev())
		f.set(c, "firmware_rev", e.GetFirmwareRev())
		f.set(c, "software_rev", e.GetSoftwareRev())
		f.set(c, "manufacturer", e.GetManufacturer())
		f.set(c, "contained_in", i32(e.GetContainedIn()))
	}
	return f
}

// InterfaceID names an interface component: its name, or its ifIndex when
// it has none.
func InterfaceID(i *racktrackv1.Interface) string {
	if i.GetName() != "" {
		return i.GetName()
	}
	return "ifIndex " + strconv.Itoa(int(i.GetIfIndex()))
}

func flattenInterfaces(t *racktrackv1.InterfaceTable) Facts {
	f := Facts{}
	for _, k := range Interfaces(t) {
		i := k.Item
		c := comp("interface", k.Key)
		f.set(c, "if_index", i32(i.GetIfIndex()))
		f.set(c, "descr", i.GetDescr())
		f.set(c, "alias", i.GetAlias())
		f.set(c, "if_type", i32(i.GetIfType()))
		f.set(c, "mtu", i32(i.GetMtu()))
		f.set(c, "speed_mbps", u(i.GetSpeedMbps()))
		f.set(c, "mac_address", i.GetMacAddress())
		f.set(c, "admin_status", i.GetAdminStatus())
		f.set(c, "oper_status", i.GetOperStatus())
	}
	return f
}

// Keyed is a table row with the key that names it within its device.
type Keyed[T any] struct {
	Key  string
	Item T
}

// keyed names each item by id(item), adding "#2", "#3" … to repeats.
func keyed[T any](items []T, id func(T) string) []Keyed[T] {
	out := make([]Keyed[T], 0, len(items))
	seen := make(map[string]int, len(items))
	for _, it := range items {
		base := id(it)
		key := base
		if n := seen[base]; n > 0 {
			key = base + "#" + strconv.Itoa(n+1)
		}
		seen[base]++
		out = append(out, Keyed[T]{Key: key, Item: it})
	}
	return out
}

// Interfaces names each interface of t by InterfaceID, made unique.
func Interfaces(t *racktrackv1.InterfaceTable) []Keyed[*racktrackv1.Interface] {
	return keyed(t.GetInterfaces(), InterfaceID)
}

// Neighbors names each LLDP neighbour of t by its local port; a second
// neighbour on the same port gets "#2" and so on, ordered by chassis id
// and port id, so the names do not depend on the order the agent sent.
func Neighbors(t *racktrackv1.LLDPNeighborTable) []Keyed[*racktrackv1.LLDPNeighbor] {
	ns := slices.Clone(t.GetNeighbors())
	slices.SortStableFunc(ns, func(a, b *racktrackv1.LLDPNeighbor) int {
		return cmp.Or(cmp.Compare(a.GetLocalPort(), b.GetLocalPort()), cmp.Compare(a.GetChassisId(), b.GetChassisId()),
			cmp.Compare(a.GetPortId(), b.GetPortId()))
	})
	return keyed(ns, (*racktrackv1.LLDPNeighbor).GetLocalPort)
}

// FDBKey names an FDB entry: "vlan/mac".
func FDBKey(e *racktrackv1.FDBEntry) string {
	return strconv.Itoa(int(e.GetVlan())) + "/" + e.GetMacAddress()
}

func flattenLLDP(t *racktrackv1.LLDPNeighborTable) Facts {
	f := Facts{}
	for _, k := range Neighbors(t) {
		n := k.Item
		c := comp("neighbor", k.Key)
		f.set(c, "chassis_id_subtype", n.GetChassisIdSubtype())
		f.set(c, "chassis_id", n.GetChassisId())
		f.set(c, "port_id_subtype", n.GetPortIdSubtype())
		f.set(c, "port_id", n.GetPortId())
		f.set(c, "port_description", n.GetPortDescription())
		f.set(c, "system_name", n.GetSystemName())
		f.set(c, "management_addresses", strings.Join(n.GetManagementAddresses(), ","))
	}
	return f
}

func flattenFDB(t *racktrackv1.FDBTable) Facts {
	f := Facts{}
	for _, e := range t.GetEntries() {
		c := uniqueID(f, "fdb", FDBKey(e))
		f.set(c, "port_name", e.GetPortName())
		f.set(c, "if_index", i32(e.GetIfIndex()))
		f.set(c, "status", e.GetStatus())
	}
	return f
}

// Hash is a digest of facts, equal for equal facts.
func (f Facts) Hash() uint64 {
	h := fnv.New64a()
	for _, c := range sortedKeys(f) {
		h.Write([]byte(c))
		h.Write([]byte{0})
		fields := f[c]
		for _, k := range sortedKeys(fields) {
			h.Write([]byte(k))
			h.Write([]byte{1})
			h.Write([]byte(fields[k]))
			h.Write([]byte{2})
		}
		h.Write([]byte{3})
	}
	return h.Sum64()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ChangeKind classifies a Change.
type ChangeKind string

// Change kinds.
const (
	// DeviceAppeared: the first observation of a device.
	DeviceAppeared ChangeKind = "device_appeared"
	// ComponentAppeared and ComponentRemoved: a component (a DIMM, a
	// neighbour) is in one observation and not in the other.
	ComponentAppeared ChangeKind = "component_appeared"
	ComponentRemoved  ChangeKind = "component_removed"
	// FieldChanged: a field of a component that is in both.
	FieldChanged ChangeKind = "field_changed"
	// DeviceDisappeared: a device was not observed for longer than the
	// staleness limit. From holds when it was last observed (RFC 3339).
	DeviceDisappeared ChangeKind = "device_disappeared"
)

// Change is one difference between two observations of a device.
type Change struct {
	Kind ChangeKind
	// Component is "" for the device itself, else e.g. "memory[DIMM.A3]".
	Component string
	// Field is the field that changed; "" for a component or device that
	// appeared or was removed.
	Field string
	// From and To are the values before and after; for a component or
	// device that appeared or was removed, its summary (serial number,
	// model, name …) on the side where it exists.
	From, To string
}

// Diff returns the changes from old to new, ordered by component then
// field. A nil old means the device is new: one DeviceAppeared change.
func Diff(old, new Facts) []Change {
	if old == nil {
		return []Change{{Kind: DeviceAppeared, To: Summary(new[""])}}
	}
	var out []Change
	comps := map[string]struct{}{}
	for c := range old {
		comps[c] = struct{}{}
	}
	for c := range new {
		comps[c] = struct{}{}
	}
	for _, c := range sortedKeys(comps) {
		o, inOld := old[c]
		n, inNew := new[c]
		switch {
		case !inOld:
			out = append(out, Change{Kind: ComponentAppeared, Component: c, To: Summary(n)})
		case !inNew:
			out = append(out, Change{Kind: ComponentRemoved, Component: c, From: Summary(o)})
		default:
			fields := map[string]struct{}{}
			for k := range o {
				fields[k] = struct{}{}
			}
			for k := range n {
				fields[k] = struct{}{}
			}
			for _, k := range sortedKeys(fields) {
				if o[k] != n[k] {
					out = append(out, Change{Kind: FieldChanged, Component: c, Field: k, From: o[k], To: n[k]})
				}
			}
		}
	}
	return out
}

// Summary names a component by its most identifying field.
func Summary(fields map[string]string) string {
	for _, k := range []string{"serial_number", "mac_address", "system_name", "sys_name", "port_id", "port_name", "model", "version", "name"} {
		if v := fields[k]; v != "" {
			return v
		}
	}
	return ""
}

// Describe renders a change for people, e.g. "serial_number of
// memory[DIMM.A3] on ams1/bmc-7 changed from A to B at 2026-03-01T12:00:00Z".
func Describe(c Change, site, device string, at time.Time) string {
	where := site + "/" + device
	when := at.UTC().Format(time.RFC3339)
	switch c.Kind {
	case DeviceAppeared:
		return fmt.Sprintf("%s appeared (%s) at %s", where, c.To, when)
	case ComponentAppeared:
		return fmt.Sprintf("%s appeared on %s (%s) at %s", c.Component, where, c.To, when)
	case ComponentRemoved:
		return fmt.Sprintf("%s was removed from %s (was %s) at %s", c.Component, where, c.From, when)
	case DeviceDisappeared:
		return fmt.Sprintf("%s disappeared: not observed since %s (declared at %s)", where, c.From, when)
	}
	of := c.Field
	if c.Component != "" {
		of += " of " + c.Component
	}
	return fmt.Sprintf("%s on %s changed from %q to %q at %s", of, where, c.From, c.To, when)
}
