package store

import (
	"context"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/ext"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
)

// ChangeRow is one field-level change in the history.
type ChangeRow struct {
	Site, Device string
	ObservedAt   time.Time
	// Kind is the payload kind the change was seen in (server_inventory …).
	Kind      string
	Component string
	Field     string
	// Change is the inventory.ChangeKind.
	Change   string
	From, To string
	// Provenance of the observation that showed the change.
	Rack, AgentID, Source, Target string
	Sequence                      uint64
	// PrevObservedAt is when the previous state was observed (zero for a
	// new device).
	PrevObservedAt time.Time
}

// WriteChanges appends history rows. Rows derived again from a redelivered
// observation fold into the first ones (the table is keyed by device,
// time, kind, component and field). Its error is an *OpError.
func (s *Store) WriteChanges(ctx context.Context, rows []ChangeRow) error {
	if len(rows) == 0 {
		return nil
	}
	now := time.Now().UTC().Truncate(time.Second)
	b := &block{}
	str := func(n string) *[]string { return col[string](b, n, len(rows)) }
	site, device, kind, component, field, change := str("site"), str("device"), str("kind"), str("component"), str("field"), str("change")
	from, to, rack, agent, source, target := str("from_value"), str("to_value"), str("rack"), str("agent_id"), str("source"), str("target")
	obsAt, prevAt, ingested := col[time.Time](b, "observed_at", len(rows)), col[time.Time](b, "prev_observed_at", len(rows)), col[time.Time](b, "ingested_at", len(rows))
	seq := col[uint64](b, "sequence", len(rows))
	for _, r := range rows {
		*site = append(*site, r.Site)
		*device = append(*device, r.Device)
		*kind = append(*kind, r.Kind)
		*component = append(*component, r.Component)
		*field = append(*field, r.Field)
		*change = append(*change, r.Change)
		*from = append(*from, r.From)
		*to = append(*to, r.To)
		*rack = append(*rack, r.Rack)
		*agent = append(*agent, r.AgentID)
		*source = append(*source, r.Source)
		*target = append(*target, r.Target)
		*obsAt = append(*obsAt, r.ObservedAt.UTC())
		prev := r.PrevObservedAt
		if prev.IsZero() {
			prev = time.Unix(0, 0)
		}
		*prevAt = append(*prevAt, prev.UTC())
		*ingested = append(*ingested, now)
		*seq = append(*seq, r.Sequence)
	}
	return s.insertBlock(ctx, "insert changes", "changes", b)
}

// DeviceKey names the tracked state of one device for one payload kind.
type DeviceKey struct {
	Site, Device, Kind string
}

// DeviceState is the last stored state of a device for one kind.
type DeviceState struct {
	// Version and ObservedAt are those of the newest observation of the
	// device and kind (device_seen), which may be newer than the one that
	// set the state.
	Version           uint64
	Digest, FactsHash uint64
	ObservedAt        time.Time
	// Raw is the observation (Kafka value) that set the state.
	Raw []byte
}

// DeviceStates reads the stored state of the given devices, in one query;
// devices with no state are absent from the result. Its error is an
// *OpError.
func (s *Store) DeviceStates(ctx context.Context, keys []DeviceKey) (map[DeviceKey]DeviceState, error) {
	out := make(map[DeviceKey]DeviceState, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	tbl, err := ext.NewTable("wanted",
		ext.Column("site", column.Type("String")),
		ext.Column("device", column.Type("String")),
		ext.Column("kind", column.Type("String")))
	if err != nil {
		return nil, s.opError("read device_state", err)
	}
	for _, k := range keys {
		if err := tbl.Append(k.Site, k.Device, k.Kind); err != nil {
			return nil, s.opError("read device_state", err)
		}
	}
	qctx, cancel := s.withTimeout(clickhouse.Context(ctx, clickhouse.WithExternalTable(tbl)))
	defer cancel()
	rows, err := s.conn.Query(qctx, `SELECT site, device, kind, version, digest, facts_hash, observed_at, payload,
			seen_version, seen_at
		FROM (
			SELECT site, device, kind, version, digest, facts_hash, observed_at, payload
			FROM `+s.t("device_state")+` FINAL
			WHERE (site, device, kind) IN (SELECT site, device, kind FROM wanted)
		) ANY LEFT JOIN (
			SELECT site, device, kind, version AS seen_version, observed_at AS seen_at
			FROM `+s.t("device_seen")+` FINAL
			WHERE (site, device, kind) IN (SELECT site, device, kind FROM wanted)
		) USING (site, device, kind)`)
	if err != nil {
		return nil, s.opError("read device_state", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			k           DeviceKey
			st          DeviceState
			payload     string
			seenVersion uint64
			seenAt      time.Time
		)
		if err := rows.Scan(&k.Site, &k.Device, &k.Kind, &st.Version, &st.Digest, &st.FactsHash, &st.ObservedAt, &payload,
			&seenVersion, &seenAt); err != nil {
			return nil, s.opError("read device_state", err)
		}
		st.Raw = []byte(payload)
		st.ObservedAt = st.ObservedAt.UTC()
		if seenVersion > st.Version {
			st.Version, st.ObservedAt = seenVersion, seenAt.UTC()
		}
		out[k] = st
	}
	if err := rows.Err(); err != nil {
		return nil, s.opError("read device_state", err)
	}
	return out, nil
}

// Disappeared returns a device_disappeared change for every server and
// switch whose newest inventory observation is older than now-staleAfter
// and whose disappearance is not yet recorded. The change is dated
// last-seen + staleAfter, so collectors that sweep at different times
// derive the same row (and the same event id). Its error is an *OpError.
func (s *Store) Disappeared(ctx context.Context, now time.Time, staleAfter time.Duration) ([]ChangeRow, error) {
	secs := int64(staleAfter / time.Second)
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	rows, err := s.conn.Query(ctx, `SELECT site, device, kind, observed_at, rack, agent_id, source, target, sequence
		FROM `+s.t("device_seen")+` FINAL
		WHERE kind IN ('server_inventory', 'switch_inventory')
			AND observed_at < toDateTime(?)
			AND (site, device, kind, observed_at + ?) NOT IN (
				SELECT site, device, kind, observed_at FROM `+s.t("changes")+`
				WHERE change = 'device_disappeared')
		ORDER BY site, device, kind`, now.Unix()-secs, secs)
	if err != nil {
		return nil, s.opError("select disappeared devices", err)
	}
	defer rows.Close()
	out := []ChangeRow{}
	for rows.Next() {
		var (
			c    ChangeRow
			seen time.Time
		)
		if err := rows.Scan(&c.Site, &c.Device, &c.Kind, &seen, &c.Rack, &c.AgentID, &c.Source, &c.Target, &c.Sequence); err != nil {
			return nil, s.opError("select disappeared devices", err)
		}
		c.PrevObservedAt = seen.UTC()
		c.ObservedAt = c.PrevObservedAt.Add(time.Duration(secs) * time.Second)
		c.Change = "device_disappeared"
		c.From = c.PrevObservedAt.Format(time.RFC3339)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, s.opError("select disappeared devices", err)
	}
	return out, nil
}
