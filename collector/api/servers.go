package api

import (
	"net/http"
	"time"

	"github.com/racktrack/racktrack/collector/store"
)

// Server is one server in GET /api/v1/servers.
type Server struct {
	Site         string  `json:"site"`
	Rack         string  `json:"rack"`
	Target       string  `json:"target"`
	AgentID      string  `json:"agent_id"`
	SerialNumber string  `json:"serial_number"`
	UUID         string  `json:"uuid"`
	Manufacturer string  `json:"manufacturer"`
	Model        string  `json:"model"`
	SKU          string  `json:"sku"`
	BIOSVersion  string  `json:"bios_version"`
	PowerState   string  `json:"power_state"`
	Health       string  `json:"health"`
	AssetTag     string  `json:"asset_tag"`
	Hostname     string  `json:"hostname"`
	Manager      Manager `json:"manager"`
	NICs         []NIC   `json:"nics"`
	// ObservedAt is when the inventory was last observed; ChangedAt when
	// it last changed.
	ObservedAt time.Time  `json:"observed_at"`
	ChangedAt  time.Time  `json:"changed_at"`
	Complete   bool       `json:"complete"`
	Incomplete []string   `json:"incomplete"`
	Provenance Provenance `json:"provenance"`
	// HealthProvenance says which observation supplied power_state and
	// health: the newest of the inventory and the health poll.
	HealthProvenance HealthProvenance `json:"health_provenance"`
}

// HealthProvenance is where power_state and health come from.
type HealthProvenance struct {
	Kind               string    `json:"kind"`
	ObservedAt         time.Time `json:"observed_at"`
	PowerConsumedWatts float64   `json:"power_consumed_watts,omitempty"`
}

// Manager is a server's BMC.
type Manager struct {
	Model           string `json:"model"`
	FirmwareVersion string `json:"firmware_version"`
	MACAddress      string `json:"mac_address"`
	IPAddress       string `json:"ip_address"`
}

// NIC is one network port of a server.
type NIC struct {
	ID         string `json:"id"`
	MACAddress string `json:"mac_address"`
	SpeedMbps  uint32 `json:"speed_mbps"`
	LinkStatus string `json:"link_status"`
}

