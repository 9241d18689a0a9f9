package store

import (
	"context"
	"time"
)

// seenTimes returns the provenance of each device's newest observation of
// kind in site.
func (s *Store) seenTimes(ctx context.Context, site, kind string) (map[string]Provenance, error) {
	w := &where{}
	w.eq("site", site)
	w.eq("kind", kind)
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	rows, err := s.conn.Query(ctx, "SELECT device, rack, agent_id, source, sequence, observed_at FROM "+s.t("device_seen")+" FINAL"+w.sql(), w.args...)
	if err != nil {
		return nil, s.opError("select device_seen", err)
	}
	defer rows.Close()
	out := map[string]Provenance{}
	for rows.Next() {
		var (
			d string
			p Provenance
		)
		if err := rows.Scan(&d, &p.Rack, &p.AgentID, &p.Source, &p.Sequence, &p.ObservedAt); err != nil {
			return nil, s.opError("select device_seen", err)
		}
		p.ObservedAt = p.ObservedAt.UTC()
		out[d] = p
	}
	if err := rows.Err(); err != nil {
		return nil, s.opError("select device_seen", err)
	}
	return out, nil
}

// lastSeen replaces p with the provenance of the device's newest
// observation of the kind, when that is newer: a fact confirmed by a later
// observation is as old as that observation.
func lastSeen(seen map[string]Provenance, device string, p *Provenance) {
	p.ObservedAt = p.ObservedAt.UTC()
	if s, ok := seen[device]; ok && s.ObservedAt.After(p.ObservedAt) {
		*p = s
	}
}

// Switch is the current state of one switch.
type Switch struct {
	Site, Device                                 string
	SysName, SysDescr, SysObjectID               string
	SysContact, SysLocation                      string
	Manufacturer, Model, SerialNumber, SWVersion string
	Provenance
	// ChangedAt is when the inventory last changed; Provenance.ObservedAt
	// is when it was last observed.
	ChangedAt time.Time
}

// DeviceFilter selects the devices of a site, a page at a time.
type DeviceFilter struct {
	Site, Device string
	Limit        int
	// After continues after this device (ordering is by device).
	After string
}

