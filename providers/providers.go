// Package providers holds the contract every device protocol implements:
// a provider polls one target into observations and applies change
// operations to it. One package per protocol lives below this one.
package providers

import (
	"context"
	"errors"
	"fmt"

	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
)

// Provider reads one target and applies changes to it. A Provider is owned
// by the agent's scheduler, which calls Poll at most once at a time per
// provider and calls Close exactly once when the target is removed or the
// agent stops.
type Provider interface {
	// Poll reads the target once. It returns the observations made, with
	// Source, Target, payload and Complete/Incomplete set; the agent stamps
	// identity, time and sequence. When part of the target could not be
	// read, Poll returns what it could with Complete false and a nil error.
	// When nothing could be read it returns a *TargetError. Poll honours
	// ctx cancellation and deadlines on every network call.
	Poll(ctx context.Context) (PollResult, error)
	// Apply performs one change operation and reports what the device
	// shows afterwards (read back, not assumed).
	Apply(ctx context.Context, op *racktrackv1.Operation) (*racktrackv1.OperationResult, error)
	// Close releases sessions held on the target (e.g. a BMC session). It
	// must not block longer than ctx allows.
	Close(ctx context.Context) error
}

// PollResult is what one poll produced.
type PollResult struct {
	Observations []*racktrackv1.Observation
	// Requests counts round trips made to the target during the poll.
	Requests int
}

// ErrorKind classifies why a target could not be read. The values are the
// strings carried in TargetStatus.error_kind.
type ErrorKind string

// Error kinds, from the network up.
const (
	KindTimeout     ErrorKind = "timeout"     // no answer within the deadline
	KindRefused     ErrorKind = "refused"     // connection refused or unreachable
	KindTLS         ErrorKind = "tls"         // certificate or handshake failure
	KindAuth        ErrorKind = "auth"        // credentials rejected
	KindHTTP        ErrorKind = "http"        // unexpected HTTP status
	KindDecode      ErrorKind = "decode"      // malformed response body
	KindProtocol    ErrorKind = "protocol"    // protocol-level error (SNMP error-status, loops)
	KindUnsupported ErrorKind = "unsupported" // the target lacks what the operation needs
)

// ErrUnsupported is returned by Apply for an operation kind the provider
// does not implement.
var ErrUnsupported = errors.New("operation not supported")

// TargetError is a failure to read or change a target. It names the
// target, the operation that failed and a kind an operator can act on.
type TargetError struct {
	Provider  string // "redfish", "snmp", "lldp"
	Target    string // address or name of the target
	Operation string // e.g. "GET /redfish/v1/Systems"
	Kind      ErrorKind
	Err       error
}

func (e *TargetError) Error() string {
	return fmt.Sprintf("%s %s: %s: %v", e.Provider, e.Target, e.Operation, e.Err)
}

func (e *TargetError) Unwrap() error { return e.Err }
