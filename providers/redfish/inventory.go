package redfish

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/stmcginnis/gofish/schemas"
	"golang.org/x/sync/errgroup"

	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
)

// Parts of a poll, as named in Observation.incomplete ("part: reason").
const (
	partProcessors    = "processors"
	partMemory        = "memory"
	partStorage       = "storage"
	partNICs          = "nics"
	partChassis       = "chassis"
	partPowerSupplies = "power_supplies"
	partManager       = "manager"
	partFirmware      = "firmware"
	partSensors       = "sensors"
)

// maxPages bounds Members@odata.nextLink chains.
const maxPages = 64

// reader walks one BMC's tree for one poll.
type reader struct {
	v      view
	exp    *expandPlan
	root   *serviceRoot
	quirk  quirk
	logger *slog.Logger

	mu               sync.Mutex
	incomplete       []string
	healthIncomplete []string
}

// fail records a part that could not be read (inventory or health).
func (r *reader) fail(part string, health bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	msg := part + ": " + err.Error()
	if health {
		r.healthIncomplete = append(r.healthIncomplete, msg)
	} else {
		r.incomplete = append(r.incomplete, msg)
	}
	r.logger.Debug("redfish: part incomplete", "part", part, "err", err)
}

func withQuery(uri, q string) string {
	if q == "" {
		return uri
	}
	if strings.Contains(uri, "?") {
		return uri + "&" + q
	}
	return uri + "?" + q
}

// refusedExpand reports whether err is the BMC refusing a query parameter.
func refusedExpand(err error) bool {
	var se *statusError
	return errors.As(err, &se) && (se.Code == http.StatusBadRequest || se.Code == http.StatusNotImplemented)
}

// get fetches uri expanded depth levels (when the plan allows) into out.
// A BMC that refuses the expanded form is asked again without it, and is
// not asked with $expand again.
func (r *reader) get(uri string, depth int, out any) error {
	if uri == "" {
		return errors.New("no link")
	}
	q := r.exp.query(depth)
	err := getJSON(r.v, withQuery(uri, q), out)
	if err != nil && q != "" && refusedExpand(err) {
		if r.exp.refused.CompareAndSwap(false, true) {
			r.logger.Warn("redfish: BMC refused $expand although its service root advertises it; continuing without", "request", withQuery(uri, q), "err", err)
		}
		return getJSON(r.v, uri, out)
	}
	return err
}

// isRef reports whether raw is only a reference: {"@odata.id": "..."}.
func isRef(raw json.RawMessage) (string, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || len(m) != 1 {
		return "", false
	}
	var id string
	if json.Unmarshal(m["@odata.id"], &id) != nil || id == "" {
		return "", false
	}
	return id, true
}

// resolve returns the resources behind raws, fetching (expanded depth
// levels) those that are only references. On error it returns what it
// could read and the first error.
func (r *reader) resolve(raws []json.RawMessage, depth int) ([]json.RawMessage, error) {
	out := make([]json.RawMessage, len(raws))
	var g errgroup.Group
	g.SetLimit(cap(r.v.c.sem))
	for i, raw := range raws {
		id, ref := isRef(raw)
		if !ref {
			out[i] = raw
			continue
		}
		g.Go(func() error {
			var res json.RawMessage
			if err := r.get(id, depth, &res); err != nil {
				return err
			}
			out[i] = res
			return nil
		})
	}
	err := g.Wait()
	read := out[:0]
	for _, o := range out {
		if o != nil {
			read = append(read, o)
		}
	}
	return read, err
}

// collectionPage is one page of a resource collection.
type collectionPage struct {
	Members  []json.RawMessage
	NextLink string `json:"Members@odata.nextLink"`
}

// collection reads a collection at uri and returns its members, each
// expanded depth-1 levels below the member itself.
func (r *reader) collection(uri string, depth int) ([]json.RawMessage, error) {
	var page collectionPage
	if err := r.get(uri, depth, &page); err != nil {
		return nil, err
	}
	return r.members(page, depth)
}

