// Package state is the collector stage between de-duplication and storage:
// it keeps the last-known state of every device, per payload kind, and
// turns each new observation into the current-state rows to write, the
// field-level changes to record and the events to publish.
//
// Who owns a batch. The ingest stage calls Plan with the batch's fresh
// records; Plan reads the cache (loading what it lacks from the store's
// device_state in one query) but changes nothing. Only after every row and
// event of the plan is stored does ingest call Commit, which makes the
// plan's states the last-known ones. A failed batch is simply planned
// again from the same cache, so a retry derives the same changes, and
// those fold into the rows already written.
//
// What an error means. Plan fails only if loading state from ClickHouse
// fails (an *store.OpError); the batch is then retried. Plan never drops a
// record: an observation older than the device's last-known state is kept
// for the raw table but changes no state (it is counted as stale).
//
// Cache validity. A device's observations arrive on one Kafka partition
// (they are keyed by site and target). The Tracker remembers the next
// offset it expects per partition; if a batch starts elsewhere, another
// collector handled the partition in between, and the cached states of
// that partition's devices are dropped and reloaded.
//
// A Tracker is used by one goroutine at a time.
package state

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/racktrack/racktrack/collector/inventory"
	"github.com/racktrack/racktrack/collector/store"
	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
)

// Event kinds published for changes.
const (
	EventDeviceAppeared    = "device.appeared"
	EventFieldChanged      = "field.changed"
	EventComponentAppeared = "component.appeared"
	EventComponentRemoved  = "component.removed"
)

// Options configure a Tracker.
type Options struct {
	// Store loads state the cache lacks. Required.
	Store *store.Store
	// Logger receives cache invalidations. Nil discards.
	Logger *slog.Logger
	// Registerer receives the stage's metrics. Nil registers nowhere.
	Registerer prometheus.Registerer
	// StaleAfter: a device observed again after a longer silence than
	// this (it was declared disappeared) is announced as appeared again.
	// 0 disables that.
	StaleAfter time.Duration
}

// Tracker keeps the last-known state per device and kind.
type Tracker struct {
	st  *store.Store
	log *slog.Logger
	// mu guards entries: the ingest stage's fetcher asks Unchanged while
	// its writer plans and commits.
	mu      sync.RWMutex
	entries map[store.DeviceKey]*entry
	next    map[int]int64 // partition → next expected offset
	stale   time.Duration

	changes  *prometheus.CounterVec
	loaded   prometheus.Counter
	staleObs prometheus.Counter
	devices  prometheus.Gauge
}

// entry is the last-known state of one device for one kind.
type entry struct {
	partition int
	// seen is the version (observed_at in ns) of the newest observation,
	// whether or not it changed anything; older observations are stale.
	seen      uint64
	seenAt    time.Time
	digest    uint64 // of the payload bytes that set the state
	factsHash uint64
	raw       []byte // the observation that set the state
	facts     inventory.Facts
	hasFacts  bool
}

// New returns an empty Tracker.
func New(opts Options) (*Tracker, error) {
	if opts.Store == nil {
		return nil, errors.New("state: Options.Store is required")
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	t := &Tracker{
		st:      opts.Store,
		log:     logger.With("stage", "state"),
		entries: map[store.DeviceKey]*entry{},
		next:    map[int]int64{},
		stale:   opts.StaleAfter,
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "racktrack_collector_state_changes_total",
			Help: "Changes derived from observations, by change kind.",
		}, []string{"change"}),
		loaded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "racktrack_collector_state_loads_total",
			Help: "Device states loaded from ClickHouse because the cache lacked them.",
		}),
		staleObs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "racktrack_collector_state_stale_observations_total",
			Help: "Observations older than their device's last-known state (stored raw, no state change).",
		}),
		devices: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "racktrack_collector_state_cached_devices",
			Help: "Device states (per kind) held in the cache.",
		}),
	}
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{t.changes, t.loaded, t.staleObs, t.devices} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("state: register metrics: %w", err)
			}
		}
	}
	return t, nil
}

