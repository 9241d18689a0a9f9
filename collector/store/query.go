package store

import (
	"context"
	"time"
)

// Server is the current state of one server, as its BMC last reported it.
type Server struct {
	Site, Rack, Target string
	// AgentID, Sequence, Source and ObservedAt are the provenance of the
	// newest inventory observation, which may have confirmed the state
	// without changing it.
	AgentID    string
	Sequence   uint64
	Source     string
	ObservedAt time.Time
	// ChangedAt is when the inventory last changed.
	ChangedAt    time.Time
	Complete     bool
	Incomplete   []string
	SystemID     string
	Manufacturer string
	Model        string
	SKU          string
	SerialNumber string
	UUID         string
	AssetTag     string
	BIOSVersion  string
	Hostname     string
	// PowerState and Health are the newest of the inventory's and the
	// health poll's values (see HealthFrom).
	PowerState string
	Health     string
	// HealthFrom is the kind that supplied PowerState and Health
	// (server_inventory or server_health), HealthAt when it was observed.
	HealthFrom         string
	HealthAt           time.Time
	PowerConsumedWatts float64
	PartNumber         string
	SystemType         string
	Manager            Manager
	NICs               []NIC
	ContentHash        string
}

// Manager is a server's BMC.
type Manager struct {
	ID, Manufacturer, Model, FirmwareVersion, MACAddress, IPAddress, UUID, Health string
}

// NIC is one network port of a server, as its BMC reports it.
type NIC struct {
	ID, AdapterID, Name, MACAddress, LinkStatus string
	SpeedMbps                                   uint32
	Health                                      string
}

// ServerFilter selects servers. Empty fields match everything.
type ServerFilter struct {
	Site, Rack, Target  string
	Model, Manufacturer string
	SerialNumber        string
	BIOSVersion         string
	// BMCFirmware matches the manager's firmware version.
	BMCFirmware string
	// Health and PowerState match the newest values (see Server).
	Health, PowerState string
	// Limit caps the result (0: no limit); After continues after a server
	// (ordering is site, rack, target).
	Limit int
	After *ServerCursor
}

// ServerCursor is the position of the last server of a page.
type ServerCursor struct {
	Site, Rack, Target string
}