// members follows nextLinks and resolves the members of a first page.
func (r *reader) members(page collectionPage, depth int) ([]json.RawMessage, error) {
	all := page.Members
	for n, next := 0, page.NextLink; next != ""; n++ {
		if n == maxPages {
			return nil, &opError{Op: opName(http.MethodGet, next), Err: fmt.Errorf("more than %d pages", maxPages)}
		}
		var pg collectionPage
		if err := getJSON(r.v, next, &pg); err != nil {
			return nil, err
		}
		all = append(all, pg.Members...)
		next = pg.NextLink
	}
	return r.resolve(all, depth-1)
}

// subCollection reads a collection that is either a reference or already
// expanded inline.
func (r *reader) subCollection(raw json.RawMessage, depth int) ([]json.RawMessage, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if id, ok := isRef(raw); ok {
		return r.collection(id, depth)
	}
	var page struct {
		collectionPage
		ID string `json:"@odata.id"`
	}
	if err := json.Unmarshal(raw, &page); err != nil {
		return nil, &decodeError{Err: err}
	}
	// Expanded one level short (the BMC caps $levels): the collection came
	// inline with its members as references. One expanded request for the
	// collection beats one request per member.
	if page.ID != "" && len(page.Members) > 1 && r.exp.query(depth) != "" {
		if _, ref := isRef(page.Members[0]); ref {
			return r.collection(page.ID, depth)
		}
	}
	return r.members(page.collectionPage, depth)
}

// subResource decodes a resource that is either a reference or inline.
func (r *reader) subResource(raw json.RawMessage, depth int, out any) error {
	if len(raw) == 0 || string(raw) == "null" {
		return errors.New("no link")
	}
	if id, ok := isRef(raw); ok {
		return r.get(id, depth, out)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return &decodeError{Err: err}
	}
	return nil
}

// decode unmarshals one resource, naming it in the error.
func decode(raw json.RawMessage, out any) error {
	if err := json.Unmarshal(raw, out); err != nil {
		var id struct {
			ID string `json:"@odata.id"`
		}
		_ = json.Unmarshal(raw, &id)
		return &opError{Op: opName(http.MethodGet, id.ID), Err: &decodeError{Err: err}}
	}
	return nil
}

// Navigation properties gofish keeps unexported.
type (
	navSystem struct {
		Processors, Memory, Storage, EthernetInterfaces, Bios json.RawMessage
		Links                                                 struct {
			Chassis, ManagedBy []odataRef
		}
	}
	navChassis struct {
		ODataID                                                              string `json:"@odata.id"`
		Power, Thermal, PowerSubsystem, ThermalSubsystem, EnvironmentMetrics json.RawMessage
	}
	navStorage struct {
		Drives      []json.RawMessage
		Controllers json.RawMessage
	}
	navManager struct {
		EthernetInterfaces json.RawMessage
	}
	navUpdateService struct {
		FirmwareInventory json.RawMessage
	}
	navPowerSubsystem struct {
		PowerSupplies json.RawMessage
	}
	navThermalSubsystem struct {
		Fans, ThermalMetrics json.RawMessage
	}
)

func present(raw json.RawMessage) bool { return len(raw) > 0 && string(raw) != "null" }

