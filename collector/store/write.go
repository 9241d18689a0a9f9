package store

import (
	"context"
	"strings"
	"time"
	"unsafe"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/ext"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"golang.org/x/sync/errgroup"

	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
)

// Record is one decoded, valid observation and where it came from.
type Record struct {
	// Obs is the observation. Its payload may be left undecoded (nil)
	// when the ingest stage knew it to be unchanged; Kind then names it.
	Obs *racktrackv1.Observation
	// Kind is the payload kind (see Kind); "" means Kind(Obs).
	Kind string
	// Raw is the Kafka message value; it is stored as the payload so the
	// raw table keeps exactly what the agent sent.
	Raw       []byte
	Partition int
	Offset    int64
}

// Key is the de-duplication key of an observation.
type Key struct {
	AgentID  string
	Sequence uint64
}

// KindOf returns r's payload kind.
func (r Record) KindOf() string {
	if r.Kind != "" {
		return r.Kind
	}
	return Kind(r.Obs)
}

// KeyOf returns the de-duplication key of r.
func (r Record) KeyOf() Key { return Key{AgentID: r.Obs.GetAgentId(), Sequence: r.Obs.GetSequence()} }

// Fresh returns the records of recs that are not yet stored, in their
// order: a key seen earlier in recs, or already present in the
// observations table, is dropped. One query per call reads which keys
// exist; the keys travel as an external table, so the batch size is not
// limited by the query size.
//
// Fresh is idempotent and writes nothing. Its error is an *OpError.
func (s *Store) Fresh(ctx context.Context, recs []Record) ([]Record, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	seen := make(map[Key]struct{}, len(recs))
	unique := make([]Record, 0, len(recs))
	minT, maxT := recs[0].Obs.GetObservedAt().AsTime(), recs[0].Obs.GetObservedAt().AsTime()
	keys, err := ext.NewTable("batch_keys",
		ext.Column("agent_id", column.Type("String")),
		ext.Column("sequence", column.Type("UInt64")))
	if err != nil {
		return nil, s.opError("check duplicates", err)
	}
	for _, r := range recs {
		k := r.KeyOf()
		if _, dup := seen[k]; dup {
			continue
		}
		seen[k] = struct{}{}
		unique = append(unique, r)
		t := r.Obs.GetObservedAt().AsTime()
		if t.Before(minT) {
			minT = t
		}
		if t.After(maxT) {
			maxT = t
		}
		if err := keys.Append(k.AgentID, k.Sequence); err != nil {
			return nil, s.opError("check duplicates", err)
		}
	}
	qctx, cancel := s.withTimeout(clickhouse.Context(ctx, clickhouse.WithExternalTable(keys)))
	defer cancel()
	// Duplicates carry the same observed_at, so the time range prunes
	// partitions; (agent_id, sequence) is the primary key.
	rows, err := s.conn.Query(qctx, `SELECT agent_id, sequence FROM `+s.t("observations")+`
		WHERE observed_at >= toDateTime(?) AND observed_at <= toDateTime(?)
		AND (agent_id, sequence) IN (SELECT agent_id, sequence FROM batch_keys)`,
		minT.Unix(), maxT.Unix())
	if err != nil {
		return nil, s.opError("check duplicates", err)
	}
	defer rows.Close()
	existing := map[Key]struct{}{}
	for rows.Next() {
		var k Key
		if err := rows.Scan(&k.AgentID, &k.Sequence); err != nil {
			return nil, s.opError("check duplicates", err)
		}
		existing[k] = struct{}{}
	}
	if err := rows.Err(); err != nil {
		return nil, s.opError("check duplicates", err)
	}
	if len(existing) == 0 {
		return unique, nil
	}
	fresh := unique[:0]
	for _, r := range unique {
		if _, ok := existing[r.KeyOf()]; !ok {
			fresh = append(fresh, r)
		}
	}
	return fresh, nil
}