// Seen tells the Tracker that the next batch holds offsets first…last of
// partition. If the partition did not continue where the Tracker left it,
// the cached states of its devices are dropped.
func (t *Tracker) Seen(partition int, first, last int64) {
	if exp, ok := t.next[partition]; ok && exp != first {
		t.mu.Lock()
		defer t.mu.Unlock()
		n := 0
		for k, e := range t.entries {
			if e.partition == partition {
				delete(t.entries, k)
				n++
			}
		}
		t.devices.Set(float64(len(t.entries)))
		t.log.Info("partition moved while away; dropped cached device states", "partition", partition,
			"expected_offset", exp, "offset", first, "dropped", n)
	}
	t.next[partition] = last + 1
}

// Plan is what one batch changes. Write State and Changes, publish Events,
// then Commit.
type Plan struct {
	// State are the records whose tracked state changed.
	State []store.StateUpdate
	// Changes are the history rows.
	Changes []store.ChangeRow
	// Events announce the changes, in order.
	Events []*racktrackv1.Event
	// Stale counts observations older than their device's state.
	Stale int

	entries map[store.DeviceKey]*entry
	loaded  int
}

// Plan compares the tracked records of fresh (which must not hold
// duplicates) with the last-known states. It loads states missing from the
// cache with one query; it changes nothing until Commit.
func (t *Tracker) Plan(ctx context.Context, fresh []store.Record) (*Plan, error) {
	// Plan only reads entries; Commit, in the same goroutine, writes.
	t.mu.RLock()
	defer t.mu.RUnlock()
	type item struct {
		key store.DeviceKey
		rec store.Record
		ver uint64
	}
	var items []item
	for _, r := range fresh {
		kind := r.KindOf()
		if !inventory.Tracked(kind) {
			continue
		}
		items = append(items, item{
			key: store.DeviceKey{Site: r.Obs.GetSite(), Device: inventory.Device(r.Obs), Kind: kind},
			rec: r,
			ver: uint64(r.Obs.GetObservedAt().AsTime().UnixNano()),
		})
	}
	p := &Plan{entries: map[store.DeviceKey]*entry{}}
	if len(items) == 0 {
		return p, nil
	}
	// Group by device, oldest first within a device, so each observation
	// is compared with its predecessor. A device's observations come from
	// one partition and are nearly always in order already.
	groups := map[store.DeviceKey][]int{}
	var order []store.DeviceKey
	for i, it := range items {
		g, ok := groups[it.key]
		if !ok {
			order = append(order, it.key)
		}
		groups[it.key] = append(g, i)
	}
	byAge := func(a, b int) int {
		return cmp.Or(cmp.Compare(items[a].ver, items[b].ver),
			cmp.Compare(items[a].rec.Obs.GetSequence(), items[b].rec.Obs.GetSequence()))
	}
	sorted := make([]item, 0, len(items))
	for _, k := range order {
		g := groups[k]
		if !slices.IsSortedFunc(g, byAge) {
			slices.SortStableFunc(g, byAge)
		}
		for _, i := range g {
			sorted = append(sorted, items[i])
		}
	}
	items = sorted
	var missing []store.DeviceKey
	for i, it := range items {
		if i > 0 && items[i-1].key == it.key {
			continue
		}
		if e, ok := t.entries[it.key]; !ok || e.partition != it.rec.Partition {
			missing = append(missing, it.key)
		}
	}
	loaded := map[store.DeviceKey]store.DeviceState{}
	if len(missing) > 0 {
		var err error
		loaded, err = t.st.DeviceStates(ctx, missing)
		if err != nil {
			return nil, err
		}
		p.loaded = len(missing)
	}
	current := func(it item) *entry {
		if e, ok := p.entries[it.key]; ok {
			return e
		}
		if e, ok := t.entries[it.key]; ok && e.partition == it.rec.Partition {
			return e
		}
		if s, ok := loaded[it.key]; ok {
			return &entry{partition: it.rec.Partition, seen: s.Version, seenAt: s.ObservedAt,
				digest: s.Digest, factsHash: s.FactsHash, raw: s.Raw}
		}
		return nil
	}

	for _, it := range items {
		prev := current(it)
		o := it.rec.Obs
		if prev != nil && it.ver < prev.seen {
			p.Stale++
			continue
		}
		digest := PayloadDigest(it.rec.Raw)
		back := prev != nil && t.stale > 0 && it.ver > prev.seen+uint64(t.stale) && inventory.Historied(it.key.Kind)
		if prev != nil && digest == prev.digest && !back {
			p.entries[it.key] = prev.touched(it.ver, o, it.rec.Partition)
			continue
		}
		if o.GetPayload() == nil {
			// Decoded without its payload, as unchanged; planning needs it
			// after all (the cached state moved on, or was dropped).
			full := &racktrackv1.Observation{}
			if err := proto.Unmarshal(it.rec.Raw, full); err != nil {
				// Cannot happen: these bytes hash like a payload that was
				// decoded before. Keep the raw row, change no state.
				t.log.Error("cannot decode an observation decoded before; its state is not tracked",
					"site", it.key.Site, "device", it.key.Device, "kind", it.key.Kind, "err", err)
				p.Stale++
				continue
			}
			o = full
			it.rec.Obs = full
		}
		if back {
			// Back after a silence long enough to be declared gone.
			c := inventory.Change{Kind: inventory.DeviceAppeared, To: inventory.Summary(inventory.Flatten(o)[""])}
			p.Changes = append(p.Changes, changeRow(it.key, o, c, prev.seenAt))
			p.Events = append(p.Events, event(it.key, o, c))
			if digest == prev.digest {
				p.entries[it.key] = prev.touched(it.ver, o, it.rec.Partition)
				continue
			}
		}
		facts := inventory.Flatten(o)
		fh := facts.Hash()
		if prev != nil && fh == prev.factsHash {
			e := prev.touched(it.ver, o, it.rec.Partition)
			e.digest = digest
			p.entries[it.key] = e
			continue
		}
		var (
			oldFacts inventory.Facts
			prevObs  *racktrackv1.Observation
		)
		if prev != nil {
			var err error
			if prevObs, oldFacts, err = prev.decode(); err != nil {
				// The stored state is unreadable (it was valid when
				// stored, so this is a bug or corruption): treat the
				// device as new rather than stop ingest.
				t.log.Error("cannot decode stored device state; treating device as new",
					"site", it.key.Site, "device", it.key.Device, "kind", it.key.Kind, "err", err)
				prev, prevObs, oldFacts = nil, nil, nil
			}
		}
		p.State = append(p.State, store.StateUpdate{Rec: it.rec, Prev: prevObs, Digest: digest, FactsHash: fh})
		if inventory.Historied(it.key.Kind) {
			var prevAt time.Time
			if prev != nil {
				prevAt = prev.seenAt
			}
			for _, c := range inventory.Diff(oldFacts, facts) {
				p.Changes = append(p.Changes, changeRow(it.key, o, c, prevAt))
				p.Events = append(p.Events, event(it.key, o, c))
			}
		}
		p.entries[it.key] = &entry{partition: it.rec.Partition, seen: it.ver, seenAt: o.GetObservedAt().AsTime(),
			digest: digest, factsHash: fh, raw: it.rec.Raw, facts: facts, hasFacts: true}
	}
	return p, nil
}

