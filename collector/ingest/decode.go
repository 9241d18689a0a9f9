package ingest

import (
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/racktrack/racktrack/collector/inventory"
	"github.com/racktrack/racktrack/collector/state"
	"github.com/racktrack/racktrack/collector/store"
	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
)

// InvalidError says why a Kafka message is not a usable observation. Such a
// message is dead-lettered with Reason.
type InvalidError struct {
	Reason string
	// Err is the protobuf decoding error, if that is what failed.
	Err error
}

func (e *InvalidError) Error() string {
	if e.Err != nil {
		return e.Reason + ": " + e.Err.Error()
	}
	return e.Reason
}

// Unwrap returns the decoding error, if any.
func (e *InvalidError) Unwrap() error { return e.Err }

// KindUnknown is the kind of an observation whose payload is a type this
// collector does not know (a newer agent): it is stored raw and
// de-duplicated, but derives no current state.
const KindUnknown = "unknown"

// The range of observed_at a ClickHouse DateTime can hold (and that makes
// sense for an observation).
var (
	minObservedAt = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	maxObservedAt = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Decode parses a Kafka message value into an Observation and checks the
// fields the collector relies on: agent_id and a non-zero sequence (the
// de-duplication key), observed_at (the partition and the version of
// current state), and a payload. A payload of a type this build does not
// know is accepted when the message carries unknown fields (see
// KindUnknown). The error is an *InvalidError.
func Decode(value []byte) (*racktrackv1.Observation, error) {
	o := &racktrackv1.Observation{}
	if err := proto.Unmarshal(value, o); err != nil {
		return nil, &InvalidError{Reason: "not a racktrack.v1.Observation", Err: err}
	}
	if err := Validate(o); err != nil {
		return nil, err
	}
	return o, nil
}

// Validate checks a decoded observation as Decode does.
func Validate(o *racktrackv1.Observation) error {
	if err := validateEnvelope(o); err != nil {
		return err
	}
	if o.GetPayload() == nil && len(o.ProtoReflect().GetUnknown()) == 0 {
		return &InvalidError{Reason: "payload is missing"}
	}
	return nil
}

// validateEnvelope checks the fields other than the payload.
func validateEnvelope(o *racktrackv1.Observation) error {
	switch {
	case o.GetAgentId() == "":
		return &InvalidError{Reason: "agent_id is empty"}
	case o.GetSequence() == 0:
		return &InvalidError{Reason: "sequence is 0"}
	case o.GetObservedAt() == nil:
		return &InvalidError{Reason: "observed_at is missing"}
	}
	if err := o.GetObservedAt().CheckValid(); err != nil {
		return &InvalidError{Reason: "observed_at is invalid", Err: err}
	}
	if t := o.GetObservedAt().AsTime(); t.Before(minObservedAt) || !t.Before(maxObservedAt) {
		return &InvalidError{Reason: fmt.Sprintf("observed_at %s is outside %d-%d", t.Format(time.RFC3339), minObservedAt.Year(), maxObservedAt.Year())}
	}
	return nil
}

// kindOf is store.Kind, or KindUnknown for a payload of a newer type.
func kindOf(o *racktrackv1.Observation) string {
	if k := store.Kind(o); k != "" {
		return k
	}
	return KindUnknown
}

// reasonOf returns the dead-letter reason for a decoding error.
func reasonOf(err error) string {
	var ie *InvalidError
	if errors.As(err, &ie) {
		return ie.Error()
	}
	return err.Error()
}

// payloadKinds maps the payload field numbers of Observation to kinds.
var payloadKinds = map[protowire.Number]string{
	20: "server_inventory", 21: "server_health", 22: "switch_inventory", 23: "interfaces",
	24: "lldp_neighbors", 25: "fdb", 26: "target_status", 27: "agent_status", 28: "ip_neighbors",
}

// firstPayloadField is the lowest field number of the payload oneof;
// envelope fields are below it.
const firstPayloadField = 20

// splitEnvelope returns the encoded envelope of an Observation (every field
// but the payload) and the payload's field number and bytes, without
// decoding the payload. ok is false when value is not walkable protobuf or
// has no payload, or more than one.
func splitEnvelope(value []byte) (env []byte, num protowire.Number, payload []byte, ok bool) {
	b := value
	for len(b) > 0 {
		n, typ, tagLen := protowire.ConsumeTag(b)
		if tagLen < 0 {
			return nil, 0, nil, false
		}
		valLen := protowire.ConsumeFieldValue(n, typ, b[tagLen:])
		if valLen < 0 {
			return nil, 0, nil, false
		}
		field := b[:tagLen+valLen]
		b = b[tagLen+valLen:]
		if n < firstPayloadField {
			env = append(env, field...)
			continue
		}
		if num != 0 || typ != protowire.BytesType {
			return nil, 0, nil, false
		}
		num = n
		payload, _ = protowire.ConsumeBytes(field[tagLen:])
	}
	return env, num, payload, num != 0
}

// unchangedOracle says whether a payload is byte-for-byte the last-known
// state of its device (state.Tracker.Unchanged).
type unchangedOracle func(site, device, kind string, partition int, digest uint64) bool

// batchOracle extends an unchangedOracle over one batch: a payload is also
// unchanged when the device's previous record in the batch, decoded
// successfully, had the same digest. The tracker learns a batch's states
// only once it is stored, so without this every poll of a device in the
// batch (and in the next one, decoded meanwhile) would be decoded in full.
// Use unchanged as decodeRecord's oracle, and call done after each
// decodeRecord, in message order.
type batchOracle struct {
	next unchangedOracle
	last map[batchDevice]uint64
	// The device and digest unchanged was last asked about, since the
	// last call of done.
	asked   batchDevice
	digest  uint64
	pending bool
}

// batchDevice is a device's state of one kind, in one partition.
type batchDevice struct {
	site, device, kind string
	partition          int
}

func newBatchOracle(next unchangedOracle) *batchOracle {
	return &batchOracle{next: next, last: map[batchDevice]uint64{}}
}

func (b *batchOracle) unchanged(site, device, kind string, partition int, digest uint64) bool {
	b.asked, b.digest, b.pending = batchDevice{site, device, kind, partition}, digest, true
	if d, ok := b.last[b.asked]; ok && d == digest {
		return true
	}
	return b.next != nil && b.next(site, device, kind, partition, digest)
}

// done ends one message: valid says whether decodeRecord accepted it.
func (b *batchOracle) done(valid bool) {
	if b.pending && valid {
		b.last[b.asked] = b.digest
	}
	b.pending = false
}

// decodeRecord decodes one message into a store.Record. An inventory whose
// payload bytes equal the device's last-known state (per unchanged) is
// decoded without its payload: those bytes were decoded successfully
// before, and the state stage decodes them again only if it must. Anything
// else is decoded and validated in full. The error is an *InvalidError.
func decodeRecord(value []byte, partition int, offset int64, unchanged unchangedOracle) (store.Record, error) {
	if unchanged != nil {
		if env, num, payload, ok := splitEnvelope(value); ok {
			kind := payloadKinds[num]
			if kind == "server_inventory" || kind == "switch_inventory" {
				o := &racktrackv1.Observation{}
				if err := proto.Unmarshal(env, o); err == nil && validateEnvelope(o) == nil {
					digest := state.PayloadDigestOf(num, payload)
					if unchanged(o.GetSite(), inventory.Device(o), kind, partition, digest) {
						return store.Record{Obs: o, Kind: kind, Raw: value, Partition: partition, Offset: offset}, nil
					}
				}
			}
		}
	}
	o, err := Decode(value)
	if err != nil {
		return store.Record{}, err
	}
	return store.Record{Obs: o, Kind: kindOf(o), Raw: value, Partition: partition, Offset: offset}, nil
}
