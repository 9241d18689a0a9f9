package ingest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/racktrack/racktrack/collector/internal/fixture"
	"github.com/racktrack/racktrack/collector/state"
	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
)

func TestDecode(t *testing.T) {
	good := fixture.Inventory("agent-1", 7, fixture.Server{Site: "ams1", Rack: "r01", Target: "bmc-1", N: 1})
	with := func(f func(o *racktrackv1.Observation)) []byte {
		o := proto.Clone(good).(*racktrackv1.Observation)
		f(o)
		return fixture.Marshal(o)
	}
	// A payload field number this build does not know (a newer agent).
	future := protowire.AppendTag(with(func(o *racktrackv1.Observation) { o.Payload = nil }), 99, protowire.BytesType)
	future = protowire.AppendBytes(future, []byte{0x0a, 0x01, 'x'})

	tests := []struct {
		name     string
		value    []byte
		reason   string // "" means valid
		wantKind string
	}{
		{name: "server inventory", value: fixture.Marshal(good), wantKind: "server_inventory"},
		{name: "target status", value: fixture.Marshal(fixture.TargetStatus("a", 1, "s", "r", "t", true, "")), wantKind: "target_status"},
		{name: "future payload", value: future, wantKind: KindUnknown},
		{name: "garbage", value: []byte("\xff\xff\xff not protobuf"), reason: "not a racktrack.v1.Observation: "},
		{name: "empty", value: nil, reason: "agent_id is empty"},
		{name: "no agent", value: with(func(o *racktrackv1.Observation) { o.AgentId = "" }), reason: "agent_id is empty"},
		{name: "sequence 0", value: with(func(o *racktrackv1.Observation) { o.Sequence = 0 }), reason: "sequence is 0"},
		{name: "no payload", value: with(func(o *racktrackv1.Observation) { o.Payload = nil }), reason: "payload is missing"},
		{name: "no observed_at", value: with(func(o *racktrackv1.Observation) { o.ObservedAt = nil }), reason: "observed_at is missing"},
		{name: "observed_at 1970", value: with(func(o *racktrackv1.Observation) { o.ObservedAt = timestamppb.New(time.Unix(5, 0)) }),
			reason: "observed_at 1970-01-01T00:00:05Z is outside 2000-2100"},
		{name: "observed_at invalid", value: with(func(o *racktrackv1.Observation) { o.ObservedAt = &timestamppb.Timestamp{Seconds: 1e9, Nanos: -1} }),
			reason: "observed_at is invalid: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := Decode(tt.value)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if k := kindOf(o); k != tt.wantKind {
					t.Errorf("kind = %q, want %q", k, tt.wantKind)
				}
				return
			}
			if err == nil {
				t.Fatalf("Decode succeeded, want %q", tt.reason)
			}
			ie, ok := err.(*InvalidError)
			if !ok {
				t.Fatalf("error %T, want *InvalidError", err)
			}
			got := reasonOf(err)
			if ie.Err != nil {
				// Only the prefix is ours; the rest is protobuf's wording.
				got = got[:len(ie.Reason)+2]
			}
			if got != tt.reason {
				t.Errorf("reason = %q, want %q", got, tt.reason)
			}
		})
	}
	o, err := Decode(fixture.Marshal(good))
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(o, good) {
		t.Errorf("Decode changed the message:\n got %v\nwant %v", o, good)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(fixture.Marshal(fixture.Inventory("agent-1", 7, fixture.Server{Site: "ams1", Rack: "r01", Target: "bmc-1", N: 1})))
	f.Add(fixture.Marshal(fixture.TargetStatus("a", 1, "s", "r", "t", false, "refused")))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, value []byte) {
		o, err := Decode(value)
		if err != nil {
			if _, ok := err.(*InvalidError); !ok {
				t.Fatalf("error %T, want *InvalidError", err)
			}
			return
		}
		// Whatever is accepted can be stored: it has the key and a time
		// ClickHouse can hold.
		if o.GetAgentId() == "" || o.GetSequence() == 0 {
			t.Fatalf("accepted an observation without its key: %v", o)
		}
		if y := o.GetObservedAt().AsTime().Year(); y < 2000 || y >= 2100 {
			t.Fatalf("accepted observed_at year %d", y)
		}
	})
}

