package store

import (
	"slices"
	"time"

	"github.com/racktrack/racktrack/collector/inventory"
	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
)

// provenance is the set of columns every current-state row carries: where
// the fact came from and when.
type provenance struct {
	rack, agentID, source *[]string
	sequence, version     *[]uint64
	observedAt            *[]time.Time
}

func provenanceCols(b *block) provenance {
	return provenance{
		rack:       col[string](b, "rack", 0),
		agentID:    col[string](b, "agent_id", 0),
		source:     col[string](b, "source", 0),
		sequence:   col[uint64](b, "sequence", 0),
		version:    col[uint64](b, "version", 0),
		observedAt: col[time.Time](b, "observed_at", 0),
	}
}

func (p provenance) add(o *racktrackv1.Observation) {
	t, ns := observedAt(o)
	*p.rack = append(*p.rack, o.GetRack())
	*p.agentID = append(*p.agentID, o.GetAgentId())
	*p.source = append(*p.source, SourceName(o.GetSource()))
	*p.sequence = append(*p.sequence, o.GetSequence())
	*p.version = append(*p.version, ns)
	*p.observedAt = append(*p.observedAt, t)
}

// sameKind returns prev if it carries the same payload kind as o, else nil.
func sameKind(prev, o *racktrackv1.Observation) *racktrackv1.Observation {
	if prev != nil && Kind(prev) == Kind(o) {
		return prev
	}
	return nil
}