// Switches returns the switches matching f, ordered by device.
func (s *Store) Switches(ctx context.Context, f DeviceFilter) ([]Switch, error) {
	w := &where{}
	w.eq("site", f.Site)
	w.eq("device", f.Device)
	if f.After != "" {
		w.add("device > ?", f.After)
	}
	q := `SELECT site, device, sys_name, sys_descr, sys_object_id, sys_contact, sys_location,
		manufacturer, model, serial_number, software_version, rack, agent_id, source, sequence, observed_at
		FROM ` + s.t("switches") + ` FINAL` + w.sql() + ` ORDER BY site, device`
	if f.Limit > 0 {
		q += " LIMIT " + itoa(f.Limit)
	}
	seen, err := s.seenTimes(ctx, f.Site, "switch_inventory")
	if err != nil {
		return nil, err
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	rows, err := s.conn.Query(ctx, q, w.args...)
	if err != nil {
		return nil, s.opError("select switches", err)
	}
	defer rows.Close()
	out := []Switch{}
	for rows.Next() {
		var sw Switch
		if err := rows.Scan(&sw.Site, &sw.Device, &sw.SysName, &sw.SysDescr, &sw.SysObjectID, &sw.SysContact, &sw.SysLocation,
			&sw.Manufacturer, &sw.Model, &sw.SerialNumber, &sw.SWVersion,
			&sw.Rack, &sw.AgentID, &sw.Source, &sw.Sequence, &sw.ChangedAt); err != nil {
			return nil, s.opError("select switches", err)
		}
		sw.ChangedAt = sw.ChangedAt.UTC()
		sw.ObservedAt = sw.ChangedAt
		lastSeen(seen, sw.Device, &sw.Provenance)
		out = append(out, sw)
	}
	if err := rows.Err(); err != nil {
		return nil, s.opError("select switches", err)
	}
	return out, nil
}

// Interface is the current state of one interface of a device.
type Interface struct {
	Site, Device, Name       string
	IfIndex, IfType, MTU     int32
	Descr, Alias, MACAddress string
	SpeedMbps                uint64
	AdminStatus, OperStatus  string
	Provenance
}

// InterfaceFilter selects interfaces, a page at a time (ordering is
// device, name).
type InterfaceFilter struct {
	Site, Device string
	OperStatus   string
	Limit        int
	After        *InterfaceCursor
}

// InterfaceCursor is the position of the last interface of a page.
type InterfaceCursor struct{ Device, Name string }

// Interfaces returns the present interfaces matching f.
func (s *Store) Interfaces(ctx context.Context, f InterfaceFilter) ([]Interface, error) {
	w := &where{}
	w.eq("site", f.Site)
	w.eq("device", f.Device)
	w.eq("oper_status", f.OperStatus)
	w.add("present = 1")
	if a := f.After; a != nil {
		w.add("(device, name) > (?, ?)", a.Device, a.Name)
	}
	q := `SELECT site, device, name, if_index, if_type, mtu, descr, alias, mac_address, speed_mbps,
		admin_status, oper_status, rack, agent_id, source, sequence, observed_at
		FROM ` + s.t("interfaces") + ` FINAL` + w.sql() + ` ORDER BY site, device, name`
	if f.Limit > 0 {
		q += " LIMIT " + itoa(f.Limit)
	}
	seen, err := s.seenTimes(ctx, f.Site, "interfaces")
	if err != nil {
		return nil, err
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	rows, err := s.conn.Query(ctx, q, w.args...)
	if err != nil {
		return nil, s.opError("select interfaces", err)
	}
	defer rows.Close()
	out := []Interface{}
	for rows.Next() {
		var i Interface
		if err := rows.Scan(&i.Site, &i.Device, &i.Name, &i.IfIndex, &i.IfType, &i.MTU, &i.Descr, &i.Alias, &i.MACAddress,
			&i.SpeedMbps, &i.AdminStatus, &i.OperStatus, &i.Rack, &i.AgentID, &i.Source, &i.Sequence, &i.ObservedAt); err != nil {
			return nil, s.opError("select interfaces", err)
		}
		lastSeen(seen, i.Device, &i.Provenance)
		out = append(out, i)
	}
	if err := rows.Err(); err != nil {
		return nil, s.opError("select interfaces", err)
	}
	return out, nil
}

// Neighbor is one LLDP neighbour heard by a device.
type Neighbor struct {
	Site, Device, Neighbor, LocalPort string
	LocalPortIndex                    int32
	ChassisIDSubtype, ChassisID       string
	PortIDSubtype, PortID             string
	PortDescription                   string
	SystemName, SystemDescription     string
	ManagementAddresses               []string
	Target                            string
	Provenance
}

// Neighbors returns the present LLDP neighbours of a site (or of one
// device), ordered by device and neighbour. ObservedAt is when the
// device's neighbour table was last observed.
func (s *Store) Neighbors(ctx context.Context, site, device string) ([]Neighbor, error) {
	w := &where{}
	w.eq("site", site)
	w.eq("device", device)
	w.add("present = 1")
	seen, err := s.seenTimes(ctx, site, "lldp_neighbors")
	if err != nil {
		return nil, err
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	rows, err := s.conn.Query(ctx, `SELECT site, device, neighbor, local_port, local_port_index, chassis_id_subtype, chassis_id,
		port_id_subtype, port_id, port_description, system_name, system_description, management_addresses, target,
		rack, agent_id, source, sequence, observed_at
		FROM `+s.t("lldp_neighbors")+` FINAL`+w.sql()+` ORDER BY site, device, neighbor`, w.args...)
	if err != nil {
		return nil, s.opError("select lldp_neighbors", err)
	}
	defer rows.Close()
	out := []Neighbor{}
	for rows.Next() {
		var n Neighbor
		if err := rows.Scan(&n.Site, &n.Device, &n.Neighbor, &n.LocalPort, &n.LocalPortIndex, &n.ChassisIDSubtype, &n.ChassisID,
			&n.PortIDSubtype, &n.PortID, &n.PortDescription, &n.SystemName, &n.SystemDescription, &n.ManagementAddresses, &n.Target,
			&n.Rack, &n.AgentID, &n.Source, &n.Sequence, &n.ObservedAt); err != nil {
			return nil, s.opError("select lldp_neighbors", err)
		}
		lastSeen(seen, n.Device, &n.Provenance)
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, s.opError("select lldp_neighbors", err)
	}
	return out, nil
}

// FDBEntry is one MAC address learned on a switch port.
type FDBEntry struct {
	Site, Device         string
	VLAN                 uint32
	MACAddress, PortName string
	IfIndex, BridgePort  int32
	Status               string
	Provenance
}

// FDB returns the present FDB entries of a site (or one switch). ObservedAt
// is when the switch's FDB was last observed.
func (s *Store) FDB(ctx context.Context, site, device string) ([]FDBEntry, error) {
	w := &where{}
	w.eq("site", site)
	w.eq("device", device)
	w.add("present = 1")
	seen, err := s.seenTimes(ctx, site, "fdb")
	if err != nil {
		return nil, err
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	rows, err := s.conn.Query(ctx, `SELECT site, device, vlan, mac_address, port_name, if_index, bridge_port, status,
		rack, agent_id, source, sequence, observed_at
		FROM `+s.t("fdb_entries")+` FINAL`+w.sql()+` ORDER BY site, device, vlan, mac_address`, w.args...)
	if err != nil {
		return nil, s.opError("select fdb_entries", err)
	}
	defer rows.Close()
	out := []FDBEntry{}
	for rows.Next() {
		var e FDBEntry
		if err := rows.Scan(&e.Site, &e.Device, &e.VLAN, &e.MACAddress, &e.PortName, &e.IfIndex, &e.BridgePort, &e.Status,
			&e.Rack, &e.AgentID, &e.Source, &e.Sequence, &e.ObservedAt); err != nil {
			return nil, s.opError("select fdb_entries", err)
		}
		lastSeen(seen, e.Device, &e.Provenance)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, s.opError("select fdb_entries", err)
	}
	return out, nil
}

// TargetStatus is whether a target answered its agent's last poll.
type TargetStatus struct {
	Site, AgentID, Target, Rack, Source string
	Sequence                            uint64
	ObservedAt                          time.Time
	Reachable                           bool
	Operation, Error, ErrorKind         string
	LatencyMs, ConsecutiveFailures      uint32
	NextAttempt                         time.Time
	Requests                            uint32
}

// TargetFilter selects target statuses (ordering is agent, target).
type TargetFilter struct {
	Site, AgentID string
	// Reachable, when set, keeps only reachable (true) or unreachable
	// (false) targets.
	Reachable *bool
	Limit     int
	After     *TargetCursor
}

// TargetCursor is the position of the last target of a page.
type TargetCursor struct{ AgentID, Target string }

// TargetStatuses returns the newest status of each target matching f.
func (s *Store) TargetStatuses(ctx context.Context, f TargetFilter) ([]TargetStatus, error) {
	w := &where{}
	w.eq("site", f.Site)
	w.eq("agent_id", f.AgentID)
	if f.Reachable != nil {
		w.add("reachable = ?", b2u(*f.Reachable))
	}
	if a := f.After; a != nil {
		w.add("(agent_id, target) > (?, ?)", a.AgentID, a.Target)
	}
	q := `SELECT site, agent_id, target, rack, source, sequence, observed_at, reachable, operation, error, error_kind,
		latency_ms, consecutive_failures, next_attempt, requests
		FROM ` + s.t("target_status") + ` FINAL` + w.sql() + ` ORDER BY site, agent_id, target`
	if f.Limit > 0 {
		q += " LIMIT " + itoa(f.Limit)
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	rows, err := s.conn.Query(ctx, q, w.args...)
	if err != nil {
		return nil, s.opError("select target_status", err)
	}
	defer rows.Close()
	out := []TargetStatus{}
	for rows.Next() {
		var (
			t         TargetStatus
			reachable uint8
		)
		if err := rows.Scan(&t.Site, &t.AgentID, &t.Target, &t.Rack, &t.Source, &t.Sequence, &t.ObservedAt, &reachable,
			&t.Operation, &t.Error, &t.ErrorKind, &t.LatencyMs, &t.ConsecutiveFailures, &t.NextAttempt, &t.Requests); err != nil {
			return nil, s.opError("select target_status", err)
		}
		t.Reachable = reachable == 1
		t.ObservedAt, t.NextAttempt = t.ObservedAt.UTC(), t.NextAttempt.UTC()
		if t.NextAttempt.Unix() == 0 {
			t.NextAttempt = time.Time{}
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, s.opError("select target_status", err)
	}
	return out, nil
}

// SensorFilter selects sensor readings of one device in [From, To).
type SensorFilter struct {
	Site, Device string
	// Name keeps one sensor; "" keeps all.
	Name     string
	From, To time.Time
	// Step, when positive, averages readings over buckets of Step
	// (the reading's At is the bucket start).
	Step  time.Duration
	Limit int
}

// Reading is one sensor value (or the average over a step).
type Reading struct {
	Name, Kind, Units string
	At                time.Time
	Value             float64
	// Min and Max are the extremes within the step (equal to Value
	// without a step).
	Min, Max float64
	Samples  uint64
}

// Sensors returns readings ordered by sensor name, then time.
func (s *Store) Sensors(ctx context.Context, f SensorFilter) ([]Reading, error) {
	w := &where{}
	w.eq("site", f.Site)
	w.eq("device", f.Device)
	w.eq("name", f.Name)
	if !f.From.IsZero() {
		w.add("observed_at >= toDateTime(?)", f.From.Unix())
	}
	if !f.To.IsZero() {
		w.add("observed_at < toDateTime(?)", f.To.Unix())
	}
	bucket := "observed_at"
	if step := int64(f.Step / time.Second); step > 0 {
		bucket = "toDateTime(intDiv(toUInt32(observed_at), " + itoa(int(step)) + ") * " + itoa(int(step)) + ", 'UTC')"
	}
	q := `SELECT name, any(kind), any(units), ` + bucket + ` AS at, avg(reading), min(reading), max(reading), count()
		FROM ` + s.t("sensor_readings") + ` FINAL` + w.sql() + `
		GROUP BY name, at ORDER BY name, at`
	if f.Limit > 0 {
		q += " LIMIT " + itoa(f.Limit)
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	rows, err := s.conn.Query(ctx, q, w.args...)
	if err != nil {
		return nil, s.opError("select sensor_readings", err)
	}
	defer rows.Close()
	out := []Reading{}
	for rows.Next() {
		var r Reading
		if err := rows.Scan(&r.Name, &r.Kind, &r.Units, &r.At, &r.Value, &r.Min, &r.Max, &r.Samples); err != nil {
			return nil, s.opError("select sensor_readings", err)
		}
		r.At = r.At.UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.opError("select sensor_readings", err)
	}
	return out, nil
}