func TestDecodeRecordLazy(t *testing.T) {
	s := fixture.Server{Site: "ams1", Rack: "r01", Target: "bmc-1", N: 1}
	inv := fixture.Inventory("agent-1", 7, s)
	raw := fixture.Marshal(inv)
	var asked []string
	oracle := func(answer bool) unchangedOracle {
		return func(site, device, kind string, partition int, digest uint64) bool {
			asked = append(asked, fmt.Sprintf("%s/%s/%s/%d/%v", site, device, kind, partition, digest == state.PayloadDigest(raw)))
			return answer
		}
	}

	rec, err := decodeRecord(raw, 3, 42, oracle(true))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Obs.GetPayload() != nil || rec.Kind != "server_inventory" || rec.Partition != 3 || rec.Offset != 42 ||
		rec.Obs.GetSequence() != 7 || rec.Obs.GetTarget() != "bmc-1" {
		t.Errorf("unchanged: %+v, want the envelope only, kind server_inventory", rec)
	}
	if want := []string{"ams1/bmc-1/server_inventory/3/true"}; !slices.Equal(asked, want) {
		t.Errorf("oracle asked %q, want %q", asked, want)
	}

	rec, err = decodeRecord(raw, 3, 42, oracle(false))
	if err != nil || !proto.Equal(rec.Obs, inv) || rec.Kind != "server_inventory" {
		t.Errorf("changed: %+v, %v; want the whole observation", rec, err)
	}

	// Other kinds are always decoded in full, and an invalid envelope is
	// invalid whatever the oracle says.
	asked = nil
	ts := fixture.TargetStatus("agent-1", 8, "ams1", "r01", "bmc-1", true, "")
	if rec, err = decodeRecord(fixture.Marshal(ts), 0, 0, oracle(true)); err != nil || !proto.Equal(rec.Obs, ts) || len(asked) != 0 {
		t.Errorf("target status: %+v, %v (asked %q)", rec, err, asked)
	}
	bad := proto.Clone(inv).(*racktrackv1.Observation)
	bad.Sequence = 0
	if _, err := decodeRecord(fixture.Marshal(bad), 0, 0, oracle(true)); reasonOf(err) != "sequence is 0" {
		t.Errorf("sequence 0: %v", err)
	}
	if _, err := decodeRecord([]byte("\xff\xff"), 0, 0, oracle(true)); err == nil {
		t.Error("garbage accepted")
	}
}

func TestSplitEnvelope(t *testing.T) {
	inv := fixture.Inventory("agent-1", 7, fixture.Server{Site: "ams1", Rack: "r01", Target: "bmc-1", N: 1})
	env, num, payload, ok := splitEnvelope(fixture.Marshal(inv))
	if !ok || num != 20 {
		t.Fatalf("split: num %d ok %v", num, ok)
	}
	var gotEnv racktrackv1.Observation
	if err := proto.Unmarshal(env, &gotEnv); err != nil {
		t.Fatal(err)
	}
	wantEnv := proto.Clone(inv).(*racktrackv1.Observation)
	wantEnv.Payload = nil
	if !proto.Equal(&gotEnv, wantEnv) {
		t.Errorf("envelope %v, want %v", &gotEnv, wantEnv)
	}
	var gotPayload racktrackv1.ServerInventory
	if err := proto.Unmarshal(payload, &gotPayload); err != nil || !proto.Equal(&gotPayload, inv.GetServerInventory()) {
		t.Errorf("payload: %v", err)
	}
	for name, v := range map[string][]byte{
		"no payload": fixture.Marshal(wantEnv),
		"truncated":  fixture.Marshal(inv)[:30],
		"two payloads": append(fixture.Marshal(inv),
			fixture.Marshal(&racktrackv1.Observation{Payload: &racktrackv1.Observation_Fdb{Fdb: &racktrackv1.FDBTable{}}})...),
	} {
		if _, _, _, ok := splitEnvelope(v); ok {
			t.Errorf("%s: split ok", name)
		}
	}
}

