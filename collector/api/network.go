package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/racktrack/racktrack/collector/store"
	"github.com/racktrack/racktrack/collector/topology"
)

// Switch is one switch in GET /api/v1/switches.
type Switch struct {
	Site            string     `json:"site"`
	Device          string     `json:"device"`
	Rack            string     `json:"rack"`
	SysName         string     `json:"sys_name"`
	SysDescr        string     `json:"sys_descr"`
	SysObjectID     string     `json:"sys_object_id"`
	SysContact      string     `json:"sys_contact"`
	SysLocation     string     `json:"sys_location"`
	Manufacturer    string     `json:"manufacturer"`
	Model           string     `json:"model"`
	SerialNumber    string     `json:"serial_number"`
	SoftwareVersion string     `json:"software_version"`
	ChangedAt       time.Time  `json:"changed_at"`
	Provenance      Provenance `json:"provenance"`
}

// SwitchList is the body of GET /api/v1/switches.
type SwitchList struct {
	Switches   []Switch `json:"switches"`
	Count      int      `json:"count"`
	NextCursor string   `json:"next_cursor,omitempty"`
}

type deviceCursor struct {
	Device string `json:"device"`
}

func (h *Handler) switchJSON(s store.Switch) Switch {
	return Switch{Site: s.Site, Device: s.Device, Rack: s.Rack, SysName: s.SysName, SysDescr: s.SysDescr,
		SysObjectID: s.SysObjectID, SysContact: s.SysContact, SysLocation: s.SysLocation,
		Manufacturer: s.Manufacturer, Model: s.Model, SerialNumber: s.SerialNumber, SoftwareVersion: s.SWVersion,
		ChangedAt:  s.ChangedAt,
		Provenance: h.provenance(s.Source, s.AgentID, s.Device, s.Sequence, s.ObservedAt)}
}

func (h *Handler) switches(w http.ResponseWriter, r *http.Request) {
	p := parse(r, "site", "limit", "cursor")
	f := store.DeviceFilter{Site: p.str("site")}
	limit := p.limit()
	var after deviceCursor
	if p.cursor(&after) {
		f.After = after.Device
	}
	if p.badRequest(w) {
		return
	}
	f.Limit = limit + 1
	list, err := h.opts.Store.Switches(r.Context(), f)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	out := SwitchList{}
	if len(list) > limit {
		list = list[:limit]
		out.NextCursor = encodeCursor(deviceCursor{Device: list[limit-1].Device})
	}
	out.Switches = make([]Switch, len(list))
	out.Count = len(list)
	for i, s := range list {
		out.Switches[i] = h.switchJSON(s)
	}
	writeJSON(w, http.StatusOK, out)
}

// Interface is one interface of a device.
type Interface struct {
	Site        string     `json:"site"`
	Device      string     `json:"device"`
	Name        string     `json:"name"`
	IfIndex     int32      `json:"if_index"`
	Descr       string     `json:"descr"`
	Alias       string     `json:"alias"`
	IfType      int32      `json:"if_type"`
	MTU         int32      `json:"mtu"`
	SpeedMbps   uint64     `json:"speed_mbps"`
	MACAddress  string     `json:"mac_address"`
	AdminStatus string     `json:"admin_status"`
	OperStatus  string     `json:"oper_status"`
	Provenance  Provenance `json:"provenance"`
}

// Neighbor is one LLDP neighbour of a device.
type Neighbor struct {
	LocalPort           string     `json:"local_port"`
	ChassisIDSubtype    string     `json:"chassis_id_subtype"`
	ChassisID           string     `json:"chassis_id"`
	PortIDSubtype       string     `json:"port_id_subtype"`
	PortID              string     `json:"port_id"`
	PortDescription     string     `json:"port_description"`
	SystemName          string     `json:"system_name"`
	ManagementAddresses []string   `json:"management_addresses"`
	Provenance          Provenance `json:"provenance"`
}