// readServer reads the first ComputerSystem and everything around it. An
// error means the system itself could not be read; other failures are
// recorded as incomplete parts.
func (r *reader) readServer() (*racktrackv1.ServerInventory, *racktrackv1.ServerHealth, error) {
	if r.root.Systems.ID == "" {
		return nil, nil, &unsupportedError{msg: "service root has no Systems collection"}
	}
	systems, err := r.collection(r.root.Systems.ID, 1)
	if err != nil {
		return nil, nil, err
	}
	if len(systems) == 0 {
		return nil, nil, &opError{Op: opName(http.MethodGet, r.root.Systems.ID), Err: &unsupportedError{msg: "no ComputerSystem in the collection"}}
	}
	raw := systems[0]
	var sys schemas.ComputerSystem
	var nav navSystem
	if err := decode(raw, &sys); err != nil {
		return nil, nil, err
	}
	if err := decode(raw, &nav); err != nil {
		return nil, nil, err
	}
	inv := &racktrackv1.ServerInventory{System: mapSystem(&sys)}
	health := &racktrackv1.ServerHealth{Health: inv.System.Health, PowerState: inv.System.PowerState}

	var g errgroup.Group
	g.SetLimit(cap(r.v.c.sem))
	g.Go(func() error {
		raws, err := r.subCollection(nav.Processors, 1)
		inv.Processors = mapEach(raws, mapProcessor, r, partProcessors)
		if err != nil {
			r.fail(partProcessors, false, err)
		}
		return nil
	})
	g.Go(func() error {
		raws, err := r.subCollection(nav.Memory, 1)
		inv.Memory = mapEach(raws, mapMemory, r, partMemory)
		if err != nil {
			r.fail(partMemory, false, err)
		}
		return nil
	})
	g.Go(func() error {
		inv.StorageControllers, inv.Drives = r.readStorage(nav.Storage)
		return nil
	})
	g.Go(func() error {
		raws, err := r.subCollection(nav.EthernetInterfaces, 1)
		inv.Nics = mapEach(raws, mapNIC, r, partNICs)
		if err != nil {
			r.fail(partNICs, false, err)
		}
		return nil
	})
	g.Go(func() error {
		r.readChassis(inv, health, nav)
		return nil
	})
	g.Go(func() error {
		inv.Manager = r.readManager(nav)
		return nil
	})
	g.Go(func() error {
		inv.Firmware = r.readFirmware()
		return nil
	})
	_ = g.Wait()

	sortInventory(inv)
	sortSensors(health.Sensors)
	inv.ContentHash = contentHash(inv)
	return inv, health, nil
}

// mapEach decodes and maps every member, recording decode failures.
func mapEach[T any, PT interface{ *T }, R any](raws []json.RawMessage, f func(PT) (R, bool), r *reader, part string) []R {
	var out []R
	for _, raw := range raws {
		v := PT(new(T))
		if err := decode(raw, v); err != nil {
			r.fail(part, false, err)
			continue
		}
		if m, ok := f(v); ok {
			out = append(out, m)
		}
	}
	return out
}

func (r *reader) readStorage(link json.RawMessage) ([]*racktrackv1.StorageController, []*racktrackv1.Drive) {
	if !present(link) {
		return nil, nil
	}
	// Three levels: storage members, their drives and controllers, the
	// controller members.
	raws, err := r.subCollection(link, 3)
	if err != nil {
		r.fail(partStorage, false, err)
	}
	var ctrls []*racktrackv1.StorageController
	var drives []*racktrackv1.Drive
	for _, raw := range raws {
		var st schemas.Storage
		var nav navStorage
		if err := decode(raw, &st); err != nil {
			r.fail(partStorage, false, err)
			continue
		}
		if err := decode(raw, &nav); err != nil {
			r.fail(partStorage, false, err)
			continue
		}
		if len(st.StorageControllers) > 0 {
			for i := range st.StorageControllers {
				ctrls = append(ctrls, mapStorageController(st.ID, &st.StorageControllers[i], len(st.StorageControllers)))
			}
		} else if present(nav.Controllers) {
			craws, err := r.subCollection(nav.Controllers, 1)
			if err != nil {
				r.fail(partStorage, false, err)
			}
			for _, c := range mapEach(craws, func(c *schemas.StorageController) (*schemas.StorageController, bool) { return c, true }, r, partStorage) {
				ctrls = append(ctrls, mapStorageController(st.ID, c, len(craws)))
			}
		}
		draws, err := r.resolve(nav.Drives, 0)
		if err != nil {
			r.fail(partStorage, false, err)
		}
		drives = append(drives, mapEach(draws, func(d *schemas.Drive) (*racktrackv1.Drive, bool) { return mapDrive(st.ID, d) }, r, partStorage)...)
	}
	return ctrls, drives
}