// FuzzDecodeRecord: whatever the oracle says, an accepted record has its
// key and a storable time, and names its kind.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(fixture.Marshal(fixture.Inventory("agent-1", 7, fixture.Server{Site: "ams1", Rack: "r01", Target: "bmc-1", N: 1})), true)
	f.Add(fixture.Marshal(fixture.SwitchInventory("agent-1", 9, "ams1", "r01", "sw-1", "leaf1")), false)
	f.Fuzz(func(t *testing.T, value []byte, unchanged bool) {
		rec, err := decodeRecord(value, 0, 0, func(string, string, string, int, uint64) bool { return unchanged })
		if err != nil {
			if _, ok := err.(*InvalidError); !ok {
				t.Fatalf("error %T, want *InvalidError", err)
			}
			return
		}
		if rec.Obs.GetAgentId() == "" || rec.Obs.GetSequence() == 0 || rec.KindOf() == "" {
			t.Fatalf("accepted %+v", rec)
		}
		if y := rec.Obs.GetObservedAt().AsTime().Year(); y < 2000 || y >= 2100 {
			t.Fatalf("accepted observed_at year %d", y)
		}
	})
}

// TestBatchOracle decodes a batch as the fetcher does, before the tracker
// knows any of its states: a device's inventory is decoded in full the
// first time in the batch and whenever it differs from the device's
// previous record there, and envelope-only when it repeats it.
func TestBatchOracle(t *testing.T) {
	inv := func(seq uint64, target, model string) *racktrackv1.Observation {
		o := fixture.Inventory("agent-1", seq, fixture.Server{Site: "ams1", Rack: "r01", Target: target, N: 1})
		o.GetServerInventory().System.Model = model
		return o
	}
	bad := inv(5, "bmc-1", "R750")
	bad.AgentId = ""
	msgs := []struct {
		obs       *racktrackv1.Observation
		partition int
		full      bool // decoded with its payload
	}{
		{inv(1, "bmc-1", "R750"), 0, true},
		{inv(2, "bmc-1", "R750"), 0, false}, // repeats bmc-1
		{inv(3, "bmc-2", "R750"), 0, true},  // same payload, other device
		{inv(4, "bmc-1", "R760"), 0, true},  // bmc-1 changed
		{bad, 0, false},                     // invalid: dead-lettered
		{inv(6, "bmc-1", "R760"), 0, false}, // repeats bmc-1's last valid record
		{inv(7, "bmc-1", "R750"), 0, true},  // back to the first state
		{inv(8, "bmc-1", "R750"), 1, true},  // another partition
		{inv(9, "bmc-1", "R750"), 1, false}, // repeats it there
	}
	var asked []uint64
	oracle := newBatchOracle(func(site, device, kind string, partition int, digest uint64) bool {
		asked = append(asked, digest)
		return false // the tracker knows nothing yet
	})
	for i, m := range msgs {
		rec, err := decodeRecord(fixture.Marshal(m.obs), m.partition, int64(i), oracle.unchanged)
		oracle.done(err == nil)
		if m.obs == bad {
			if reasonOf(err) != "agent_id is empty" {
				t.Errorf("message %d: %v, want agent_id is empty", i, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if got := rec.Obs.GetPayload() != nil; got != m.full || rec.Kind != "server_inventory" || rec.Obs.GetSequence() != m.obs.GetSequence() {
			t.Errorf("message %d: payload decoded %v, kind %q, sequence %d; want %v, server_inventory, %d",
				i, got, rec.Kind, rec.Obs.GetSequence(), m.full, m.obs.GetSequence())
		}
		if m.full && !proto.Equal(rec.Obs, m.obs) {
			t.Errorf("message %d: decoded %v, want %v", i, rec.Obs, m.obs)
		}
	}
	// The tracker is asked about every valid envelope the batch could not
	// answer for: the five full decodes (the invalid one fails before).
	if len(asked) != 5 {
		t.Errorf("tracker asked %d times, want 5", len(asked))
	}
}
