package state

import (
	"context"
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/racktrack/racktrack/collector/internal/fixture"
	"github.com/racktrack/racktrack/collector/inventory"
	"github.com/racktrack/racktrack/collector/store"
	"github.com/racktrack/racktrack/internal/testenv"
	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func newStore(t *testing.T) *store.Store {
	t.Helper()
	srv := testenv.SharedClickHouse(t)
	st, err := store.Open(store.Options{Addr: srv.Addr(), Database: testenv.ClickHouseDatabase(t, srv), Username: "default"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}

func newTracker(t *testing.T, st *store.Store) *Tracker {
	t.Helper()
	tr, err := New(Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// apply plans and stores one batch as the ingest stage does.
func apply(t *testing.T, st *store.Store, tr *Tracker, partition int, obs ...*racktrackv1.Observation) *Plan {
	t.Helper()
	ctx := context.Background()
	recs := make([]store.Record, len(obs))
	for i, o := range obs {
		recs[i] = store.Record{Obs: o, Raw: fixture.Marshal(o), Partition: partition}
	}
	fresh, err := st.Fresh(ctx, recs)
	if err != nil {
		t.Fatal(err)
	}
	p, err := tr.Plan(ctx, fresh)
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	if err := st.WriteChanges(ctx, p.Changes); err != nil {
		t.Fatal(err)
	}
	if err := st.Write(ctx, store.Batch{Raw: fresh, State: p.State}); err != nil {
		t.Fatal(err)
	}
	tr.Commit(p)
	return p
}

type changeSummary struct {
	Change, Component, Field, From, To string
	Seq                                uint64
}

func summarize(rows []store.ChangeRow) []changeSummary {
	var out []changeSummary
	for _, r := range rows {
		out = append(out, changeSummary{r.Change, r.Component, r.Field, r.From, r.To, r.Sequence})
	}
	return out
}

// TestHistory walks one server through first sight, an unchanged poll, a
// DIMM swap with a BIOS upgrade, a late (stale) observation, a collector
// restart, and a PSU removal.
func TestHistory(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	tr := newTracker(t, st)
	srv := fixture.Server{Site: "ams1", Rack: "r01", Target: "bmc-7", N: 7}
	inv := func(seq uint64, edit func(*racktrackv1.ServerInventory)) *racktrackv1.Observation {
		o := fixture.Inventory("agent-1", seq, srv)
		if edit != nil {
			edit(o.GetServerInventory())
		}
		return o
	}
	swap := func(i *racktrackv1.ServerInventory) {
		i.Memory[1].SerialNumber = "NEWDIMM"
		i.System.BiosVersion = "1.9.0"
		i.Firmware[0].Version = "1.9.0"
	}

	p := apply(t, st, tr, 0, inv(10, nil))
	if len(p.State) != 1 || p.State[0].Prev != nil {
		t.Fatalf("first sight: %d state updates (prev %v), want 1 without prev", len(p.State), p.State)
	}
	if got := eventKinds(p.Events); !reflect.DeepEqual(got, []string{"device.appeared"}) {
		t.Errorf("first sight events %v", got)
	}

	p = apply(t, st, tr, 0, inv(20, nil))
	if len(p.State)+len(p.Changes)+len(p.Events) != 0 {
		t.Errorf("unchanged poll: %d state, %d changes, %d events, want none", len(p.State), len(p.Changes), len(p.Events))
	}

	p = apply(t, st, tr, 0, inv(30, swap))
	if len(p.State) != 1 || p.State[0].Prev.GetSequence() != 10 {
		t.Fatalf("swap: state %v, want one update with prev sequence 10", p.State)
	}
	wantEvents := []*racktrackv1.Event{
		{Kind: "field.changed", Site: "ams1", Device: "bmc-7", Field: "bios_version", From: "1.8.2", To: "1.9.0", Source: "redfish", AgentId: "agent-1", Target: "bmc-7"},
		{Kind: "field.changed", Site: "ams1", Device: "bmc-7", Field: "firmware[BIOS].version", From: "1.8.2", To: "1.9.0", Source: "redfish", AgentId: "agent-1", Target: "bmc-7"},
		{Kind: "field.changed", Site: "ams1", Device: "bmc-7", Field: "memory[DIMM.A2].serial_number", From: "D000007A2", To: "NEWDIMM", Source: "redfish", AgentId: "agent-1", Target: "bmc-7"},
	}
	for i, e := range p.Events {
		if e.GetId() == "" || !e.GetAt().AsTime().Equal(fixture.Epoch.Add(30*time.Second)) {
			t.Errorf("event %d: id %q at %v", i, e.GetId(), e.GetAt().AsTime())
		}
		e.Id, e.At = "", nil
	}
	if len(p.Events) != len(wantEvents) {
		t.Fatalf("swap events: %v", p.Events)
	}
	for i := range wantEvents {
		if !proto.Equal(p.Events[i], wantEvents[i]) {
			t.Errorf("event %d:\n got %v\nwant %v", i, p.Events[i], wantEvents[i])
		}
	}

	// A late observation, older than the swap, changes nothing.
	p = apply(t, st, tr, 0, inv(25, nil))
	if p.Stale != 1 || len(p.State) != 0 || len(p.Changes) != 0 {
		t.Errorf("late observation: stale %d, %d state, %d changes; want 1 stale only", p.Stale, len(p.State), len(p.Changes))
	}

	// A restarted collector loads the state from ClickHouse: an unchanged
	// poll is still unchanged, and the next change diffs against it.
	tr = newTracker(t, st)
	p = apply(t, st, tr, 0, inv(40, swap))
	if p.loaded != 1 || len(p.State)+len(p.Changes) != 0 {
		t.Errorf("after restart, unchanged: loaded %d, %d state, %d changes; want 1 loaded only", p.loaded, len(p.State), len(p.Changes))
	}
	p = apply(t, st, tr, 0, inv(50, func(i *racktrackv1.ServerInventory) {
		swap(i)
		i.PowerSupplies = nil
	}))
	if p.loaded != 0 || len(p.State) != 1 || p.State[0].Prev.GetSequence() != 30 {
		t.Fatalf("PSU removal: loaded %d, state %v; want the cached state of sequence 30", p.loaded, p.State)
	}

	got, err := st.History(ctx, store.HistoryFilter{Site: "ams1", Device: "bmc-7"})
	if err != nil {
		t.Fatal(err)
	}
	want := []changeSummary{
		{"device_appeared", "", "", "", "SN000007", 10},
		{"field_changed", "", "bios_version", "1.8.2", "1.9.0", 30},
		{"field_changed", "firmware[BIOS]", "version", "1.8.2", "1.9.0", 30},
		{"field_changed", "memory[DIMM.A2]", "serial_number", "D000007A2", "NEWDIMM", 30},
		{"component_removed", "psu[PSU.Slot.1]", "", "PS0000071", "", 50},
	}
	if s := summarize(got); !reflect.DeepEqual(s, want) {
		t.Errorf("History:\n got %+v\nwant %+v", s, want)
	}
	if got[1].PrevObservedAt != fixture.Epoch.Add(20*time.Second) {
		t.Errorf("swap's previous observation at %v, want the unchanged poll's time", got[1].PrevObservedAt)
	}
	if d := inventory.Describe(inventory.Change{Kind: inventory.FieldChanged, Component: got[3].Component, Field: got[3].Field, From: got[3].From, To: got[3].To},
		got[3].Site, got[3].Device, got[3].ObservedAt); d != `serial_number of memory[DIMM.A2] on ams1/bmc-7 changed from "D000007A2" to "NEWDIMM" at 2026-03-01T12:00:30Z` {
		t.Errorf("Describe: %s", d)
	}

	// Current components: the PSU is gone, the new DIMM is there.
	comps, err := st.Components(ctx, "ams1", "bmc-7")
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]store.Component{}
	for _, c := range comps {
		byKey[c.Component] = c
	}
	if _, ok := byKey["psu[PSU.Slot.1]"]; ok {
		t.Errorf("removed PSU still listed")
	}
	if c := byKey["memory[DIMM.A2]"]; c.SerialNumber != "NEWDIMM" || c.Sequence != 50 || c.Facts["slot"] != "A2" {
		t.Errorf("DIMM A2 = %+v", c)
	}
	if len(comps) != 10 {
		t.Errorf("%d components, want 10", len(comps))
	}

	// Planning the same batch twice (a retry) derives the same history,
	// which folds into the rows already written.
	obs := inv(60, func(i *racktrackv1.ServerInventory) {
		swap(i)
		i.PowerSupplies = nil
		i.System.PowerState = "Off"
	})
	recs := []store.Record{{Obs: obs, Raw: fixture.Marshal(obs)}}
	p1, _ := tr.Plan(ctx, recs)
	if err := st.WriteChanges(ctx, p1.Changes); err != nil {
		t.Fatal(err)
	}
	p2 := apply(t, st, tr, 0, obs)
	if !reflect.DeepEqual(summarize(p1.Changes), summarize(p2.Changes)) || p1.Events[0].GetId() != p2.Events[0].GetId() {
		t.Errorf("retry derived different changes: %v vs %v", p1.Changes, p2.Changes)
	}
	got, err = st.History(ctx, store.HistoryFilter{Site: "ams1", Device: "bmc-7", From: fixture.Epoch.Add(60 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Field != "power_state" {
		t.Errorf("history after retry: %+v, want one power_state change", got)
	}
}

func eventKinds(es []*racktrackv1.Event) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.GetKind())
	}
	return out
}

// TestSeenInvalidates drops the cached states of a partition that another
// collector handled in between.
func TestSeenInvalidates(t *testing.T) {
	st := newStore(t)
	tr := newTracker(t, st)
	a := fixture.Inventory("agent-1", 1, fixture.Server{Site: "ams1", Rack: "r01", Target: "bmc-a", N: 1})
	b := fixture.Inventory("agent-1", 2, fixture.Server{Site: "ams1", Rack: "r01", Target: "bmc-b", N: 2})
	tr.Seen(0, 0, 0)
	apply(t, st, tr, 0, a)
	tr.Seen(1, 0, 0)
	apply(t, st, tr, 1, b)
	tr.Seen(0, 1, 5) // continues: kept
	if len(tr.entries) != 2 {
		t.Fatalf("%d cached, want 2", len(tr.entries))
	}
	tr.Seen(1, 7, 9) // offsets 1-6 went elsewhere
	if len(tr.entries) != 1 {
		t.Fatalf("%d cached after the gap, want 1", len(tr.entries))
	}
	for k := range tr.entries {
		if k.Device != "bmc-a" {
			t.Errorf("kept %v, want bmc-a", k)
		}
	}
	// The dropped device is loaded again and is unchanged.
	p := apply(t, st, tr, 1, fixture.Inventory("agent-1", 3, fixture.Server{Site: "ams1", Rack: "r01", Target: "bmc-b", N: 2}))
	if p.loaded != 1 || len(p.State) != 0 {
		t.Errorf("reload: loaded %d, %d state updates; want 1, 0", p.loaded, len(p.State))
	}
}

func TestPayloadDigest(t *testing.T) {
	s := fixture.Server{Site: "ams1", Rack: "r01", Target: "bmc-a", N: 1}
	a, b := fixture.Inventory("agent-1", 1, s), fixture.Inventory("agent-2", 99, s)
	if PayloadDigest(fixture.Marshal(a)) != PayloadDigest(fixture.Marshal(b)) {
		t.Error("same payload in different envelopes: digests differ")
	}
	b.GetServerInventory().System.AssetTag = "X"
	if PayloadDigest(fixture.Marshal(a)) == PayloadDigest(fixture.Marshal(b)) {
		t.Error("different payloads: same digest")
	}
	if PayloadDigest([]byte{0xff}) == 0 {
		t.Error("garbage hashed to 0")
	}
}

// TestReappeared announces a device observed again after a silence longer
// than StaleAfter, also after a restart (the last-seen time comes from
// ClickHouse).
func TestReappeared(t *testing.T) {
	st := newStore(t)
	tr, err := New(Options{Store: st, StaleAfter: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	s := fixture.Server{Site: "ams1", Rack: "r01", Target: "bmc-1", N: 1}
	apply(t, st, tr, 0, fixture.Inventory("agent-1", 10, s))
	apply(t, st, tr, 0, fixture.Inventory("agent-1", 300, s)) // unchanged, seen 5 min later
	tr2, _ := New(Options{Store: st, StaleAfter: 10 * time.Minute})
	if p := apply(t, st, tr2, 0, fixture.Inventory("agent-1", 800, s)); len(p.Changes) != 0 {
		t.Errorf("seen again after 500 s: %+v, want no change", p.Changes)
	}
	p := apply(t, st, tr2, 0, fixture.Inventory("agent-1", 2000, s))
	if got := summarize(p.Changes); !reflect.DeepEqual(got, []changeSummary{{"device_appeared", "", "", "", "SN000001", 2000}}) {
		t.Errorf("back after 20 min: %+v", got)
	}
	if len(p.Changes) == 1 && !p.Changes[0].PrevObservedAt.Equal(fixture.Epoch.Add(800*time.Second)) {
		t.Errorf("previous observation %v, want +800s", p.Changes[0].PrevObservedAt)
	}
}

// TestPlanDecodesLazyRecords: a record decoded without its payload (it
// looked unchanged when fetched) is decoded after all when the state moved
// on before it was planned.
func TestPlanDecodesLazyRecords(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	tr := newTracker(t, st)
	s := fixture.Server{Site: "ams1", Rack: "r01", Target: "bmc-1", N: 1}
	apply(t, st, tr, 0, fixture.Inventory("agent-1", 10, s))

	lazy := func(o *racktrackv1.Observation) store.Record {
		raw := fixture.Marshal(o)
		env := proto.Clone(o).(*racktrackv1.Observation)
		env.Payload = nil
		return store.Record{Obs: env, Kind: "server_inventory", Raw: raw}
	}
	swapped := fixture.Inventory("agent-1", 20, s)
	swapped.GetServerInventory().Memory[0].SerialNumber = "NEW"
	back := fixture.Inventory("agent-1", 30, s) // same content as sequence 10
	recs := []store.Record{{Obs: swapped, Raw: fixture.Marshal(swapped)}, lazy(back)}
	p, err := tr.Plan(ctx, recs)
	if err != nil {
		t.Fatal(err)
	}
	got := summarize(p.Changes)
	want := []changeSummary{
		{"field_changed", "memory[DIMM.A1]", "serial_number", "D000001A1", "NEW", 20},
		{"field_changed", "memory[DIMM.A1]", "serial_number", "NEW", "D000001A1", 30},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("changes:\n got %+v\nwant %+v", got, want)
	}
	if len(p.State) != 2 || p.State[1].Rec.Obs.GetServerInventory() == nil {
		t.Fatalf("state updates %d; the lazy record must be decoded in full", len(p.State))
	}
	// A lazy record that is unchanged stays undecoded and changes nothing.
	tr.Commit(p)
	again := lazy(fixture.Inventory("agent-1", 40, s))
	p, err = tr.Plan(ctx, []store.Record{again})
	if err != nil || len(p.State)+len(p.Changes) != 0 {
		t.Errorf("unchanged lazy record: %d state, %d changes, %v", len(p.State), len(p.Changes), err)
	}
	if !tr.Unchanged("ams1", "bmc-1", "server_inventory", 0, PayloadDigest(again.Raw)) {
		t.Error("Unchanged is false for the last-known payload")
	}
	if tr.Unchanged("ams1", "bmc-1", "server_inventory", 1, PayloadDigest(again.Raw)) {
		t.Error("Unchanged is true for another partition")
	}
}