// readChassis reads every chassis, and power supplies and sensors from
// the system's own chassis.
func (r *reader) readChassis(inv *racktrackv1.ServerInventory, health *racktrackv1.ServerHealth, sys navSystem) {
	if r.root.Chassis.ID == "" {
		r.fail(partChassis, false, errors.New("service root has no Chassis collection"))
		return
	}
	raws, err := r.collection(r.root.Chassis.ID, 1)
	if err != nil {
		r.fail(partChassis, false, err)
	}
	var primary *navChassis
	for _, raw := range raws {
		var ch schemas.Chassis
		var nav navChassis
		if err := decode(raw, &ch); err != nil {
			r.fail(partChassis, false, err)
			continue
		}
		if err := decode(raw, &nav); err != nil {
			r.fail(partChassis, false, err)
			continue
		}
		inv.Chassis = append(inv.Chassis, mapChassis(&ch))
		if primary == nil || (len(sys.Links.Chassis) > 0 && sameURI(nav.ODataID, sys.Links.Chassis[0].ID)) {
			primary = &nav
		}
	}
	if primary == nil {
		if err == nil {
			r.fail(partChassis, false, errors.New("no chassis in "+r.root.Chassis.ID))
		}
		return
	}
	modern := present(primary.PowerSubsystem) && present(primary.ThermalSubsystem)
	legacy := present(primary.Power) && present(primary.Thermal)
	if legacy && (!modern || r.quirk.PreferLegacyThermal) {
		r.readLegacyPowerThermal(inv, health, primary)
		return
	}
	if modern {
		r.readSubsystems(inv, health, primary)
		return
	}
	// Neither: the BMC exposes no power or thermal data (some blades and
	// minimal implementations). Nothing is missing that could be read.
}

// sameURI compares two @odata.id values, ignoring a trailing slash.
func sameURI(a, b string) bool {
	return strings.TrimRight(a, "/") == strings.TrimRight(b, "/")
}

func (r *reader) readLegacyPowerThermal(inv *racktrackv1.ServerInventory, health *racktrackv1.ServerHealth, ch *navChassis) {
	var power schemas.Power
	if err := r.subResource(ch.Power, 0, &power); err != nil {
		r.fail(partPowerSupplies, false, err)
	} else {
		for i := range power.PowerSupplies {
			if psu, ok := mapLegacyPSU(&power.PowerSupplies[i]); ok {
				inv.PowerSupplies = append(inv.PowerSupplies, psu)
			}
		}
		for _, pc := range power.PowerControl {
			if pc.PowerConsumedWatts != nil {
				health.PowerConsumedWatts = float64(*pc.PowerConsumedWatts)
				break
			}
		}
	}
	var thermal legacyThermal
	if err := r.subResource(ch.Thermal, 0, &thermal); err != nil {
		r.fail(partSensors, true, err)
		return
	}
	health.Sensors = append(health.Sensors, mapLegacyThermal(&thermal)...)
}