// componentsBlock has one row per component of each changed server or
// switch inventory, and a present = 0 row per component the previous
// observation had and this one has not.
func componentsBlock(updates []StateUpdate) *block {
	b := &block{}
	site, device := col[string](b, "site", 0), col[string](b, "device", 0)
	component, typ, id := col[string](b, "component", 0), col[string](b, "type", 0), col[string](b, "id", 0)
	name, manufacturer, model := col[string](b, "name", 0), col[string](b, "manufacturer", 0), col[string](b, "model", 0)
	serial, firmware, health := col[string](b, "serial_number", 0), col[string](b, "firmware_version", 0), col[string](b, "health", 0)
	keys, values := col[[]string](b, "facts.key", 0), col[[]string](b, "facts.value", 0)
	present := col[uint8](b, "present", 0)
	prov := provenanceCols(b)
	add := func(o *racktrackv1.Observation, key string, fields map[string]string, here bool) {
		*site = append(*site, o.GetSite())
		*device = append(*device, inventory.Device(o))
		*component = append(*component, key)
		t, i := inventory.SplitComponent(key)
		*typ = append(*typ, t)
		*id = append(*id, i)
		*name = append(*name, fields["name"])
		*manufacturer = append(*manufacturer, fields["manufacturer"])
		*model = append(*model, fields["model"])
		*serial = append(*serial, fields["serial_number"])
		*firmware = append(*firmware, firstOf(fields, "firmware_version", "version", "software_rev", "firmware_rev"))
		*health = append(*health, fields["health"])
		ks := make([]string, 0, len(fields))
		for k := range fields {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		vs := make([]string, len(ks))
		for j, k := range ks {
			vs[j] = fields[k]
		}
		*keys = append(*keys, ks)
		*values = append(*values, vs)
		*present = append(*present, b2u(here))
		prov.add(o)
	}
	for _, up := range updates {
		o := up.Rec.Obs
		if o.GetServerInventory() == nil && o.GetSwitchInventory() == nil {
			continue
		}
		facts := inventory.Flatten(o)
		for _, key := range sortedComponents(facts) {
			add(o, key, facts[key], true)
		}
		if prev := sameKind(up.Prev, o); prev != nil {
			old := inventory.Flatten(prev)
			for _, key := range sortedComponents(old) {
				if _, still := facts[key]; !still {
					add(o, key, old[key], false)
				}
			}
		}
	}
	return b
}

// sortedComponents returns the component keys of f except the device's
// own ("").
func sortedComponents(f inventory.Facts) []string {
	out := make([]string, 0, len(f))
	for k := range f {
		if k != "" {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func firstOf(m map[string]string, keys ...string) string {
	for _, k := range keys {
		if v := m[k]; v != "" {
			return v
		}
	}
	return ""
}

// chassisEntity is the first entity of class chassis, which carries the
// switch's model, serial and software.
func chassisEntity(sw *racktrackv1.SwitchInventory) *racktrackv1.Entity {
	for _, e := range sw.GetEntities() {
		if e.GetClass() == "chassis" {
			return e
		}
	}
	return nil
}

func switchesBlock(updates []StateUpdate) *block {
	n := 0
	for _, up := range updates {
		if up.Rec.Obs.GetSwitchInventory() != nil {
			n++
		}
	}
	b := sized(n)
	str := func(n string) *[]string { return col[string](b, n, 0) }
	site, device := str("site"), str("device")
	name, descr, oid, contact, location := str("sys_name"), str("sys_descr"), str("sys_object_id"), str("sys_contact"), str("sys_location")
	manufacturer, model, serial, software := str("manufacturer"), str("model"), str("serial_number"), str("software_version")
	prov := provenanceCols(b)
	for _, up := range updates {
		o := up.Rec.Obs
		sw := o.GetSwitchInventory()
		if sw == nil {
			continue
		}
		ch := chassisEntity(sw)
		*site = append(*site, o.GetSite())
		*device = append(*device, inventory.Device(o))
		*name = append(*name, sw.GetSysName())
		*descr = append(*descr, sw.GetSysDescr())
		*oid = append(*oid, sw.GetSysObjectId())
		*contact = append(*contact, sw.GetSysContact())
		*location = append(*location, sw.GetSysLocation())
		*manufacturer = append(*manufacturer, ch.GetManufacturer())
		*model = append(*model, ch.GetModel())
		*serial = append(*serial, ch.GetSerialNumber())
		*software = append(*software, ch.GetSoftwareRev())
		prov.add(o)
	}
	return b
}

func interfacesBlock(updates []StateUpdate) *block {
	b := &block{}
	site, device, name := col[string](b, "site", 0), col[string](b, "device", 0), col[string](b, "name", 0)
	ifIndex, ifType, mtu := col[int32](b, "if_index", 0), col[int32](b, "if_type", 0), col[int32](b, "mtu", 0)
	descr, alias, mac := col[string](b, "descr", 0), col[string](b, "alias", 0), col[string](b, "mac_address", 0)
	speed := col[uint64](b, "speed_mbps", 0)
	admin, oper := col[string](b, "admin_status", 0), col[string](b, "oper_status", 0)
	present := col[uint8](b, "present", 0)
	prov := provenanceCols(b)
	add := func(o *racktrackv1.Observation, key string, i *racktrackv1.Interface, here bool) {
		*site = append(*site, o.GetSite())
		*device = append(*device, inventory.Device(o))
		*name = append(*name, key)
		*ifIndex = append(*ifIndex, i.GetIfIndex())
		*ifType = append(*ifType, i.GetIfType())
		*mtu = append(*mtu, i.GetMtu())
		*descr = append(*descr, i.GetDescr())
		*alias = append(*alias, i.GetAlias())
		*mac = append(*mac, i.GetMacAddress())
		*speed = append(*speed, i.GetSpeedMbps())
		*admin = append(*admin, i.GetAdminStatus())
		*oper = append(*oper, i.GetOperStatus())
		*present = append(*present, b2u(here))
		prov.add(o)
	}
	for _, up := range updates {
		o := up.Rec.Obs
		t := o.GetInterfaces()
		if t == nil {
			continue
		}
		now := map[string]bool{}
		for _, k := range inventory.Interfaces(t) {
			add(o, k.Key, k.Item, true)
			now[k.Key] = true
		}
		if prev := sameKind(up.Prev, o); prev != nil {
			for _, k := range inventory.Interfaces(prev.GetInterfaces()) {
				if !now[k.Key] {
					add(o, k.Key, k.Item, false)
				}
			}
		}
	}
	return b
}

func lldpBlock(updates []StateUpdate) *block {
	b := &block{}
	str := func(n string) *[]string { return col[string](b, n, 0) }
	site, device, neighbor, localPort := str("site"), str("device"), str("neighbor"), str("local_port")
	localIndex := col[int32](b, "local_port_index", 0)
	chSub, chID, portSub, portID := str("chassis_id_subtype"), str("chassis_id"), str("port_id_subtype"), str("port_id")
	portDescr, sysName, sysDescr, target := str("port_description"), str("system_name"), str("system_description"), str("target")
	mgmt := col[[]string](b, "management_addresses", 0)
	present := col[uint8](b, "present", 0)
	prov := provenanceCols(b)
	add := func(o *racktrackv1.Observation, key string, n *racktrackv1.LLDPNeighbor, here bool) {
		*site = append(*site, o.GetSite())
		*device = append(*device, inventory.Device(o))
		*neighbor = append(*neighbor, key)
		*localPort = append(*localPort, n.GetLocalPort())
		*localIndex = append(*localIndex, n.GetLocalPortIndex())
		*chSub = append(*chSub, n.GetChassisIdSubtype())
		*chID = append(*chID, n.GetChassisId())
		*portSub = append(*portSub, n.GetPortIdSubtype())
		*portID = append(*portID, n.GetPortId())
		*portDescr = append(*portDescr, n.GetPortDescription())
		*sysName = append(*sysName, n.GetSystemName())
		*sysDescr = append(*sysDescr, n.GetSystemDescription())
		*target = append(*target, o.GetTarget())
		*mgmt = append(*mgmt, nonNil(n.GetManagementAddresses()))
		*present = append(*present, b2u(here))
		prov.add(o)
	}
	for _, up := range updates {
		o := up.Rec.Obs
		t := o.GetLldpNeighbors()
		if t == nil {
			continue
		}
		now := map[string]bool{}
		for _, k := range inventory.Neighbors(t) {
			add(o, k.Key, k.Item, true)
			now[k.Key] = true
		}
		if prev := sameKind(up.Prev, o); prev != nil {
			for _, k := range inventory.Neighbors(prev.GetLldpNeighbors()) {
				if !now[k.Key] {
					add(o, k.Key, k.Item, false)
				}
			}
		}
	}
	return b
}

func fdbBlock(updates []StateUpdate) *block {
	b := &block{}
	site, device := col[string](b, "site", 0), col[string](b, "device", 0)
	vlan := col[uint32](b, "vlan", 0)
	mac, port, status := col[string](b, "mac_address", 0), col[string](b, "port_name", 0), col[string](b, "status", 0)
	ifIndex, bridgePort := col[int32](b, "if_index", 0), col[int32](b, "bridge_port", 0)
	present := col[uint8](b, "present", 0)
	prov := provenanceCols(b)
	add := func(o *racktrackv1.Observation, e *racktrackv1.FDBEntry, here bool) {
		*site = append(*site, o.GetSite())
		*device = append(*device, inventory.Device(o))
		*vlan = append(*vlan, e.GetVlan())
		*mac = append(*mac, e.GetMacAddress())
		*port = append(*port, e.GetPortName())
		*status = append(*status, e.GetStatus())
		*ifIndex = append(*ifIndex, e.GetIfIndex())
		*bridgePort = append(*bridgePort, e.GetBridgePort())
		*present = append(*present, b2u(here))
		prov.add(o)
	}
	for _, up := range updates {
		o := up.Rec.Obs
		t := o.GetFdb()
		if t == nil {
			continue
		}
		now := map[string]bool{}
		for _, e := range t.GetEntries() {
			add(o, e, true)
			now[inventory.FDBKey(e)] = true
		}
		if prev := sameKind(up.Prev, o); prev != nil {
			for _, e := range prev.GetFdb().GetEntries() {
				if !now[inventory.FDBKey(e)] {
					add(o, e, false)
				}
			}
		}
	}
	return b
}

func deviceStateBlock(updates []StateUpdate) *block {
	b := sized(len(updates))
	site, device, kind := col[string](b, "site", 0), col[string](b, "device", 0), col[string](b, "kind", 0)
	version, digest, factsHash := col[uint64](b, "version", 0), col[uint64](b, "digest", 0), col[uint64](b, "facts_hash", 0)
	agentID := col[string](b, "agent_id", 0)
	sequence := col[uint64](b, "sequence", 0)
	obsAt := col[time.Time](b, "observed_at", 0)
	payload := col[string](b, "payload", 0)
	for _, up := range updates {
		o := up.Rec.Obs
		t, ns := observedAt(o)
		*site = append(*site, o.GetSite())
		*device = append(*device, inventory.Device(o))
		*kind = append(*kind, Kind(o))
		*version = append(*version, ns)
		*digest = append(*digest, up.Digest)
		*factsHash = append(*factsHash, up.FactsHash)
		*agentID = append(*agentID, o.GetAgentId())
		*sequence = append(*sequence, o.GetSequence())
		*obsAt = append(*obsAt, t)
		*payload = append(*payload, bytesString(up.Rec.Raw))
	}
	return b
}

func serverHealthBlock(recs []Record) *block {
	n := 0
	for _, r := range recs {
		if r.Obs.GetServerHealth() != nil {
			n++
		}
	}
	b := sized(n)
	site, device := col[string](b, "site", 0), col[string](b, "device", 0)
	health, power := col[string](b, "health", 0), col[string](b, "power_state", 0)
	watts := col[float64](b, "power_consumed_watts", 0)
	sensors := col[uint32](b, "sensors", 0)
	prov := provenanceCols(b)
	for _, r := range recs {
		o := r.Obs
		h := o.GetServerHealth()
		if h == nil {
			continue
		}
		*site = append(*site, o.GetSite())
		*device = append(*device, inventory.Device(o))
		*health = append(*health, h.GetHealth())
		*power = append(*power, h.GetPowerState())
		*watts = append(*watts, h.GetPowerConsumedWatts())
		*sensors = append(*sensors, uint32(len(h.GetSensors())))
		prov.add(o)
	}
	return b
}

func sensorsBlock(recs []Record) *block {
	n := 0
	for _, r := range recs {
		n += len(r.Obs.GetServerHealth().GetSensors())
	}
	b := sized(n)
	site, device, name := col[string](b, "site", 0), col[string](b, "device", 0), col[string](b, "name", 0)
	obsAt := col[time.Time](b, "observed_at", 0)
	kind, units, health, pctx := col[string](b, "kind", 0), col[string](b, "units", 0), col[string](b, "health", 0), col[string](b, "physical_context", 0)
	reading, upper := col[float64](b, "reading", 0), col[float64](b, "upper_critical", 0)
	for _, r := range recs {
		o := r.Obs
		h := o.GetServerHealth()
		if h == nil {
			continue
		}
		t, _ := observedAt(o)
		for _, s := range h.GetSensors() {
			*site = append(*site, o.GetSite())
			*device = append(*device, inventory.Device(o))
			*name = append(*name, s.GetName())
			*obsAt = append(*obsAt, t)
			*kind = append(*kind, s.GetKind())
			*units = append(*units, s.GetUnits())
			*health = append(*health, s.GetHealth())
			*pctx = append(*pctx, s.GetPhysicalContext())
			*reading = append(*reading, s.GetReading())
			*upper = append(*upper, s.GetUpperCritical())
		}
	}
	return b
}

func countersBlock(recs []Record) *block {
	n := 0
	for _, r := range recs {
		n += len(r.Obs.GetInterfaces().GetInterfaces())
	}
	b := sized(n)
	site, device, name := col[string](b, "site", 0), col[string](b, "device", 0), col[string](b, "name", 0)
	obsAt := col[time.Time](b, "observed_at", 0)
	u := func(n string) *[]uint64 { return col[uint64](b, n, 0) }
	inOct, outOct, inErr, outErr := u("in_octets"), u("out_octets"), u("in_errors"), u("out_errors")
	inDisc, outDisc, inUni, outUni := u("in_discards"), u("out_discards"), u("in_unicast_packets"), u("out_unicast_packets")
	for _, r := range recs {
		o := r.Obs
		t := o.GetInterfaces()
		if t == nil {
			continue
		}
		at, _ := observedAt(o)
		for _, k := range inventory.Interfaces(t) {
			i := k.Item
			*site = append(*site, o.GetSite())
			*device = append(*device, inventory.Device(o))
			*name = append(*name, k.Key)
			*obsAt = append(*obsAt, at)
			*inOct = append(*inOct, i.GetInOctets())
			*outOct = append(*outOct, i.GetOutOctets())
			*inErr = append(*inErr, i.GetInErrors())
			*outErr = append(*outErr, i.GetOutErrors())
			*inDisc = append(*inDisc, i.GetInDiscards())
			*outDisc = append(*outDisc, i.GetOutDiscards())
			*inUni = append(*inUni, i.GetInUnicastPackets())
			*outUni = append(*outUni, i.GetOutUnicastPackets())
		}
	}
	return b
}
