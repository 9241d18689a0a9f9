package snmp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/racktrack/racktrack/internal/secret"
	"github.com/racktrack/racktrack/providers"
	"github.com/racktrack/racktrack/providers/snmp/internal/ber"
)

// Errors a poll or an operation can wrap. Classify with errors.Is.
var (
	// ErrNoResponse: the agent did not answer within timeout × (retries+1).
	// Over v2c this is also what a wrong community looks like: agents
	// drop such requests silently.
	ErrNoResponse = errors.New("no response (wrong community, access list, or agent down)")
	// ErrUnknownUser: the agent reported usmStatsUnknownUserNames.
	ErrUnknownUser = errors.New("unknown user name (usmStatsUnknownUserNames)")
	// ErrWrongDigest: the agent reported usmStatsWrongDigests, i.e. the
	// authentication password or protocol does not match.
	ErrWrongDigest = errors.New("wrong digest: authentication password or protocol mismatch (usmStatsWrongDigests)")
	// ErrDecryption: the agent reported usmStatsDecryptionErrors, or it
	// answered an authenticated authNoPriv probe while ignoring authPriv
	// requests: the privacy password or protocol does not match.
	ErrDecryption = errors.New("decryption error: privacy password or protocol mismatch")
	// ErrUnsupportedSecLevel: the agent reported usmStatsUnsupportedSecLevels.
	ErrUnsupportedSecLevel = errors.New("security level not supported for this user (usmStatsUnsupportedSecLevels)")
	// ErrNotInTimeWindow: the agent kept reporting usmStatsNotInTimeWindows.
	ErrNotInTimeWindow = errors.New("not in time window (usmStatsNotInTimeWindows)")
	// ErrMalformed: the agent answered with datagrams that do not decode
	// as SNMP (or not as an answer to the request).
	ErrMalformed = errors.New("malformed response")
	// ErrNonIncreasing: a walk returned an OID not greater than the one
	// requested; following it would loop.
	ErrNonIncreasing = errors.New("OID not increasing")
	// ErrEndlessWalk: a walk exceeded the row or request limit.
	ErrEndlessWalk = errors.New("walk does not end")
	// ErrSetNotAllowed: Apply was asked for a SET over a session that is
	// not SNMPv3 authPriv and the target does not allow it.
	ErrSetNotAllowed = errors.New("SET refused: needs SNMPv3 authPriv (or allow_set_without_authpriv)")
)

// StatusError is a response carrying a non-zero error-status.
type StatusError struct {
	Status gosnmp.SNMPError
	Index  int    // error-index, 1-based; 0 when the agent gave none
	OID    string // the varbind the index points at, when known
}

// Error names the status and the varbind it points at.
func (e *StatusError) Error() string {
	if e.OID != "" {
		return fmt.Sprintf("error-status %s at %s", statusName(e.Status), e.OID)
	}
	return fmt.Sprintf("error-status %s (index %d)", statusName(e.Status), e.Index)
}

func statusName(s gosnmp.SNMPError) string {
	names := []string{"noError", "tooBig", "noSuchName", "badValue", "readOnly", "genErr", "noAccess",
		"wrongType", "wrongLength", "wrongEncoding", "wrongValue", "noCreation", "inconsistentValue",
		"resourceUnavailable", "commitFailed", "undoFailed", "authorizationError", "notWritable", "inconsistentName"}
	if int(s) < len(names) {
		return names[s]
	}
	return fmt.Sprintf("status(%d)", s)
}

// snmpClient is the part of gosnmp the provider uses; *gosnmp.GoSNMP
// implements it.
type snmpClient interface {
	Get(oids []string) (*gosnmp.SnmpPacket, error)
	GetBulk(oids []string, nonRepeaters uint8, maxRepetitions uint32) (*gosnmp.SnmpPacket, error)
	Set(pdus []gosnmp.SnmpPDU) (*gosnmp.SnmpPacket, error)
	Close() error
}

// credentials are the resolved secrets of a target.
type credentials struct {
	community secret.Secret
	authPass  secret.Secret
	privPass  secret.Secret
}

// session is one poll's (or one operation's) connection to the agent.
type session struct {
	target string
	cfg    Config
	creds  credentials
	client snmpClient
	conn   *countingConn
	usm    *gosnmp.UsmSecurityParameters // v3 only; keeps engine id/time across the session
	// authPriv reports whether requests are authenticated and encrypted.
	authPriv  bool
	stopWatch func() bool
}