func (r *reader) readSubsystems(inv *racktrackv1.ServerInventory, health *racktrackv1.ServerHealth, ch *navChassis) {
	var ps navPowerSubsystem
	if err := r.subResource(ch.PowerSubsystem, 2, &ps); err != nil {
		r.fail(partPowerSupplies, false, err)
	} else {
		raws, err := r.subCollection(ps.PowerSupplies, 1)
		if err != nil {
			r.fail(partPowerSupplies, false, err)
		}
		inv.PowerSupplies = mapEach(raws, mapPSU, r, partPowerSupplies)
	}
	var ts navThermalSubsystem
	if err := r.subResource(ch.ThermalSubsystem, 2, &ts); err != nil {
		r.fail(partSensors, true, err)
	} else {
		var tm schemas.ThermalMetrics
		if present(ts.ThermalMetrics) {
			if err := r.subResource(ts.ThermalMetrics, 0, &tm); err != nil {
				r.fail(partSensors, true, err)
			} else {
				health.Sensors = append(health.Sensors, mapThermalMetrics(&tm)...)
			}
		}
		raws, err := r.subCollection(ts.Fans, 1)
		if err != nil {
			r.fail(partSensors, true, err)
		}
		for _, raw := range raws {
			var f fan
			if err := decode(raw, &f); err != nil {
				r.fail(partSensors, true, err)
				continue
			}
			health.Sensors = append(health.Sensors, mapFan(&f))
		}
	}
	if present(ch.EnvironmentMetrics) {
		var em schemas.EnvironmentMetrics
		if err := r.subResource(ch.EnvironmentMetrics, 0, &em); err != nil {
			r.fail(partSensors, true, err)
		} else if em.PowerWatts.Reading != nil {
			health.PowerConsumedWatts = *em.PowerWatts.Reading
		}
	}
}

func (r *reader) readManager(sys navSystem) *racktrackv1.Manager {
	uri := ""
	if len(sys.Links.ManagedBy) > 0 {
		uri = sys.Links.ManagedBy[0].ID
	}
	var raw json.RawMessage
	if uri != "" {
		if err := r.get(uri, 0, &raw); err != nil {
			r.fail(partManager, false, err)
			return nil
		}
	} else {
		if r.root.Managers.ID == "" {
			r.fail(partManager, false, errors.New("no manager linked"))
			return nil
		}
		raws, err := r.collection(r.root.Managers.ID, 1)
		if err != nil || len(raws) == 0 {
			r.fail(partManager, false, errors.Join(err, errors.New("no manager")))
			return nil
		}
		raw = raws[0]
	}
	var m schemas.Manager
	var nav navManager
	if err := decode(raw, &m); err != nil {
		r.fail(partManager, false, err)
		return nil
	}
	if err := decode(raw, &nav); err != nil {
		r.fail(partManager, false, err)
		return nil
	}
	out := mapManager(&m)
	raws, err := r.subCollection(nav.EthernetInterfaces, 1)
	if err != nil {
		r.fail(partManager, false, err)
	}
	var ifaces []*schemas.EthernetInterface
	for _, raw := range raws {
		var e schemas.EthernetInterface
		if err := decode(raw, &e); err != nil {
			r.fail(partManager, false, err)
			continue
		}
		ifaces = append(ifaces, &e)
	}
	if e := pickBMCInterface(ifaces, r.v.c.host()); e != nil {
		out.MacAddress = normalizeMAC(e.MACAddress)
		if out.MacAddress == "" {
			out.MacAddress = normalizeMAC(e.PermanentMACAddress)
		}
		out.IpAddress = firstIPv4(e)
	}
	return out
}

func (r *reader) readFirmware() []*racktrackv1.FirmwareItem {
	if r.root.UpdateService.ID == "" {
		return nil
	}
	var us navUpdateService
	if err := r.get(r.root.UpdateService.ID, 2, &us); err != nil {
		r.fail(partFirmware, false, err)
		return nil
	}
	raws, err := r.subCollection(us.FirmwareInventory, 1)
	if err != nil {
		r.fail(partFirmware, false, err)
	}
	return mapEach(raws, mapFirmware, r, partFirmware)
}

// host is the BMC's host as configured (for picking its own interface).
func (c *conn) host() string {
	h := strings.TrimPrefix(strings.TrimPrefix(c.base, "https://"), "http://")
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.HasSuffix(h, "]") {
		h = h[:i]
	}
	return strings.Trim(h, "[]")
}

func (c *conn) rootSnapshot() *serviceRoot {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.root
}
