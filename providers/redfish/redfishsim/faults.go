package redfishsim

import (
	"net"
	"net/http"
	"slices"
	"time"
)

// Faults are misbehaviours injected into one BMC. The zero value is a
// healthy BMC. Path-scoped faults (Latency, Status, MalformedJSON,
// DropFields, RefuseExpand) apply to request paths starting with Path; an
// empty Path means every path.
type Faults struct {
	// Path scopes the faults that say so.
	Path string
	// Latency delays matching responses (ended early, with the connection
	// dropped, when the client gives up or the simulator closes).
	Latency time.Duration
	// Status answers matching requests with this HTTP status (e.g. 500,
	// 503) and a Redfish error body, before authentication.
	Status int
	// StatusTimes limits Status to the next N matching requests; 0 means
	// until cleared.
	StatusTimes int
	// MalformedJSON cuts matching GET responses in half.
	MalformedJSON bool
	// DropFields removes these property names, at any depth, from matching
	// GET responses (a BMC that omits fields).
	DropFields []string
	// RefuseExpand answers matching requests carrying $expand with 501,
	// although the service root advertises support (a BMC whose $expand
	// is broken in one firmware release).
	RefuseExpand bool
	// MaxSessions overrides the profile's session limit when > 0.
	MaxSessions int
	// NoSessionService refuses logins with 405, leaving basic
	// authentication as the only way in.
	NoSessionService bool
	// ForeignCertificate serves a certificate from an unknown CA, as after
	// a factory reset. Setting it drops open connections so the next
	// request handshakes again.
	ForeignCertificate bool
}

// SetFaults replaces the BMC's injected faults.
func (b *BMC) SetFaults(f Faults) {
	f.DropFields = slices.Clone(f.DropFields)
	b.mu.Lock()
	certChanged := b.faults.ForeignCertificate != f.ForeignCertificate
	b.faults = f
	b.mu.Unlock()
	if certChanged {
		b.DropConnections()
	}
}

// Faults returns the BMC's injected faults.
func (b *BMC) Faults() Faults {
	b.mu.Lock()
	defer b.mu.Unlock()
	f := b.faults
	f.DropFields = slices.Clone(f.DropFields)
	return f
}

// DropConnections closes every client connection to the BMC, as a BMC
// reboot does. Requests in flight fail; clients reconnect.
func (b *BMC) DropConnections() {
	b.connMu.Lock()
	defer b.connMu.Unlock()
	for c := range b.conns {
		_ = c.Close()
	}
}

// trackConn is the http.Server ConnState hook that keeps the set of open
// connections for DropConnections.
func (b *BMC) trackConn(c net.Conn, s http.ConnState) {
	b.connMu.Lock()
	defer b.connMu.Unlock()
	switch s {
	case http.StateNew:
		if b.conns == nil {
			b.conns = map[net.Conn]struct{}{}
		}
		b.conns[c] = struct{}{}
	case http.StateClosed, http.StateHijacked:
		delete(b.conns, c)
	}
}