// StateUpdate is a record whose tracked state (inventory, interfaces,
// neighbours, FDB) changed, with the previous observation of the same
// device and kind (nil for a device seen for the first time), from which
// the rows of removed components are derived.
type StateUpdate struct {
	Rec  Record
	Prev *racktrackv1.Observation
	// Digest and FactsHash identify the new state (see the ingest stage);
	// they are stored in device_state.
	Digest, FactsHash uint64
}

// Batch is what Write stores.
type Batch struct {
	// Raw are the records Fresh kept; each gets its raw row, and its
	// target status, health, sensor and counter rows.
	Raw []Record
	// State are the records whose tracked state changed.
	State []StateUpdate
}

// Write stores a batch: WriteDerived, then WriteRaw. Raw rows go last
// because Fresh treats a raw row as proof that everything derived from it
// is stored. If Write fails part-way, calling it again with the same batch
// is safe: every table is keyed and versioned, so rewriting a row changes
// nothing.
//
// Its error is an *OpError naming the insert that failed.
func (s *Store) Write(ctx context.Context, b Batch) error {
	if err := s.WriteDerived(ctx, b); err != nil {
		return err
	}
	return s.WriteRaw(ctx, b.Raw)
}

// WriteDerived stores every row of a batch but the raw observations: first
// the current-state rows of State together with the per-record rows of Raw
// (target status, health, sensor and counter rows), then device_state
// (which the ingest stage diffs against after a restart). device_state
// goes after the state tables so that a state it records is always stored.
// The tables of the first step are independent, so their INSERTs run
// concurrently (at most writeConcurrency at a time): the server parses and
// writes one part while the next block is built and sent. The batch's raw
// rows must be written (WriteRaw) only after WriteDerived succeeded.
//
// Its error is an *OpError naming the insert that failed; calling it again
// with the same batch is safe.
func (s *Store) WriteDerived(ctx context.Context, b Batch) error {
	if len(b.Raw) == 0 && len(b.State) == 0 {
		return nil
	}
	now := time.Now().UTC().Truncate(time.Second)
	type step struct {
		table string
		build func() *block
	}
	steps := [][]step{
		{
			{"servers", func() *block { return serversBlock(b.State, now) }},
			{"components", func() *block { return componentsBlock(b.State) }},
			{"switches", func() *block { return switchesBlock(b.State) }},
			{"interfaces", func() *block { return interfacesBlock(b.State) }},
			{"lldp_neighbors", func() *block { return lldpBlock(b.State) }},
			{"fdb_entries", func() *block { return fdbBlock(b.State) }},
			{"sensor_readings", func() *block { return sensorsBlock(b.Raw) }},
			{"target_status", func() *block { return targetStatusBlock(b.Raw, now) }},
			{"server_health", func() *block { return serverHealthBlock(b.Raw) }},
			{"interface_counters", func() *block { return countersBlock(b.Raw) }},
		},
		{{"device_state", func() *block { return deviceStateBlock(b.State) }}},
	}
	for _, group := range steps {
		// Each INSERT runs to its end; the error reported is that of
		// the first failed step in the order above, so it does not
		// depend on which finished first.
		errs := make([]error, len(group))
		var g errgroup.Group
		g.SetLimit(writeConcurrency)
		for i, st := range group {
			g.Go(func() error {
				errs[i] = s.insertBlock(ctx, "insert "+st.table, st.table, st.build())
				return nil
			})
		}
		_ = g.Wait() // the goroutines report in errs
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// WriteRaw stores the raw observation rows of recs, the proof for Fresh
// that the records and everything derived from them are stored: call it
// only once WriteDerived has stored their batch. Its error is an *OpError;
// calling it again with the same records is safe.
func (s *Store) WriteRaw(ctx context.Context, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	now := time.Now().UTC().Truncate(time.Second)
	return s.insertBlock(ctx, "insert observations", "observations", observationsBlock(recs, now))
}

// writeConcurrency bounds the INSERTs WriteDerived runs at once, and so
// the connections it holds: with the ingest stage's WriteRaw of the batch
// before, ingest holds at most 4 of the pool's 8, leaving the others to
// the API and the sweep.
const writeConcurrency = 3

// SourceName is the lower-case name of a source: redfish, snmp, lldp,
// agent, or unspecified.
func SourceName(s racktrackv1.Source) string {
	switch s {
	case racktrackv1.Source_SOURCE_REDFISH:
		return "redfish"
	case racktrackv1.Source_SOURCE_SNMP:
		return "snmp"
	case racktrackv1.Source_SOURCE_LLDP:
		return "lldp"
	case racktrackv1.Source_SOURCE_AGENT:
		return "agent"
	case racktrackv1.Source_SOURCE_UNSPECIFIED:
		return "unspecified"
	}
	return strings.ToLower(strings.TrimPrefix(s.String(), "SOURCE_"))
}

// Kind names the payload of o as its protobuf field name
// (server_inventory, switch_inventory, …), or "" when it has none.
func Kind(o *racktrackv1.Observation) string {
	switch o.GetPayload().(type) {
	case *racktrackv1.Observation_ServerInventory:
		return "server_inventory"
	case *racktrackv1.Observation_ServerHealth:
		return "server_health"
	case *racktrackv1.Observation_SwitchInventory:
		return "switch_inventory"
	case *racktrackv1.Observation_Interfaces:
		return "interfaces"
	case *racktrackv1.Observation_LldpNeighbors:
		return "lldp_neighbors"
	case *racktrackv1.Observation_Fdb:
		return "fdb"
	case *racktrackv1.Observation_TargetStatus:
		return "target_status"
	case *racktrackv1.Observation_AgentStatus:
		return "agent_status"
	case *racktrackv1.Observation_IpNeighbors:
		return "ip_neighbors" // kept raw; no current-state table yet
	}
	return ""
}

func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// observedAt returns the observation time in UTC and as the version
// number of current-state rows (Unix nanoseconds).
func observedAt(o *racktrackv1.Observation) (time.Time, uint64) {
	t := o.GetObservedAt().AsTime().UTC()
	return t, uint64(t.UnixNano())
}

func observationsBlock(recs []Record, now time.Time) *block {
	n := len(recs)
	b := &block{}
	agentID := col[string](b, "agent_id", n)
	sequence := col[uint64](b, "sequence", n)
	site := col[string](b, "site", n)
	rack := col[string](b, "rack", n)
	source := col[string](b, "source", n)
	target := col[string](b, "target", n)
	obsAt := col[time.Time](b, "observed_at", n)
	obsNs := col[uint64](b, "observed_at_ns", n)
	kind := col[string](b, "kind", n)
	complete := col[uint8](b, "complete", n)
	incomplete := col[[]string](b, "incomplete", n)
	snapshot := col[uint8](b, "snapshot", n)
	agentVersion := col[string](b, "agent_version", n)
	payload := col[string](b, "payload", n)
	partition := col[int32](b, "kafka_partition", n)
	offset := col[int64](b, "kafka_offset", n)
	ingested := col[time.Time](b, "ingested_at", n)
	for _, r := range recs {
		o := r.Obs
		t, ns := observedAt(o)
		*agentID = append(*agentID, o.GetAgentId())
		*sequence = append(*sequence, o.GetSequence())
		*site = append(*site, o.GetSite())
		*rack = append(*rack, o.GetRack())
		*source = append(*source, SourceName(o.GetSource()))
		*target = append(*target, o.GetTarget())
		*obsAt = append(*obsAt, t)
		*obsNs = append(*obsNs, ns)
		*kind = append(*kind, r.KindOf())
		*complete = append(*complete, b2u(o.GetComplete()))
		*incomplete = append(*incomplete, nonNil(o.GetIncomplete()))
		*snapshot = append(*snapshot, b2u(o.GetSnapshot()))
		*agentVersion = append(*agentVersion, o.GetAgentVersion())
		*payload = append(*payload, bytesString(r.Raw))
		*partition = append(*partition, int32(r.Partition))
		*offset = append(*offset, r.Offset)
		*ingested = append(*ingested, now)
	}
	return b
}

// bytesString views b as a string without copying. The Kafka message
// values it is used for are never modified once fetched, and the column
// copies the bytes when the block is built.
func bytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func serversBlock(updates []StateUpdate, now time.Time) *block {
	n := 0
	for _, up := range updates {
		if up.Rec.Obs.GetServerInventory() != nil {
			n++
		}
	}
	b := sized(n)
	site := col[string](b, "site", 0)
	target := col[string](b, "target", 0)
	rack := col[string](b, "rack", 0)
	agentID := col[string](b, "agent_id", 0)
	sequence := col[uint64](b, "sequence", 0)
	source := col[string](b, "source", 0)
	obsAt := col[time.Time](b, "observed_at", 0)
	version := col[uint64](b, "version", 0)
	complete := col[uint8](b, "complete", 0)
	incomplete := col[[]string](b, "incomplete", 0)
	str := func(name string) *[]string { return col[string](b, name, 0) }
	systemID, manufacturer, model, sku := str("system_id"), str("manufacturer"), str("model"), str("sku")
	serial, uuid, assetTag, bios := str("serial_number"), str("uuid"), str("asset_tag"), str("bios_version")
	hostname, power, health := str("hostname"), str("power_state"), str("health")
	partNumber, systemType := str("part_number"), str("system_type")
	mID, mManufacturer, mModel, mFirmware := str("manager_id"), str("manager_manufacturer"), str("manager_model"), str("manager_firmware_version")
	mMAC, mIP, mUUID, mHealth := str("manager_mac_address"), str("manager_ip_address"), str("manager_uuid"), str("manager_health")
	strs := func(name string) *[][]string { return col[[]string](b, name, 0) }
	nicID, nicAdapter, nicName, nicMAC, nicLink := strs("nics.id"), strs("nics.adapter_id"), strs("nics.name"), strs("nics.mac_address"), strs("nics.link_status")
	nicSpeed := col[[]uint32](b, "nics.speed_mbps", 0)
	nicHealth := strs("nics.health")
	contentHash := str("content_hash")
	ingested := col[time.Time](b, "ingested_at", 0)

	for _, up := range updates {
		o := up.Rec.Obs
		inv := o.GetServerInventory()
		if inv == nil {
			continue
		}
		t, ns := observedAt(o)
		sys, mgr := inv.GetSystem(), inv.GetManager()
		*site = append(*site, o.GetSite())
		*target = append(*target, o.GetTarget())
		*rack = append(*rack, o.GetRack())
		*agentID = append(*agentID, o.GetAgentId())
		*sequence = append(*sequence, o.GetSequence())
		*source = append(*source, SourceName(o.GetSource()))
		*obsAt = append(*obsAt, t)
		*version = append(*version, ns)
		*complete = append(*complete, b2u(o.GetComplete()))
		*incomplete = append(*incomplete, nonNil(o.GetIncomplete()))
		*systemID = append(*systemID, sys.GetId())
		*manufacturer = append(*manufacturer, sys.GetManufacturer())
		*model = append(*model, sys.GetModel())
		*sku = append(*sku, sys.GetSku())
		*serial = append(*serial, sys.GetSerialNumber())
		*uuid = append(*uuid, sys.GetUuid())
		*assetTag = append(*assetTag, sys.GetAssetTag())
		*bios = append(*bios, sys.GetBiosVersion())
		*hostname = append(*hostname, sys.GetHostname())
		*power = append(*power, sys.GetPowerState())
		*health = append(*health, sys.GetHealth())
		*partNumber = append(*partNumber, sys.GetPartNumber())
		*systemType = append(*systemType, sys.GetSystemType())
		*mID = append(*mID, mgr.GetId())
		*mManufacturer = append(*mManufacturer, mgr.GetManufacturer())
		*mModel = append(*mModel, mgr.GetModel())
		*mFirmware = append(*mFirmware, mgr.GetFirmwareVersion())
		*mMAC = append(*mMAC, mgr.GetMacAddress())
		*mIP = append(*mIP, mgr.GetIpAddress())
		*mUUID = append(*mUUID, mgr.GetUuid())
		*mHealth = append(*mHealth, mgr.GetHealth())
		nics := inv.GetNics()
		ids, adapters, names, macs, links, healths := make([]string, len(nics)), make([]string, len(nics)), make([]string, len(nics)), make([]string, len(nics)), make([]string, len(nics)), make([]string, len(nics))
		speeds := make([]uint32, len(nics))
		for i, n := range nics {
			ids[i], adapters[i], names[i], macs[i], links[i], healths[i] = n.GetId(), n.GetAdapterId(), n.GetName(), n.GetMacAddress(), n.GetLinkStatus(), n.GetHealth()
			speeds[i] = n.GetSpeedMbps()
		}
		*nicID = append(*nicID, ids)
		*nicAdapter = append(*nicAdapter, adapters)
		*nicName = append(*nicName, names)
		*nicMAC = append(*nicMAC, macs)
		*nicLink = append(*nicLink, links)
		*nicSpeed = append(*nicSpeed, speeds)
		*nicHealth = append(*nicHealth, healths)
		*contentHash = append(*contentHash, inv.GetContentHash())
		*ingested = append(*ingested, now)
	}
	return b
}

func targetStatusBlock(recs []Record, now time.Time) *block {
	n := 0
	for _, r := range recs {
		if r.Obs.GetTargetStatus() != nil {
			n++
		}
	}
	b := sized(n)
	site := col[string](b, "site", 0)
	agentID := col[string](b, "agent_id", 0)
	target := col[string](b, "target", 0)
	rack := col[string](b, "rack", 0)
	source := col[string](b, "source", 0)
	sequence := col[uint64](b, "sequence", 0)
	obsAt := col[time.Time](b, "observed_at", 0)
	version := col[uint64](b, "version", 0)
	reachable := col[uint8](b, "reachable", 0)
	operation := col[string](b, "operation", 0)
	errText := col[string](b, "error", 0)
	errKind := col[string](b, "error_kind", 0)
	latency := col[uint32](b, "latency_ms", 0)
	failures := col[uint32](b, "consecutive_failures", 0)
	next := col[time.Time](b, "next_attempt", 0)
	requests := col[uint32](b, "requests", 0)
	ingested := col[time.Time](b, "ingested_at", 0)
	for _, r := range recs {
		o := r.Obs
		ts := o.GetTargetStatus()
		if ts == nil {
			continue
		}
		t, ns := observedAt(o)
		*site = append(*site, o.GetSite())
		*agentID = append(*agentID, o.GetAgentId())
		*target = append(*target, o.GetTarget())
		*rack = append(*rack, o.GetRack())
		*source = append(*source, SourceName(o.GetSource()))
		*sequence = append(*sequence, o.GetSequence())
		*obsAt = append(*obsAt, t)
		*version = append(*version, ns)
		*reachable = append(*reachable, b2u(ts.GetReachable()))
		*operation = append(*operation, ts.GetOperation())
		*errText = append(*errText, ts.GetError())
		*errKind = append(*errKind, ts.GetErrorKind())
		*latency = append(*latency, ts.GetLatencyMs())
		*failures = append(*failures, ts.GetConsecutiveFailures())
		var na time.Time
		if ts.GetNextAttempt() != nil {
			na = ts.GetNextAttempt().AsTime().UTC()
		} else {
			na = time.Unix(0, 0).UTC()
		}
		*next = append(*next, na)
		*requests = append(*requests, ts.GetRequests())
		*ingested = append(*ingested, now)
	}
	return b
}