// dial opens a session. usm, when non-nil, carries engine parameters
// learnt by an earlier session, which saves the discovery round trip.
func dial(ctx context.Context, target string, cfg Config, creds credentials, usm *gosnmp.UsmSecurityParameters) (*session, error) {
	host, port, err := splitAddress(cfg.Address)
	if err != nil {
		return nil, err
	}
	g := &gosnmp.GoSNMP{
		Target:         host,
		Port:           port,
		Transport:      "udp",
		Context:        ctx,
		Timeout:        cfg.Timeout,
		Retries:        cfg.Retries,
		MaxOids:        gosnmp.MaxOids,
		MaxRepetitions: uint32(cfg.MaxRepetitions),
	}
	s := &session{target: target, cfg: cfg, creds: creds}
	switch cfg.Version {
	case "2c":
		g.Version = gosnmp.Version2c
		g.Community = creds.community.Reveal()
	case "3":
		g.Version = gosnmp.Version3
		g.SecurityModel = gosnmp.UserSecurityModel
		g.ContextName = cfg.Context
		sp := usm
		if sp == nil {
			sp = newUSM(cfg, creds)
		} else {
			sp = usm.Copy().(*gosnmp.UsmSecurityParameters)
		}
		switch cfg.securityLevel() {
		case NoAuthNoPriv:
			g.MsgFlags = gosnmp.NoAuthNoPriv
		case AuthNoPriv:
			g.MsgFlags = gosnmp.AuthNoPriv
		default:
			g.MsgFlags = gosnmp.AuthPriv
			s.authPriv = true
		}
		g.SecurityParameters = sp
		s.usm = sp
	}
	if err := g.Connect(); err != nil {
		return nil, err
	}
	s.conn = &countingConn{Conn: g.Conn, ctx: ctx}
	g.Conn = s.conn
	s.client = g
	// gosnmp checks the context only between attempts; unblock a read in
	// flight when the context ends.
	s.stopWatch = context.AfterFunc(ctx, func() { _ = s.conn.Conn.SetDeadline(time.Now()) })
	return s, nil
}

func newUSM(cfg Config, creds credentials) *gosnmp.UsmSecurityParameters {
	sp := &gosnmp.UsmSecurityParameters{UserName: cfg.Username, AuthenticationProtocol: gosnmp.NoAuth, PrivacyProtocol: gosnmp.NoPriv}
	level := cfg.securityLevel()
	if level != NoAuthNoPriv {
		sp.AuthenticationProtocol = map[string]gosnmp.SnmpV3AuthProtocol{
			"SHA": gosnmp.SHA, "SHA224": gosnmp.SHA224, "SHA256": gosnmp.SHA256,
			"SHA384": gosnmp.SHA384, "SHA512": gosnmp.SHA512,
		}[cfg.AuthProtocol]
		sp.AuthenticationPassphrase = creds.authPass.Reveal()
	}
	if level == AuthPriv {
		sp.PrivacyProtocol = map[string]gosnmp.SnmpV3PrivProtocol{
			"AES": gosnmp.AES, "AES192": gosnmp.AES192, "AES256": gosnmp.AES256,
			"AES192C": gosnmp.AES192C, "AES256C": gosnmp.AES256C,
		}[cfg.PrivProtocol]
		sp.PrivacyPassphrase = creds.privPass.Reveal()
	}
	return sp
}

func (s *session) close() {
	if s.stopWatch != nil {
		s.stopWatch()
	}
	_ = s.client.Close()
}

// get fetches scalar values; the result maps OID (leading dot) to varbind.
func (s *session) get(oids []string) (*gosnmp.SnmpPacket, error) {
	s.conn.resetReport()
	p, err := s.client.Get(oids)
	if err != nil {
		return nil, s.classify("GET", err)
	}
	if p.Error != gosnmp.NoError {
		return p, s.statusError("GET", p, oids)
	}
	return p, nil
}

func (s *session) getBulk(oids []string, reps uint32) (*gosnmp.SnmpPacket, error) {
	s.conn.resetReport()
	p, err := s.client.GetBulk(oids, 0, reps)
	if err != nil {
		return nil, s.classify("GETBULK", err)
	}
	return p, nil
}

func (s *session) set(pdus []gosnmp.SnmpPDU) (*gosnmp.SnmpPacket, error) {
	s.conn.resetReport()
	p, err := s.client.Set(pdus)
	if err != nil {
		return nil, s.classify("SET", err)
	}
	if p.Error != gosnmp.NoError {
		names := make([]string, len(pdus))
		for i, v := range pdus {
			names[i] = v.Name
		}
		return p, s.statusError("SET", p, names)
	}
	return p, nil
}

func (s *session) statusError(op string, p *gosnmp.SnmpPacket, oids []string) error {
	se := &StatusError{Status: p.Error, Index: int(p.ErrorIndex)}
	if se.Index >= 1 && se.Index <= len(oids) {
		se.OID = oids[se.Index-1]
	}
	return s.targetError(op, providers.KindProtocol, se)
}