// InterfaceList is the body of GET /api/v1/interfaces.
type InterfaceList struct {
	Interfaces []Interface `json:"interfaces"`
	Count      int         `json:"count"`
	NextCursor string      `json:"next_cursor,omitempty"`
}

func (h *Handler) interfaceJSON(i store.Interface) Interface {
	return Interface{Site: i.Site, Device: i.Device, Name: i.Name, IfIndex: i.IfIndex, Descr: i.Descr, Alias: i.Alias,
		IfType: i.IfType, MTU: i.MTU, SpeedMbps: i.SpeedMbps, MACAddress: i.MACAddress,
		AdminStatus: i.AdminStatus, OperStatus: i.OperStatus,
		Provenance: h.provenance(i.Source, i.AgentID, i.Device, i.Sequence, i.ObservedAt)}
}

func (h *Handler) interfaces(w http.ResponseWriter, r *http.Request) {
	p := parse(r, "site", "device", "oper_status", "limit", "cursor")
	f := store.InterfaceFilter{Site: p.str("site"), Device: p.str("device"), OperStatus: p.str("oper_status")}
	limit := p.limit()
	var after store.InterfaceCursor
	if p.cursor(&after) {
		f.After = &after
	}
	if p.badRequest(w) {
		return
	}
	f.Limit = limit + 1
	list, err := h.opts.Store.Interfaces(r.Context(), f)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	out := InterfaceList{}
	if len(list) > limit {
		list = list[:limit]
		last := list[limit-1]
		out.NextCursor = encodeCursor(store.InterfaceCursor{Device: last.Device, Name: last.Name})
	}
	out.Interfaces = make([]Interface, len(list))
	out.Count = len(list)
	for i, x := range list {
		out.Interfaces[i] = h.interfaceJSON(x)
	}
	writeJSON(w, http.StatusOK, out)
}

// SwitchDetail is the body of GET /api/v1/switches/{site}/{device}.
type SwitchDetail struct {
	Switch
	Components []Component `json:"components"`
	Interfaces []Interface `json:"interfaces"`
	Neighbors  []Neighbor  `json:"neighbors"`
	Links      []Link      `json:"links"`
}