// touched returns a copy of e updated for an observation that changed
// nothing.
func (e *entry) touched(ver uint64, o *racktrackv1.Observation, partition int) *entry {
	c := *e
	c.seen, c.seenAt, c.partition = ver, o.GetObservedAt().AsTime(), partition
	return &c
}

// decode returns the observation that set e's state, and its facts.
func (e *entry) decode() (*racktrackv1.Observation, inventory.Facts, error) {
	o := &racktrackv1.Observation{}
	if err := proto.Unmarshal(e.raw, o); err != nil {
		return nil, nil, err
	}
	if e.hasFacts {
		return o, e.facts, nil
	}
	return o, inventory.Flatten(o), nil
}

// Unchanged reports whether digest (PayloadDigest of an observation's
// payload) is the last-known state of the device and kind, as cached for
// partition. It is safe to call concurrently with the other methods.
func (t *Tracker) Unchanged(site, device, kind string, partition int, digest uint64) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	e, ok := t.entries[store.DeviceKey{Site: site, Device: device, Kind: kind}]
	return ok && e.partition == partition && e.digest == digest
}

// Commit makes the plan's states the last-known ones. Call it only after
// everything in the plan is stored.
func (t *Tracker) Commit(p *Plan) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, e := range p.entries {
		// Facts are kept only while planning; the cache holds the raw
		// observation, which is smaller.
		c := *e
		c.facts, c.hasFacts = nil, false
		t.entries[k] = &c
	}
	for _, c := range p.Changes {
		t.changes.WithLabelValues(c.Change).Inc()
	}
	t.loaded.Add(float64(p.loaded))
	t.staleObs.Add(float64(p.Stale))
	t.devices.Set(float64(len(t.entries)))
}