func (s *session) targetError(op string, kind providers.ErrorKind, err error) *providers.TargetError {
	return &providers.TargetError{Provider: "snmp", Target: s.target, Operation: op, Kind: kind, Err: err}
}

// classify turns a gosnmp failure into a TargetError with a kind an
// operator can act on. gosnmp discards unauthenticated USM reports (they
// fail its digest check) and retries until it times out, so the report
// the agent sent is recovered from the datagrams the connection saw.
func (s *session) classify(op string, err error) error {
	if ctxErr := s.ctxErr(); ctxErr != nil && !errors.Is(err, gosnmp.ErrMaxRetriesExceeded) {
		return s.targetError(op, providers.KindTimeout, fmt.Errorf("%w: %w", ErrNoResponse, ctxErr))
	}
	if rep := s.conn.report(); rep != nil {
		return s.targetError(op, providers.KindAuth, rep)
	}
	switch {
	case errors.Is(err, gosnmp.ErrUnknownUsername):
		return s.targetError(op, providers.KindAuth, ErrUnknownUser)
	case errors.Is(err, gosnmp.ErrWrongDigest):
		return s.targetError(op, providers.KindAuth, ErrWrongDigest)
	case errors.Is(err, gosnmp.ErrDecryption):
		return s.targetError(op, providers.KindAuth, ErrDecryption)
	case errors.Is(err, gosnmp.ErrUnknownSecurityLevel):
		return s.targetError(op, providers.KindAuth, ErrUnsupportedSecLevel)
	case errors.Is(err, gosnmp.ErrNotInTimeWindow):
		return s.targetError(op, providers.KindAuth, ErrNotInTimeWindow)
	case errors.Is(err, syscall.ECONNREFUSED):
		return s.targetError(op, providers.KindRefused, err)
	}
	var ne net.Error
	timeout := errors.Is(err, gosnmp.ErrMaxRetriesExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout())
	if s.conn.received() > 0 && !timeout {
		return s.targetError(op, providers.KindDecode, fmt.Errorf("%w: %w", ErrMalformed, err))
	}
	if timeout {
		if s.conn.received() > 0 && s.usm != nil && s.authPriv && s.usm.AuthoritativeEngineID != "" {
			// The agent answered engine discovery but not the encrypted
			// request: net-snmp drops what it cannot decrypt without a
			// report. Ask again at authNoPriv to tell a wrong privacy
			// password from a dead agent.
			if perr := s.probeAuthNoPriv(); perr != nil {
				return s.targetError(op, providers.KindAuth, perr)
			}
		}
		return s.targetError(op, providers.KindTimeout, fmt.Errorf("%w: %d attempts of %s", ErrNoResponse, s.cfg.Retries+1, s.cfg.Timeout))
	}
	return s.targetError(op, providers.KindProtocol, err)
}

func (s *session) ctxErr() error {
	if g, ok := s.client.(*gosnmp.GoSNMP); ok && g.Context != nil {
		return g.Context.Err()
	}
	return nil
}

// probeAuthNoPriv sends one authenticated, unencrypted GET of sysUpTime.
// It returns ErrDecryption when the agent answers it (any response
// proves user and authentication key right), the report error when the
// agent reports one, and nil when it stays silent too.
func (s *session) probeAuthNoPriv() error {
	g, ok := s.client.(*gosnmp.GoSNMP)
	if !ok {
		return nil
	}
	sp := s.usm.Copy().(*gosnmp.UsmSecurityParameters)
	sp.PrivacyProtocol = gosnmp.NoPriv
	sp.PrivacyPassphrase = ""
	sp.PrivacyKey = nil
	probe := &gosnmp.GoSNMP{
		Target: g.Target, Port: g.Port, Transport: "udp", Context: g.Context,
		Timeout: s.cfg.Timeout, Retries: 0, Version: gosnmp.Version3,
		SecurityModel: gosnmp.UserSecurityModel, MsgFlags: gosnmp.AuthNoPriv,
		SecurityParameters: sp, ContextName: s.cfg.Context,
	}
	if err := probe.Connect(); err != nil {
		return nil
	}
	cc := &countingConn{Conn: probe.Conn, ctx: g.Context}
	probe.Conn = cc
	defer probe.Close()
	_, err := probe.Get([]string{".1.3.6.1.2.1.1.3.0"})
	s.conn.addFrom(cc)
	if rep := cc.report(); rep != nil {
		return rep
	}
	if err == nil {
		return ErrDecryption
	}
	return nil
}