// ServerList is the body of GET /api/v1/servers.
type ServerList struct {
	Servers []Server `json:"servers"`
	Count   int      `json:"count"`
	// NextCursor continues the list; "" on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// serverFilters are the query parameters of GET /api/v1/servers, mapped to
// the store's filter fields.
var serverFilters = []string{"site", "rack", "model", "manufacturer", "serial_number", "bios_version", "bmc_firmware", "health", "power_state"}

func (h *Handler) servers(w http.ResponseWriter, r *http.Request) {
	p := parse(r, append(serverFilters, "limit", "cursor")...)
	f := store.ServerFilter{
		Site: p.str("site"), Rack: p.str("rack"), Model: p.str("model"), Manufacturer: p.str("manufacturer"),
		SerialNumber: p.str("serial_number"), BIOSVersion: p.str("bios_version"), BMCFirmware: p.str("bmc_firmware"),
		Health: p.str("health"), PowerState: p.str("power_state"),
	}
	limit := p.limit()
	var after store.ServerCursor
	if p.cursor(&after) {
		f.After = &after
	}
	if p.badRequest(w) {
		return
	}
	f.Limit = limit + 1
	list, err := h.opts.Store.Servers(r.Context(), f)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	out := ServerList{}
	if len(list) > limit {
		list = list[:limit]
		last := list[limit-1]
		out.NextCursor = encodeCursor(store.ServerCursor{Site: last.Site, Rack: last.Rack, Target: last.Target})
	}
	out.Servers = make([]Server, len(list))
	out.Count = len(list)
	for i, s := range list {
		out.Servers[i] = h.serverJSON(s)
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) serverJSON(s store.Server) Server {
	nics := make([]NIC, len(s.NICs))
	for i, n := range s.NICs {
		nics[i] = NIC{ID: n.ID, MACAddress: n.MACAddress, SpeedMbps: n.SpeedMbps, LinkStatus: n.LinkStatus}
	}
	incomplete := s.Incomplete
	if incomplete == nil {
		incomplete = []string{}
	}
	return Server{
		Site: s.Site, Rack: s.Rack, Target: s.Target, AgentID: s.AgentID,
		SerialNumber: s.SerialNumber, UUID: s.UUID, Manufacturer: s.Manufacturer, Model: s.Model,
		SKU: s.SKU, BIOSVersion: s.BIOSVersion, PowerState: s.PowerState, Health: s.Health,
		AssetTag: s.AssetTag, Hostname: s.Hostname,
		Manager: Manager{Model: s.Manager.Model, FirmwareVersion: s.Manager.FirmwareVersion,
			MACAddress: s.Manager.MACAddress, IPAddress: s.Manager.IPAddress},
		NICs:       nics,
		ObservedAt: s.ObservedAt,
		ChangedAt:  s.ChangedAt,
		Complete:   s.Complete,
		Incomplete: incomplete,
		Provenance: h.provenance(s.Source, s.AgentID, s.Target, s.Sequence, s.ObservedAt),
		HealthProvenance: HealthProvenance{Kind: s.HealthFrom, ObservedAt: s.HealthAt,
			PowerConsumedWatts: s.PowerConsumedWatts},
	}
}

// Component is one part of a server or switch.
type Component struct {
	Component       string            `json:"component"`
	Type            string            `json:"type"`
	ID              string            `json:"id"`
	Name            string            `json:"name,omitempty"`
	Manufacturer    string            `json:"manufacturer,omitempty"`
	Model           string            `json:"model,omitempty"`
	SerialNumber    string            `json:"serial_number,omitempty"`
	FirmwareVersion string            `json:"firmware_version,omitempty"`
	Health          string            `json:"health,omitempty"`
	Facts           map[string]string `json:"facts"`
	// ChangedAt is when the component last changed.
	ChangedAt time.Time `json:"changed_at"`
}

// ServerDetail is the body of GET /api/v1/servers/{site}/{target}.
type ServerDetail struct {
	Server
	Components []Component `json:"components"`
	// Links are the server's cables (see GET /api/v1/topology).
	Links []Link `json:"links"`
}

func (h *Handler) components(cs []store.Component) []Component {
	out := make([]Component, len(cs))
	for i, c := range cs {
		out[i] = Component{Component: c.Component, Type: c.Type, ID: c.ID, Name: c.Name, Manufacturer: c.Manufacturer,
			Model: c.Model, SerialNumber: c.SerialNumber, FirmwareVersion: c.FirmwareVersion, Health: c.Health,
			Facts: c.Facts, ChangedAt: c.ObservedAt}
	}
	return out
}

func (h *Handler) server(w http.ResponseWriter, r *http.Request) {
	if parse(r).badRequest(w) {
		return
	}
	site, target := r.PathValue("site"), r.PathValue("target")
	list, err := h.opts.Store.Servers(r.Context(), store.ServerFilter{Site: site, Target: target})
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	if len(list) == 0 {
		writeError(w, http.StatusNotFound, "no server "+site+"/"+target)
		return
	}
	comps, err := h.opts.Store.Components(r.Context(), site, target)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	links, err := h.links(r, site, target)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ServerDetail{Server: h.serverJSON(list[0]), Components: h.components(comps), Links: links})
}

// Reading is one sensor value, or the average over a step.
type Reading struct {
	At      time.Time `json:"at"`
	Value   float64   `json:"value"`
	Min     float64   `json:"min"`
	Max     float64   `json:"max"`
	Samples uint64    `json:"samples"`
}

// Sensor is one sensor's series.
type Sensor struct {
	Name     string    `json:"name"`
	Kind     string    `json:"kind"`
	Units    string    `json:"units"`
	Readings []Reading `json:"readings"`
}

// SensorSeries is the body of GET /api/v1/servers/{site}/{target}/sensors.
type SensorSeries struct {
	Site    string    `json:"site"`
	Target  string    `json:"target"`
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	Sensors []Sensor  `json:"sensors"`
}

// maxReadings bounds one sensors answer; use ?step= for longer ranges.
const maxReadings = 200_000

func (h *Handler) sensors(w http.ResponseWriter, r *http.Request) {
	p := parse(r, "name", "from", "to", "step")
	name, from, to, step := p.str("name"), p.time("from"), p.time("to"), p.duration("step")
	if p.badRequest(w) {
		return
	}
	now := h.opts.Now().UTC()
	if to.IsZero() {
		to = now
	}
	if from.IsZero() {
		from = to.Add(-24 * time.Hour)
	}
	if !from.Before(to) {
		writeError(w, http.StatusBadRequest, "query parameter \"from\" must be before \"to\"")
		return
	}
	site, target := r.PathValue("site"), r.PathValue("target")
	rs, err := h.opts.Store.Sensors(r.Context(), store.SensorFilter{Site: site, Device: target, Name: name,
		From: from, To: to, Step: step, Limit: maxReadings})
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	out := SensorSeries{Site: site, Target: target, From: from, To: to, Sensors: []Sensor{}}
	for _, rd := range rs {
		if n := len(out.Sensors); n == 0 || out.Sensors[n-1].Name != rd.Name {
			out.Sensors = append(out.Sensors, Sensor{Name: rd.Name, Kind: rd.Kind, Units: rd.Units})
		}
		s := &out.Sensors[len(out.Sensors)-1]
		s.Readings = append(s.Readings, Reading{At: rd.At, Value: rd.Value, Min: rd.Min, Max: rd.Max, Samples: rd.Samples})
	}
	writeJSON(w, http.StatusOK, out)
}