// Servers returns the current state of the servers matching f, ordered by
// site, rack and target.
func (s *Store) Servers(ctx context.Context, f ServerFilter) ([]Server, error) {
	inner := &where{}
	inner.eq("site", f.Site)
	inner.eq("rack", f.Rack)
	inner.eq("target", f.Target)
	inner.eq("model", f.Model)
	inner.eq("manufacturer", f.Manufacturer)
	inner.eq("serial_number", f.SerialNumber)
	inner.eq("bios_version", f.BIOSVersion)
	inner.eq("manager_firmware_version", f.BMCFirmware)
	if a := f.After; a != nil {
		inner.add("(site, rack, target) > (?, ?, ?)", a.Site, a.Rack, a.Target)
	}
	side := &where{}
	side.eq("site", f.Site)
	seen := &where{}
	seen.eq("site", f.Site)
	seen.add("kind = 'server_inventory'")
	outer := &where{}
	outer.eq("if(h_version > version, h_health, health)", f.Health)
	outer.eq("if(h_version > version, h_power, power_state)", f.PowerState)

	// Joins nest because ClickHouse 18.16 takes one JOIN per SELECT.
	q := `SELECT site, rack, target, agent_id, sequence, source, observed_at, complete, incomplete,
		system_id, manufacturer, model, sku, serial_number, uuid, asset_tag, bios_version, hostname,
		power_state, health, part_number, system_type,
		manager_id, manager_manufacturer, manager_model, manager_firmware_version,
		manager_mac_address, manager_ip_address, manager_uuid, manager_health,
		nic_id, nic_adapter_id, nic_name, nic_mac_address, nic_link_status, nic_speed_mbps, nic_health,
		content_hash, version, h_health, h_power, h_watts, h_version, h_observed_at,
		seen_at, seen_version, seen_agent, seen_sequence, seen_source
	FROM (
		SELECT * FROM (
			SELECT site, rack, target, agent_id, sequence, source, observed_at, complete, incomplete,
				system_id, manufacturer, model, sku, serial_number, uuid, asset_tag, bios_version, hostname,
				power_state, health, part_number, system_type,
				manager_id, manager_manufacturer, manager_model, manager_firmware_version,
				manager_mac_address, manager_ip_address, manager_uuid, manager_health,
				nics.id AS nic_id, nics.adapter_id AS nic_adapter_id, nics.name AS nic_name,
				nics.mac_address AS nic_mac_address, nics.link_status AS nic_link_status,
				nics.speed_mbps AS nic_speed_mbps, nics.health AS nic_health,
				content_hash, version
			FROM ` + s.t("servers") + ` FINAL` + inner.sql() + `
		) ANY LEFT JOIN (
			SELECT site, device AS target, health AS h_health, power_state AS h_power,
				power_consumed_watts AS h_watts, version AS h_version, observed_at AS h_observed_at
			FROM ` + s.t("server_health") + ` FINAL` + side.sql() + `
		) USING (site, target)
	) ANY LEFT JOIN (
		SELECT site, device AS target, observed_at AS seen_at, version AS seen_version, agent_id AS seen_agent,
			sequence AS seen_sequence, source AS seen_source
		FROM ` + s.t("device_seen") + ` FINAL` + seen.sql() + `
	) USING (site, target)` + outer.sql() + `
	ORDER BY site, rack, target`
	if f.Limit > 0 {
		q += " LIMIT " + itoa(f.Limit)
	}
	args := append(append(append(inner.args, side.args...), seen.args...), outer.args...)
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	rows, err := s.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, s.opError("select servers", err)
	}
	defer rows.Close()
	out := []Server{}
	for rows.Next() {
		var (
			sv                                         Server
			complete                                   uint8
			ids, adapters, names, macs, links, healths []string
			speeds                                     []uint32
			version, hVersion, seenVersion, seenSeq    uint64
			hHealth, hPower, seenAgent, seenSource     string
			hWatts                                     float64
			hAt, seenAt                                time.Time
		)
		m := &sv.Manager
		if err := rows.Scan(&sv.Site, &sv.Rack, &sv.Target, &sv.AgentID, &sv.Sequence, &sv.Source, &sv.ChangedAt,
			&complete, &sv.Incomplete,
			&sv.SystemID, &sv.Manufacturer, &sv.Model, &sv.SKU, &sv.SerialNumber, &sv.UUID, &sv.AssetTag,
			&sv.BIOSVersion, &sv.Hostname, &sv.PowerState, &sv.Health, &sv.PartNumber, &sv.SystemType,
			&m.ID, &m.Manufacturer, &m.Model, &m.FirmwareVersion, &m.MACAddress, &m.IPAddress, &m.UUID, &m.Health,
			&ids, &adapters, &names, &macs, &links, &speeds, &healths,
			&sv.ContentHash, &version, &hHealth, &hPower, &hWatts, &hVersion, &hAt,
			&seenAt, &seenVersion, &seenAgent, &seenSeq, &seenSource); err != nil {
			return nil, s.opError("select servers", err)
		}
		sv.Complete = complete == 1
		sv.ChangedAt = sv.ChangedAt.UTC()
		sv.ObservedAt = sv.ChangedAt
		if seenVersion >= version {
			sv.ObservedAt, sv.AgentID, sv.Sequence, sv.Source = seenAt.UTC(), seenAgent, seenSeq, seenSource
		}
		sv.HealthFrom, sv.HealthAt = "server_inventory", sv.ObservedAt
		if hVersion > version {
			sv.Health, sv.PowerState, sv.PowerConsumedWatts = hHealth, hPower, hWatts
			sv.HealthFrom, sv.HealthAt = "server_health", hAt.UTC()
		}
		sv.NICs = make([]NIC, len(ids))
		for i := range ids {
			sv.NICs[i] = NIC{ID: ids[i], AdapterID: adapters[i], Name: names[i], MACAddress: macs[i],
				LinkStatus: links[i], SpeedMbps: speeds[i], Health: healths[i]}
		}
		out = append(out, sv)
	}
	if err := rows.Err(); err != nil {
		return nil, s.opError("select servers", err)
	}
	return out, nil
}

// CountObservations returns the number of raw observation rows, counting
// duplicates (it reads without FINAL), optionally for one agent.
func (s *Store) CountObservations(ctx context.Context, agentID string) (uint64, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	q := "SELECT count() FROM " + s.t("observations")
	var args []any
	if agentID != "" {
		q += " WHERE agent_id = ?"
		args = append(args, agentID)
	}
	var n uint64
	if err := s.conn.QueryRow(ctx, q, args...).Scan(&n); err != nil {
		return 0, s.opError("count observations", err)
	}
	return n, nil
}