// countingConn counts datagrams and bytes, and remembers the last
// unauthenticated SNMPv3 report the agent sent.
type countingConn struct {
	net.Conn
	ctx               context.Context // nil: no cancellation
	mu                sync.Mutex
	sent, recv        int
	bytesOut, bytesIn int
	lastReport        error
}

// Write counts a request datagram.
func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.mu.Lock()
	c.sent++
	c.bytesOut += n
	c.mu.Unlock()
	return n, err
}

// Read counts a response datagram and notes USM reports in it.
func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		rep := sniffReport(b[:n])
		c.mu.Lock()
		c.recv++
		c.bytesIn += n
		if rep != nil {
			c.lastReport = rep
		}
		c.mu.Unlock()
	}
	return n, err
}

// SetDeadline never extends past a cancelled context.
func (c *countingConn) SetDeadline(t time.Time) error {
	if c.ctx != nil && c.ctx.Err() != nil {
		t = time.Now()
	}
	return c.Conn.SetDeadline(t)
}

func (c *countingConn) resetReport() {
	c.mu.Lock()
	c.lastReport = nil
	c.recv = 0
	c.mu.Unlock()
}

func (c *countingConn) report() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastReport
}

func (c *countingConn) received() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.recv
}

// addFrom adds another connection's traffic to this one's totals.
func (c *countingConn) addFrom(o *countingConn) {
	o.mu.Lock()
	s, bo, bi := o.sent, o.bytesOut, o.bytesIn
	o.mu.Unlock()
	c.mu.Lock()
	c.sent += s
	c.bytesOut += bo
	c.bytesIn += bi
	c.mu.Unlock()
}

func (c *countingConn) totals() (roundTrips, bytesOut, bytesIn int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sent, c.bytesOut, c.bytesIn
}

// USM statistics reported by agents (RFC 3414 section 5).
var usmReports = map[string]error{
	".1.3.6.1.6.3.15.1.1.1.0": ErrUnsupportedSecLevel,
	".1.3.6.1.6.3.15.1.1.2.0": ErrNotInTimeWindow,
	".1.3.6.1.6.3.15.1.1.3.0": ErrUnknownUser,
	".1.3.6.1.6.3.15.1.1.5.0": ErrWrongDigest,
	".1.3.6.1.6.3.15.1.1.6.0": ErrDecryption,
}

// sniffReport returns the error a plaintext SNMPv3 Report PDU carries,
// or nil for anything else (including engine-discovery reports and all
// authenticated or encrypted messages, which gosnmp handles itself).
func sniffReport(msg []byte) error {
	body, _, err := ber.Expect(msg, ber.TagSequence)
	if err != nil {
		return nil
	}
	ver, body, err := ber.Expect(body, ber.TagInteger)
	if err != nil || len(ver) != 1 || ver[0] != 3 {
		return nil
	}
	hdr, body, err := ber.Expect(body, ber.TagSequence)
	if err != nil {
		return nil
	}
	// msgID, msgMaxSize, msgFlags
	_, hdr, err = ber.Expect(hdr, ber.TagInteger)
	if err != nil {
		return nil
	}
	_, hdr, err = ber.Expect(hdr, ber.TagInteger)
	if err != nil {
		return nil
	}
	flags, _, err := ber.Expect(hdr, ber.TagOctetString)
	if err != nil || len(flags) != 1 || flags[0]&0x03 != 0 {
		return nil
	}
	_, body, err = ber.Expect(body, ber.TagOctetString) // security parameters
	if err != nil {
		return nil
	}
	scoped, _, err := ber.Expect(body, ber.TagSequence)
	if err != nil {
		return nil
	}
	_, scoped, err = ber.Expect(scoped, ber.TagOctetString) // contextEngineID
	if err != nil {
		return nil
	}
	_, scoped, err = ber.Expect(scoped, ber.TagOctetString) // contextName
	if err != nil {
		return nil
	}
	pdu, _, err := ber.Expect(scoped, 0xa8)
	if err != nil {
		return nil
	}
	for i := 0; i < 3; i++ { // request-id, error-status, error-index
		if _, pdu, err = ber.Expect(pdu, ber.TagInteger); err != nil {
			return nil
		}
	}
	vbl, _, err := ber.Expect(pdu, ber.TagSequence)
	if err != nil {
		return nil
	}
	vb, _, err := ber.Expect(vbl, ber.TagSequence)
	if err != nil {
		return nil
	}
	oidc, _, err := ber.Expect(vb, ber.TagOID)
	if err != nil {
		return nil
	}
	oid, err := ber.ParseOID(oidc)
	if err != nil {
		return nil
	}
	return usmReports[oidString(oid)]
}