func (h *Handler) switchDetail(w http.ResponseWriter, r *http.Request) {
	if parse(r).badRequest(w) {
		return
	}
	site, device := r.PathValue("site"), r.PathValue("device")
	ctx := r.Context()
	list, err := h.opts.Store.Switches(ctx, store.DeviceFilter{Site: site, Device: device})
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	if len(list) == 0 {
		writeError(w, http.StatusNotFound, "no switch "+site+"/"+device)
		return
	}
	out := SwitchDetail{Switch: h.switchJSON(list[0]), Interfaces: []Interface{}, Neighbors: []Neighbor{}}
	comps, err := h.opts.Store.Components(ctx, site, device)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	out.Components = h.components(comps)
	ifs, err := h.opts.Store.Interfaces(ctx, store.InterfaceFilter{Site: site, Device: device})
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	for _, i := range ifs {
		out.Interfaces = append(out.Interfaces, h.interfaceJSON(i))
	}
	ns, err := h.opts.Store.Neighbors(ctx, site, device)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	for _, n := range ns {
		out.Neighbors = append(out.Neighbors, Neighbor{LocalPort: n.LocalPort, ChassisIDSubtype: n.ChassisIDSubtype,
			ChassisID: n.ChassisID, PortIDSubtype: n.PortIDSubtype, PortID: n.PortID, PortDescription: n.PortDescription,
			SystemName: n.SystemName, ManagementAddresses: n.ManagementAddresses,
			Provenance: h.provenance(n.Source, n.AgentID, n.Target, n.Sequence, n.ObservedAt)})
	}
	if out.Links, err = h.links(r, site, device); err != nil {
		h.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// Link is one cable of the map (see package topology for how it is
// decided).
type Link = topology.Link

// Topology is the body of GET /api/v1/topology.
type Topology struct {
	Site string `json:"site"`
	// Device, when given, keeps the links with that device at either end.
	Device string `json:"device,omitempty"`
	Links  []Link `json:"links"`
	// Conflicts counts the links flagged as conflicting.
	Conflicts int `json:"conflicts"`
	// Rules are the precedence and thresholds that decided.
	Rules TopologyRules `json:"rules"`
}

// TopologyRules are the decision rules in effect.
type TopologyRules struct {
	Precedence        []string `json:"precedence"`
	FDBMaxMACsPerPort int      `json:"fdb_max_macs_per_port"`
	StaleAfterSeconds float64  `json:"stale_after_seconds"`
}

func (h *Handler) topology(w http.ResponseWriter, r *http.Request) {
	p := parse(r, "site", "device")
	site, device := p.required("site"), p.str("device")
	if p.badRequest(w) {
		return
	}
	links, err := h.links(r, site, device)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	out := Topology{Site: site, Device: device, Links: links, Rules: TopologyRules{
		Precedence: h.opts.Topology.Precedence, FDBMaxMACsPerPort: h.opts.Topology.FDBMaxMACsPerPort,
		StaleAfterSeconds: h.opts.Topology.StaleAfter.Seconds()}}
	if out.Rules.FDBMaxMACsPerPort == 0 {
		out.Rules.FDBMaxMACsPerPort = 4
	}
	for _, l := range links {
		if l.Conflict {
			out.Conflicts++
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// links builds the site's cable map and keeps the links touching device
// ("" keeps all). A host endpoint "agent/eth0" matches device "agent".
func (h *Handler) links(r *http.Request, site, device string) ([]Link, error) {
	ctx := r.Context()
	in := topology.Input{Now: h.opts.Now()}
	servers, err := h.opts.Store.Servers(ctx, store.ServerFilter{Site: site})
	if err != nil {
		return nil, err
	}
	for _, s := range servers {
		ts := topology.Server{Device: s.Target, Hostname: s.Hostname, ManagerMAC: s.Manager.MACAddress}
		for _, n := range s.NICs {
			ts.NICs = append(ts.NICs, topology.NIC{ID: n.ID, Name: n.Name, MAC: n.MACAddress})
		}
		in.Servers = append(in.Servers, ts)
	}
	switches, err := h.opts.Store.Switches(ctx, store.DeviceFilter{Site: site})
	if err != nil {
		return nil, err
	}
	ifs, err := h.opts.Store.Interfaces(ctx, store.InterfaceFilter{Site: site})
	if err != nil {
		return nil, err
	}
	macs := map[string][]string{}
	for _, i := range ifs {
		if i.MACAddress != "" {
			macs[i.Device] = append(macs[i.Device], i.MACAddress)
		}
	}
	for _, s := range switches {
		in.Switches = append(in.Switches, topology.Switch{Device: s.Device, SysName: s.SysName, PortMACs: macs[s.Device]})
	}
	ns, err := h.opts.Store.Neighbors(ctx, site, "")
	if err != nil {
		return nil, err
	}
	for _, n := range ns {
		in.Neighbors = append(in.Neighbors, topology.Neighbor{Device: n.Device, Source: n.Source, LocalPort: n.LocalPort,
			ChassisSubtype: n.ChassisIDSubtype, ChassisID: n.ChassisID, PortSubtype: n.PortIDSubtype, PortID: n.PortID,
			SystemName: n.SystemName, SeenAt: n.ObservedAt})
	}
	fdb, err := h.opts.Store.FDB(ctx, site, "")
	if err != nil {
		return nil, err
	}
	for _, e := range fdb {
		in.FDB = append(in.FDB, topology.FDBEntry{Device: e.Device, Port: e.PortName, MAC: e.MACAddress, VLAN: e.VLAN, SeenAt: e.ObservedAt})
	}
	all := topology.Build(in, h.opts.Topology)
	out := []Link{}
	for _, l := range all {
		if device == "" || l.A.Device == device || l.B.Device == device || strings.HasPrefix(l.A.Device, device+"/") {
			out = append(out, l)
		}
	}
	return out, nil
}
