package collector_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"google.golang.org/protobuf/proto"

	"github.com/racktrack/racktrack/collector/api"
	"github.com/racktrack/racktrack/collector/internal/fixture"
	"github.com/racktrack/racktrack/internal/testenv"
	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
)

// TestInventoryAPI ingests a small site (four servers, one switch with
// interfaces, LLDP and FDB, health polls, target status) over two polling
// rounds, with a DIMM swap and a BIOS upgrade between them, and checks
// every inventory endpoint and the events published.
func TestInventoryAPI(t *testing.T) {
	e := newEnv(t, testenv.SharedClickHouse(t), 4)
	r := e.start(e.config())
	srvs := servers(4)
	for i := range srvs {
		srvs[i].Rack = "r01"
	}
	ports := append(fixture.SwitchPorts(srvs[:3]), fixture.Port{Name: "Gi1/0/24", IfIndex: 10124})
	const sw = "sw-1"

	round := func(seq uint64, edit func(i int, inv *racktrackv1.ServerInventory)) []*racktrackv1.Observation {
		var obs []*racktrackv1.Observation
		for i, s := range srvs {
			o := fixture.Inventory("agent-1", seq+uint64(i), s)
			if edit != nil {
				edit(i, o.GetServerInventory())
			}
			obs = append(obs, o)
		}
		obs = append(obs,
			fixture.Health("agent-1", seq+10, srvs[0], "OK", "On"),
			fixture.TargetStatus("agent-1", seq+11, "ams1", "r01", "bmc-dead", false, "dial tcp 127.0.1.99:443: connect: connection refused"),
			fixture.SwitchInventory("agent-sw", seq, "ams1", "r01", sw, "leaf1"),
			fixture.Interfaces("agent-sw", seq+1, "ams1", "r01", sw, ports),
			fixture.LLDP("agent-sw", seq+2, "ams1", "r01", sw, ports),
			fixture.FDB("agent-sw", seq+3, "ams1", "r01", sw, ports),
		)
		return obs
	}
	first := round(100, nil)
	second := round(200, func(i int, inv *racktrackv1.ServerInventory) {
		switch i {
		case 1:
			inv.Memory[1].SerialNumber = "SWAPPED-A2"
		case 2:
			inv.System.BiosVersion = "1.9.0"
			inv.Firmware[0].Version = "1.9.0"
		}
	})
	e.publish(first...)
	e.waitCount(uint64(len(first)))
	e.publish(second...)
	e.waitCount(uint64(len(first) + len(second)))

	// History of one server: first sight, then the DIMM swap.
	var hist api.History
	getJSON(t, r.url("/api/v1/history?site=ams1&device=bmc-001"), http.StatusOK, &hist)
	var descr []string
	for _, c := range hist.Changes {
		descr = append(descr, c.Description)
	}
	wantDescr := []string{
		"ams1/bmc-001 appeared (SN000002) at 2026-03-01T12:01:41Z",
		`serial_number of memory[DIMM.A2] on ams1/bmc-001 changed from "D000002A2" to "SWAPPED-A2" at 2026-03-01T12:03:21Z`,
	}
	if !slices.Equal(descr, wantDescr) {
		t.Errorf("history of bmc-001:\n got %q\nwant %q", descr, wantDescr)
	}
	if len(hist.Changes) == 2 && (hist.Changes[1].PreviousObservedAt == nil || !hist.Changes[1].PreviousObservedAt.Equal(fixture.Epoch.Add(101*time.Second))) {
		t.Errorf("DIMM swap previous_observed_at = %v, want the first poll", hist.Changes[1].PreviousObservedAt)
	}
	// The site's history after the first round: the BIOS upgrade and the
	// swap, in time order, two entries per page.
	from := url.QueryEscape(fixture.Epoch.Add(150 * time.Second).Format(time.RFC3339))
	var changes []string
	next := ""
	for page := 0; ; page++ {
		var h api.History
		getJSON(t, r.url("/api/v1/history?site=ams1&limit=2&from="+from+next), http.StatusOK, &h)
		for _, c := range h.Changes {
			changes = append(changes, c.Device+" "+c.Component+" "+c.Field+" "+c.From+"→"+c.To)
		}
		if h.NextCursor == "" || page > 5 {
			break
		}
		next = "&cursor=" + h.NextCursor
	}
	wantChanges := []string{
		"bmc-001 memory[DIMM.A2] serial_number D000002A2→SWAPPED-A2",
		"bmc-002  bios_version 1.8.2→1.9.0",
		"bmc-002 firmware[BIOS] version 1.8.2→1.9.0",
	}
	if !slices.Equal(changes, wantChanges) {
		t.Errorf("site history since the first round:\n got %q\nwant %q", changes, wantChanges)
	}

	// The cable map: three servers on Gi1/0/1-3, by LLDP, confirmed by FDB.
	var topo api.Topology
	getJSON(t, r.url("/api/v1/topology?site=ams1"), http.StatusOK, &topo)
	var cables []string
	for _, l := range topo.Links {
		var ev []string
		for _, p := range l.Evidence {
			ev = append(ev, p.Kind)
		}
		cables = append(cables, fmt.Sprintf("%s %s %s ↔ %s %s by %s [%s] conflict=%v stale=%v",
			l.A.Device, l.A.Port, l.A.MAC, l.B.Device, l.B.Port, l.DecidedBy, strings.Join(ev, ","), l.Conflict, l.Stale))
	}
	var wantCables []string
	for i := range 3 {
		wantCables = append(wantCables, fmt.Sprintf("%s NIC.Integrated.1-1 %s ↔ sw-1 Gi1/0/%d by lldp_switch [lldp_switch,fdb] conflict=false stale=true",
			srvs[i].Target, srvs[i].MAC(1), i+1))
	}
	if !slices.Equal(cables, wantCables) {
		t.Errorf("topology:\n got %q\nwant %q", cables, wantCables)
	}
	if topo.Conflicts != 0 || !slices.Equal(topo.Rules.Precedence, []string{"lldp_switch", "lldp_host", "fdb"}) {
		t.Errorf("topology conflicts %d rules %+v", topo.Conflicts, topo.Rules)
	}

	// Switches and their detail.
	var sws api.SwitchList
	getJSON(t, r.url("/api/v1/switches?site=ams1"), http.StatusOK, &sws)
	if sws.Count != 1 || sws.Switches[0].Model != "WS-C3750G-24TS" || sws.Switches[0].SerialNumber != "FOCleaf1" ||
		sws.Switches[0].SysName != "leaf1" || sws.Switches[0].Provenance.Sequence != 200 ||
		!sws.Switches[0].ChangedAt.Equal(fixture.Epoch.Add(100*time.Second)) {
		t.Errorf("switches: %+v", sws)
	}
	var swd api.SwitchDetail
	getJSON(t, r.url("/api/v1/switches/ams1/sw-1"), http.StatusOK, &swd)
	if len(swd.Components) != 2 || len(swd.Interfaces) != 4 || len(swd.Neighbors) != 3 || len(swd.Links) != 3 {
		t.Errorf("switch detail: %d components, %d interfaces, %d neighbours, %d links; want 2, 4, 3, 3",
			len(swd.Components), len(swd.Interfaces), len(swd.Neighbors), len(swd.Links))
	}
	if len(swd.Neighbors) > 0 && (swd.Neighbors[0].LocalPort != "Gi1/0/1" || swd.Neighbors[0].PortID != srvs[0].MAC(1) ||
		!swd.Neighbors[0].Provenance.ObservedAt.Equal(fixture.Epoch.Add(202*time.Second))) {
		t.Errorf("first neighbour: %+v", swd.Neighbors[0])
	}

	// Interfaces, two per page.
	var names []string
	next = ""
	for page := 0; ; page++ {
		var l api.InterfaceList
		getJSON(t, r.url("/api/v1/interfaces?site=ams1&device=sw-1&limit=2"+next), http.StatusOK, &l)
		for _, i := range l.Interfaces {
			names = append(names, i.Name+"/"+i.Alias)
		}
		if l.NextCursor == "" || page > 5 {
			break
		}
		next = "&cursor=" + l.NextCursor
	}
	if want := []string{"Gi1/0/1/bmc-000 eno1", "Gi1/0/2/bmc-001 eno1", "Gi1/0/24/", "Gi1/0/3/bmc-002 eno1"}; !slices.Equal(names, want) {
		t.Errorf("interfaces: %q, want %q", names, want)
	}

	// Server detail: the swapped DIMM, and the server's cable.
	var sd api.ServerDetail
	getJSON(t, r.url("/api/v1/servers/ams1/bmc-001"), http.StatusOK, &sd)
	var dimm api.Component
	for _, c := range sd.Components {
		if c.Component == "memory[DIMM.A2]" {
			dimm = c
		}
	}
	if dimm.SerialNumber != "SWAPPED-A2" || dimm.Facts["slot"] != "A2" || !dimm.ChangedAt.Equal(fixture.Epoch.Add(201*time.Second)) {
		t.Errorf("DIMM A2: %+v", dimm)
	}
	if len(sd.Components) != 11 || len(sd.Links) != 1 || sd.Links[0].B.Port != "Gi1/0/2" {
		t.Errorf("server detail: %d components, links %+v", len(sd.Components), sd.Links)
	}
	var nf api.Error
	getJSON(t, r.url("/api/v1/servers/ams1/nope"), http.StatusNotFound, &nf)

	// Health poll newer than the inventory decides power and health.
	var sl api.ServerList
	getJSON(t, r.url("/api/v1/servers?site=ams1&power_state=On&limit=1"), http.StatusOK, &sl)
	if sl.Count != 1 || sl.NextCursor == "" || sl.Servers[0].Target != "bmc-000" ||
		sl.Servers[0].HealthProvenance.Kind != "server_health" || sl.Servers[0].HealthProvenance.PowerConsumedWatts != 300 {
		t.Errorf("servers page 1: %+v", sl)
	}

	// Sensors of bmc-000: two polls, two sensors.
	var ss api.SensorSeries
	getJSON(t, r.url("/api/v1/servers/ams1/bmc-000/sensors?from=2026-03-01T12:00:00Z&to=2026-03-01T13:00:00Z"), http.StatusOK, &ss)
	var series []string
	for _, s := range ss.Sensors {
		for _, rd := range s.Readings {
			series = append(series, fmt.Sprintf("%s %s %v %s", s.Name, rd.At.Format("15:04:05"), rd.Value, s.Units))
		}
	}
	if want := []string{"Fan 1 12:01:50 6000 RPM", "Fan 1 12:03:30 6000 RPM", "Inlet Temp 12:01:50 20 Cel", "Inlet Temp 12:03:30 20 Cel"}; !slices.Equal(series, want) {
		t.Errorf("sensors: %q, want %q", series, want)
	}
	getJSON(t, r.url("/api/v1/servers/ams1/bmc-000/sensors?from=2026-03-01T12:00:00Z&to=2026-03-01T13:00:00Z&step=1h&name=Fan+1"), http.StatusOK, &ss)
	if len(ss.Sensors) != 1 || len(ss.Sensors[0].Readings) != 1 || ss.Sensors[0].Readings[0].Samples != 2 {
		t.Errorf("hourly fan: %+v", ss.Sensors)
	}

	// Targets.
	var tl api.TargetList
	getJSON(t, r.url("/api/v1/targets?site=ams1&reachable=false"), http.StatusOK, &tl)
	if tl.Count != 1 || tl.Targets[0].Target != "bmc-dead" || tl.Targets[0].ErrorKind != "refused" || tl.Targets[0].Provenance.Sequence != 211 {
		t.Errorf("unreachable targets: %+v", tl)
	}

	// Events: a device.appeared per server and per tracked switch table
	// (FDB is not historied), then the swap and the upgrade.
	evs := readEvents(t, e, 4+3+3)
	count := map[string]int{}
	for _, ev := range evs {
		count[ev.GetKind()+" "+ev.GetDevice()+" "+ev.GetField()]++
	}
	want := map[string]int{
		"device.appeared bmc-000 ": 1, "device.appeared bmc-001 ": 1, "device.appeared bmc-002 ": 1, "device.appeared bmc-003 ": 1,
		"device.appeared sw-1 ":                               3,
		"field.changed bmc-001 memory[DIMM.A2].serial_number": 1,
		"field.changed bmc-002 bios_version":                  1,
		"field.changed bmc-002 firmware[BIOS].version":        1,
	}
	for k, n := range want {
		if count[k] != n {
			t.Errorf("events %q: %d, want %d (all: %v)", k, count[k], n, count)
		}
	}
}

// readEvents reads n events from the events topic (all partitions).
func readEvents(t *testing.T, e *env, n int) []*racktrackv1.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	rd := kafka.NewReader(kafka.ReaderConfig{Brokers: e.brokers, Topic: events, GroupID: "test-events",
		StartOffset: kafka.FirstOffset, MaxWait: 50 * time.Millisecond})
	defer rd.Close()
	var out []*racktrackv1.Event
	for len(out) < n {
		m, err := rd.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read events: %v (have %d of %d)", err, len(out), n)
		}
		ev := &racktrackv1.Event{}
		if err := proto.Unmarshal(m.Value, ev); err != nil {
			t.Fatalf("event at offset %d: %v", m.Offset, err)
		}
		if string(m.Key) != ev.GetSite()+"/"+ev.GetDevice() {
			t.Errorf("event key %q for %s/%s", m.Key, ev.GetSite(), ev.GetDevice())
		}
		out = append(out, ev)
	}
	return out
}
