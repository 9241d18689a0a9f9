package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/racktrack/racktrack/collector/internal/fixture"
	"github.com/racktrack/racktrack/collector/store"
	"github.com/racktrack/racktrack/internal/chserver"
	"github.com/racktrack/racktrack/internal/testenv"
	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// newStore opens a migrated store on a fresh database of the shared server.
func newStore(t *testing.T) (*store.Store, *chserver.Server, string) {
	t.Helper()
	srv := testenv.SharedClickHouse(t)
	db := testenv.ClickHouseDatabase(t, srv)
	st := openStore(t, srv, db)
	if _, err := st.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return st, srv, db
}

func openStore(t *testing.T, srv *chserver.Server, db string) *store.Store {
	t.Helper()
	st, err := store.Open(store.Options{Addr: srv.Addr(), Database: db, Username: "default"})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func records(obs ...*racktrackv1.Observation) []store.Record {
	out := make([]store.Record, len(obs))
	for i, o := range obs {
		out[i] = store.Record{Obs: o, Raw: fixture.Marshal(o), Partition: 1, Offset: int64(100 + i)}
	}
	return out
}

// batchOf writes recs as new state (no previous observation).
func batchOf(recs []store.Record) store.Batch {
	b := store.Batch{Raw: recs}
	for _, r := range recs {
		if r.Obs.GetServerInventory() != nil {
			b.State = append(b.State, store.StateUpdate{Rec: r})
		}
	}
	return b
}

func TestMigrate(t *testing.T) {
	ctx := context.Background()
	srv := testenv.SharedClickHouse(t)
	db := testenv.ClickHouseDatabase(t, srv)
	// The database does not exist yet: Migrate creates it.
	db += "_new"
	st := openStore(t, srv, db)
	t.Cleanup(func() {
		conn := testenv.ClickHouseConn(t, srv, "default")
		conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)
	})

	applied, err := st.Migrate(ctx)
	if err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	var want []uint32
	for v := uint32(1); v <= store.SchemaVersion(); v++ {
		want = append(want, v)
	}
	if !slices.Equal(applied, want) {
		t.Errorf("first Migrate applied %v, want %v", applied, want)
	}
	// Idempotent: a second run (another collector, or a restart) applies
	// nothing, and the record is unchanged.
	again, err := openStore(t, srv, db).Migrate(ctx)
	if err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if len(again) != 0 {
		t.Errorf("second Migrate applied %v, want none", again)
	}
	got, err := st.AppliedMigrations(ctx)
	if err != nil {
		t.Fatalf("AppliedMigrations: %v", err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("AppliedMigrations = %v, want %v", got, want)
	}

	conn := testenv.ClickHouseConn(t, srv, db)
	rows, err := conn.Query(ctx, "SELECT name FROM system.tables WHERE database = ? ORDER BY name", db)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	for _, name := range []string{"observations", "schema_migrations", "servers", "target_status"} {
		if !slices.Contains(tables, name) {
			t.Errorf("table %s missing; tables: %v", name, tables)
		}
	}
}

func TestWriteAndReadServers(t *testing.T) {
	ctx := context.Background()
	st, _, _ := newStore(t)
	a := fixture.Server{Site: "ams1", Rack: "r01", Target: "bmc-a", N: 1}
	b := fixture.Server{Site: "ams1", Rack: "r02", Target: "bmc-b", N: 2}
	c := fixture.Server{Site: "fra1", Rack: "r01", Target: "bmc-c", N: 3}
	recs := records(
		fixture.Inventory("agent-1", 1, a),
		fixture.Inventory("agent-1", 2, b),
		fixture.Inventory("agent-2", 1, c),
		fixture.TargetStatus("agent-1", 3, "ams1", "r01", "bmc-x", false, "connection refused"),
	)
	fresh, err := st.Fresh(ctx, recs)
	if err != nil {
		t.Fatalf("Fresh: %v", err)
	}
	if len(fresh) != 4 {
		t.Fatalf("Fresh kept %d of 4 new records", len(fresh))
	}
	if err := st.Write(ctx, batchOf(fresh)); err != nil {
		t.Fatalf("Write: %v", err)
	}

	got, err := st.Servers(ctx, store.ServerFilter{Site: "ams1"})
	if err != nil {
		t.Fatalf("Servers: %v", err)
	}
	want := []store.Server{wantServer("agent-1", 1, a), wantServer("agent-1", 2, b)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Servers(site=ams1):\n got %+v\nwant %+v", got, want)
	}
	got, err = st.Servers(ctx, store.ServerFilter{Site: "ams1", Rack: "r02"})
	if err != nil {
		t.Fatalf("Servers: %v", err)
	}
	if len(got) != 1 || got[0].Target != "bmc-b" {
		t.Errorf("Servers(site=ams1, rack=r02) = %+v, want bmc-b only", got)
	}
	got, err = st.Servers(ctx, store.ServerFilter{})
	if err != nil {
		t.Fatalf("Servers: %v", err)
	}
	if len(got) != 3 {
		t.Errorf("Servers() returned %d servers, want 3", len(got))
	}

	n, err := st.CountObservations(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("observations: %d rows, want 4", n)
	}
}

func wantServer(agent string, seq uint64, s fixture.Server) store.Server {
	o := fixture.Inventory(agent, seq, s)
	inv := o.GetServerInventory()
	sys, m := inv.GetSystem(), inv.GetManager()
	return store.Server{
		Site: s.Site, Rack: s.Rack, Target: s.Target, AgentID: agent, Sequence: seq, Source: "redfish",
		ObservedAt: o.GetObservedAt().AsTime(), ChangedAt: o.GetObservedAt().AsTime(), Complete: true, Incomplete: []string{},
		HealthFrom: "server_inventory", HealthAt: o.GetObservedAt().AsTime(),
		SystemID: sys.Id, Manufacturer: sys.Manufacturer, Model: sys.Model, SKU: sys.Sku,
		SerialNumber: s.Serial(), UUID: s.UUID(), AssetTag: sys.AssetTag, BIOSVersion: "1.8.2",
		Hostname: s.Target, PowerState: "On", Health: "OK",
		Manager: store.Manager{ID: m.Id, Manufacturer: m.Manufacturer, Model: "iDRAC9", FirmwareVersion: "6.10.30.00",
			MACAddress: s.MAC(0), IPAddress: m.IpAddress},
		NICs: []store.NIC{
			{ID: "NIC.Integrated.1-1", AdapterID: "NIC.Integrated.1", Name: "eno1", MACAddress: s.MAC(1), LinkStatus: "Up", SpeedMbps: 25000, Health: "OK"},
			{ID: "NIC.Integrated.1-2", AdapterID: "NIC.Integrated.1", Name: "eno2", MACAddress: s.MAC(2), LinkStatus: "Down", SpeedMbps: 25000, Health: "OK"},
		},
		ContentHash: inv.ContentHash,
	}
}

// TestFreshDropsDuplicatesAcrossRestarts re-delivers stored observations to
// a new Store (as a restarted collector would see them) mixed with new ones
// and duplicates inside the batch.
func TestFreshDropsDuplicatesAcrossRestarts(t *testing.T) {
	ctx := context.Background()
	st, srv, db := newStore(t)
	s1 := fixture.Server{Site: "ams1", Rack: "r01", Target: "bmc-1", N: 1}
	s2 := fixture.Server{Site: "ams1", Rack: "r01", Target: "bmc-2", N: 2}
	first := records(fixture.Inventory("agent-1", 10, s1), fixture.Inventory("agent-1", 11, s2), fixture.Inventory("agent-2", 10, s1))
	if err := st.Write(ctx, batchOf(first)); err != nil {
		t.Fatalf("Write: %v", err)
	}

	restarted := openStore(t, srv, db)
	batch := records(
		fixture.Inventory("agent-1", 11, s2), // stored
		fixture.Inventory("agent-1", 12, s1), // new
		fixture.Inventory("agent-1", 12, s1), // duplicate inside the batch
		fixture.Inventory("agent-2", 10, s1), // stored
		fixture.Inventory("agent-2", 11, s2), // new
		fixture.Inventory("agent-1", 10, s1), // stored
	)
	fresh, err := restarted.Fresh(ctx, batch)
	if err != nil {
		t.Fatalf("Fresh: %v", err)
	}
	var keys []store.Key
	for _, r := range fresh {
		keys = append(keys, r.KeyOf())
	}
	want := []store.Key{{"agent-1", 12}, {"agent-2", 11}}
	if !slices.Equal(keys, want) {
		t.Errorf("Fresh kept %v, want %v", keys, want)
	}
	if err := restarted.Write(ctx, batchOf(fresh)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	n, err := restarted.CountObservations(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if n != 5 {
		t.Errorf("observations: %d rows, want 5", n)
	}
}

// TestCurrentStateKeepsNewest writes a newer inventory, then an older one
// (a late redelivery), then the same again: the newest wins and one row
// remains.
func TestCurrentStateKeepsNewest(t *testing.T) {
	ctx := context.Background()
	st, _, _ := newStore(t)
	s := fixture.Server{Site: "ams1", Rack: "r01", Target: "bmc-1", N: 1}
	newer := fixture.Inventory("agent-1", 20, s)
	newer.GetServerInventory().System.BiosVersion = "2.0.0"
	older := fixture.Inventory("agent-1", 10, s)
	for _, recs := range [][]store.Record{records(newer), records(older), records(newer)} {
		if err := st.Write(ctx, batchOf(recs)); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	got, err := st.Servers(ctx, store.ServerFilter{Target: "bmc-1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].BIOSVersion != "2.0.0" || got[0].Sequence != 20 {
		t.Errorf("Servers = %+v, want one row with BIOS 2.0.0 from sequence 20", got)
	}
}

func TestOpErrorOnOutage(t *testing.T) {
	srv := testenv.ClickHouse(t)
	db := testenv.ClickHouseDatabase(t, srv)
	st := openStore(t, srv, db)
	ctx := context.Background()
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	// Kill, not Stop: a graceful stop waits ~10 s for the pool's idle
	// connections, and a crash is the harsher case anyway.
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	err := st.Write(ctx, batchOf(records(fixture.Inventory("agent-1", 1, fixture.Server{Site: "s", Rack: "r", Target: "t", N: 1}))))
	var oe *store.OpError
	if !errors.As(err, &oe) {
		t.Fatalf("Write while stopped: %v (%T), want *store.OpError", err, err)
	}
	if oe.Op != "insert servers" || oe.Addr != srv.Addr() || oe.Permanent() {
		t.Errorf("OpError = {Addr %q Op %q Permanent %v}, want insert servers at %s, transient", oe.Addr, oe.Op, oe.Permanent(), srv.Addr())
	}
	if err := st.Ping(ctx); err == nil {
		t.Error("Ping succeeded while the server is stopped")
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.Ping(ctx); err != nil {
		t.Errorf("Ping after restart: %v", err)
	}
	// A statement the server rejects is permanent.
	_, err = st.Servers(ctx, store.ServerFilter{})
	if err != nil {
		t.Fatalf("Servers after restart: %v", err)
	}
	bad, _ := store.Open(store.Options{Addr: srv.Addr(), Database: "no_such_db", Username: "default"})
	defer bad.Close()
	_, err = bad.Servers(ctx, store.ServerFilter{})
	if !errors.As(err, &oe) || !oe.Permanent() {
		t.Errorf("query on a missing database: %v, want a permanent *store.OpError", err)
	}
}

// TestServersFiltersAndProvenance covers the newest-wins rule for health
// and power, the last-seen time of an unchanged inventory, every filter,
// and keyset pagination.
func TestServersFiltersAndProvenance(t *testing.T) {
	ctx := context.Background()
	st, _, _ := newStore(t)
	var obs []*racktrackv1.Observation
	for i := range 6 {
		s := fixture.Server{Site: "ams1", Rack: fmt.Sprintf("r%d", i%2+1), Target: fmt.Sprintf("bmc-%d", i), N: i}
		o := fixture.Inventory("agent-1", uint64(10+i), s)
		if i == 5 {
			o.GetServerInventory().System.Model = "PowerEdge R760"
			o.GetServerInventory().Manager.FirmwareVersion = "7.00.00.00"
		}
		obs = append(obs, o)
	}
	if err := st.Write(ctx, batchOf(records(obs...))); err != nil {
		t.Fatal(err)
	}
	// bmc-0 is polled again (unchanged: raw row only); bmc-1's health poll
	// is newer than its inventory; bmc-2's is older.
	again := fixture.Inventory("agent-2", 100, fixture.Server{Site: "ams1", Rack: "r1", Target: "bmc-0", N: 0})
	health := func(seq uint64, target, h, p string) *racktrackv1.Observation {
		o := fixture.Inventory("agent-1", seq, fixture.Server{Site: "ams1", Rack: "r2", Target: target})
		o.Payload = &racktrackv1.Observation_ServerHealth{ServerHealth: &racktrackv1.ServerHealth{Health: h, PowerState: p, PowerConsumedWatts: 350,
			Sensors: []*racktrackv1.Sensor{{Name: "Inlet Temp", Kind: "temperature", Reading: 24.5, Units: "Cel"}}}}
		return o
	}
	if err := st.Write(ctx, store.Batch{Raw: records(again, health(200, "bmc-1", "Critical", "Off"), health(1, "bmc-2", "Warning", "Off"))}); err != nil {
		t.Fatal(err)
	}

	all, err := st.Servers(ctx, store.ServerFilter{Site: "ams1"})
	if err != nil {
		t.Fatal(err)
	}
	byTarget := map[string]store.Server{}
	for _, s := range all {
		byTarget[s.Target] = s
	}
	if s := byTarget["bmc-0"]; s.AgentID != "agent-2" || s.Sequence != 100 || !s.ObservedAt.Equal(fixture.Epoch.Add(100*time.Second)) ||
		!s.ChangedAt.Equal(fixture.Epoch.Add(10*time.Second)) {
		t.Errorf("bmc-0 provenance: agent %s seq %d observed %v changed %v; want agent-2/100 seen at +100s, changed at +10s",
			s.AgentID, s.Sequence, s.ObservedAt, s.ChangedAt)
	}
	if s := byTarget["bmc-1"]; s.Health != "Critical" || s.PowerState != "Off" || s.HealthFrom != "server_health" || s.PowerConsumedWatts != 350 {
		t.Errorf("bmc-1 health: %s/%s from %s (%v W), want Critical/Off from server_health", s.Health, s.PowerState, s.HealthFrom, s.PowerConsumedWatts)
	}
	if s := byTarget["bmc-2"]; s.Health != "OK" || s.HealthFrom != "server_inventory" {
		t.Errorf("bmc-2 health: %s from %s, want OK from the newer inventory", s.Health, s.HealthFrom)
	}

	targets := func(f store.ServerFilter) []string {
		t.Helper()
		f.Site = "ams1"
		got, err := st.Servers(ctx, f)
		if err != nil {
			t.Fatalf("Servers(%+v): %v", f, err)
		}
		var out []string
		for _, s := range got {
			out = append(out, s.Target)
		}
		return out
	}
	tests := []struct {
		name string
		f    store.ServerFilter
		want []string
	}{
		{"rack", store.ServerFilter{Rack: "r2"}, []string{"bmc-1", "bmc-3", "bmc-5"}},
		{"model", store.ServerFilter{Model: "PowerEdge R760"}, []string{"bmc-5"}},
		{"bmc firmware", store.ServerFilter{BMCFirmware: "6.10.30.00", Rack: "r2"}, []string{"bmc-1", "bmc-3"}},
		{"bios", store.ServerFilter{BIOSVersion: "0.0"}, nil},
		{"health newest", store.ServerFilter{Health: "Critical"}, []string{"bmc-1"}},
		{"power newest", store.ServerFilter{PowerState: "On"}, []string{"bmc-0", "bmc-2", "bmc-4", "bmc-3", "bmc-5"}},
		{"serial", store.ServerFilter{SerialNumber: "SN000004"}, []string{"bmc-4"}},
		{"page 1", store.ServerFilter{Limit: 4}, []string{"bmc-0", "bmc-2", "bmc-4", "bmc-1"}},
		{"page 2", store.ServerFilter{Limit: 4, After: &store.ServerCursor{Site: "ams1", Rack: "r2", Target: "bmc-1"}}, []string{"bmc-3", "bmc-5"}},
	}
	for _, tt := range tests {
		if got := targets(tt.f); !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestDisappeared finds servers not observed for longer than the limit,
// once: after the disappearance is recorded it is not reported again, and
// an observation after it makes the server current again.
func TestDisappeared(t *testing.T) {
	ctx := context.Background()
	st, _, _ := newStore(t)
	a := fixture.Server{Site: "ams1", Rack: "r1", Target: "bmc-a", N: 1}
	b := fixture.Server{Site: "ams1", Rack: "r1", Target: "bmc-b", N: 2}
	if err := st.Write(ctx, batchOf(records(fixture.Inventory("agent-1", 10, a), fixture.Inventory("agent-1", 600, b)))); err != nil {
		t.Fatal(err)
	}
	now := fixture.Epoch.Add(700 * time.Second)
	got, err := st.Disappeared(ctx, now, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.ChangeRow{{Site: "ams1", Device: "bmc-a", Kind: "server_inventory", Change: "device_disappeared",
		ObservedAt: fixture.Epoch.Add(310 * time.Second), PrevObservedAt: fixture.Epoch.Add(10 * time.Second),
		From: "2026-03-01T12:00:10Z", Rack: "r1", AgentID: "agent-1", Source: "redfish", Target: "bmc-a", Sequence: 10}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Disappeared:\n got %+v\nwant %+v", got, want)
	}
	if err := st.WriteChanges(ctx, got); err != nil {
		t.Fatal(err)
	}
	if again, err := st.Disappeared(ctx, now.Add(time.Hour), 5*time.Minute); err != nil || len(again) != 1 || again[0].Device != "bmc-b" {
		t.Errorf("an hour later: %+v, %v; want only bmc-b", again, err)
	}
	// bmc-a comes back.
	if err := st.Write(ctx, store.Batch{Raw: records(fixture.Inventory("agent-1", 4000, a))}); err != nil {
		t.Fatal(err)
	}
	if later, err := st.Disappeared(ctx, fixture.Epoch.Add(4100*time.Second), 5*time.Minute); err != nil || len(later) != 1 || later[0].Device != "bmc-b" {
		t.Errorf("after bmc-a returned: %+v, %v; want only bmc-b", later, err)
	}
}