func changeRow(k store.DeviceKey, o *racktrackv1.Observation, c inventory.Change, prevAt time.Time) store.ChangeRow {
	return store.ChangeRow{
		Site: k.Site, Device: k.Device, Kind: k.Kind,
		ObservedAt: o.GetObservedAt().AsTime().UTC(),
		Component:  c.Component, Field: c.Field, Change: string(c.Kind), From: c.From, To: c.To,
		Rack: o.GetRack(), AgentID: o.GetAgentId(), Source: store.SourceName(o.GetSource()), Target: o.GetTarget(),
		Sequence: o.GetSequence(), PrevObservedAt: prevAt,
	}
}

// event renders a change as a racktrack.events message. Its id is derived
// from the observation and the change, so a change derived again after a
// redelivery carries the same id.
func event(k store.DeviceKey, o *racktrackv1.Observation, c inventory.Change) *racktrackv1.Event {
	var kind, field string
	switch c.Kind {
	case inventory.DeviceAppeared:
		kind = EventDeviceAppeared
	case inventory.ComponentAppeared:
		kind, field = EventComponentAppeared, c.Component
	case inventory.ComponentRemoved:
		kind, field = EventComponentRemoved, c.Component
	default:
		kind, field = EventFieldChanged, c.Field
		if c.Component != "" {
			field = c.Component + "." + c.Field
		}
	}
	h := xxhash.New()
	for _, s := range []string{o.GetAgentId(), strconv.FormatUint(o.GetSequence(), 10), k.Kind, kind, field} {
		h.WriteString(s)
		h.Write([]byte{0})
	}
	return &racktrackv1.Event{
		Id:      fmt.Sprintf("%016x", h.Sum64()),
		Kind:    kind,
		At:      timestamppb.New(o.GetObservedAt().AsTime()),
		Site:    k.Site,
		Device:  k.Device,
		Field:   field,
		From:    c.From,
		To:      c.To,
		Source:  store.SourceName(o.GetSource()),
		AgentId: o.GetAgentId(),
		Target:  o.GetTarget(),
	}
}

// EventDeviceDisappeared is the kind of the event for a device_disappeared
// change.
const EventDeviceDisappeared = "device.disappeared"

// DisappearedEvent renders a device_disappeared change (see
// store.Disappeared) as an event; its id depends only on the device and
// the change's time, so every collector derives the same.
func DisappearedEvent(c store.ChangeRow) *racktrackv1.Event {
	h := xxhash.New()
	for _, s := range []string{c.Site, c.Device, c.Kind, EventDeviceDisappeared, strconv.FormatInt(c.ObservedAt.Unix(), 10)} {
		h.WriteString(s)
		h.Write([]byte{0})
	}
	return &racktrackv1.Event{
		Id: fmt.Sprintf("%016x", h.Sum64()), Kind: EventDeviceDisappeared, At: timestamppb.New(c.ObservedAt),
		Site: c.Site, Device: c.Device, From: c.From, Source: c.Source, AgentId: c.AgentID, Target: c.Target,
	}
}

// PayloadDigestOf is PayloadDigest given the payload's field number and
// bytes.
func PayloadDigestOf(num protowire.Number, payload []byte) uint64 {
	return xxhash.Sum64(payload) ^ uint64(num)
}

// PayloadDigest hashes the payload field of an encoded Observation (the
// oneof, fields 20 and up), without decoding it: equal payload bytes mean
// an unchanged state. If the encoding cannot be walked, the whole value is
// hashed.
func PayloadDigest(raw []byte) uint64 {
	b := raw
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return xxhash.Sum64(raw)
		}
		b = b[n:]
		if num >= 20 && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return xxhash.Sum64(raw)
			}
			return PayloadDigestOf(num, v)
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return xxhash.Sum64(raw)
		}
		b = b[m:]
	}
	return xxhash.Sum64(raw)
}
