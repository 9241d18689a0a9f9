// Package switchsim is racktrack's SNMP responder for tests and the demo:
// agents on distinct UDP addresses (127.x.y.z) that serve .snmprec
// recordings (the OID|TAG|VALUE format of snmpsim) with GET, GETNEXT,
// GETBULK and SET over SNMPv2c and SNMPv3 USM (authentication and
// privacy), plus a generator that writes consistent recordings for a
// demo site, and fault injection for testing clients against bad agents.
package switchsim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/racktrack/racktrack/providers/snmp/internal/ber"
)

// PDU types.
const (
	pduGet      byte = 0xa0
	pduGetNext  byte = 0xa1
	pduResponse byte = 0xa2
	pduSet      byte = 0xa3
	pduGetBulk  byte = 0xa5
	pduReport   byte = 0xa8
)

// SNMP error-status values used by the agent.
const (
	statusNoError     = 0
	statusTooBig      = 1
	statusGenErr      = 5
	statusNoAccess    = 6
	statusWrongType   = 7
	statusNoCreation  = 11
	statusNotWritable = 17
)

// maxDatagram is the largest UDP payload the agent sends over IPv4.
const maxDatagram = 65507

// Config describes one agent.
type Config struct {
	// Addr is the UDP address to listen on, e.g. "127.0.3.7:161" or
	// "127.0.3.7:0" for a free port.
	Addr string
	// Data is the tree served.
	Data *Dataset
	// Community is the v2c read community (empty: v2c reads refused).
	Community string
	// WriteCommunity allows v2c SET (empty: v2c SET refused).
	WriteCommunity string
	// Users are the SNMPv3 USM users (empty: v3 refused).
	Users []User
	// EngineID is the authoritative engine ID (5..32 octets); derived
	// from the listen address when empty.
	EngineID []byte
}

// User is an SNMPv3 USM user. Protocols use gosnmp's names: auth MD5,
// SHA, SHA224, SHA256, SHA384, SHA512 (empty: noAuth); priv DES, AES,
// AES192, AES256, AES192C, AES256C (empty: noPriv).
type User struct {
	Name         string
	AuthProtocol string
	AuthPassword string
	PrivProtocol string
	PrivPassword string
	// ReadOnly refuses SET (noAccess).
	ReadOnly bool
}

// Faults make an agent misbehave, for testing clients. The zero value
// is a well-behaved agent. OID prefixes are dotted strings.
type Faults struct {
	// Silent drops every request.
	Silent bool
	// AnswerFirst answers only the first N requests, then drops (0: all).
	AnswerFirst int
	// Garbage answers every request with bytes that are not SNMP.
	Garbage bool
	// TooBigAbove answers tooBig when a response would exceed this many
	// bytes (as some agents do instead of truncating GETBULK).
	TooBigAbove int
	// NonIncreasing makes GETNEXT/GETBULK under this prefix return the
	// requested OID itself instead of its successor.
	NonIncreasing string
	// Endless makes the column at this prefix never end: successors are
	// synthesized as prefix.N with ever larger N.
	Endless string
	// WrapAtEnd makes GETNEXT past the last object return the first
	// object of the tree (a loop) instead of endOfMibView.
	WrapAtEnd bool
	// GenErr answers genErr, pointing at the varbind, for requests whose
	// varbind lies under this prefix.
	GenErr string
}

// Agent is one simulated SNMP agent. Start it with Start; Close stops
// the goroutine that serves it.
type Agent struct {
	cfg      Config
	conn     *net.UDPConn
	engineID []byte
	boot     time.Time
	users    map[string]*usmUser
	done     chan struct{}

	faultMu sync.Mutex
	faults  Faults

	requests atomic.Int64
	salt     atomic.Uint64
	stats    [7]atomic.Uint32 // usmStats counters by last sub-identifier
}

// Start listens on cfg.Addr and serves until Close.
func Start(cfg Config) (*Agent, error) {
	if cfg.Data == nil {
		return nil, errors.New("switchsim: Config.Data is nil")
	}
	addr, err := net.ResolveUDPAddr("udp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("switchsim: %w", err)
	}
	conn, err := net.ListenUDP("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("switchsim: %w", err)
	}
	a := &Agent{cfg: cfg, conn: conn, boot: time.Now(), done: make(chan struct{}), users: map[string]*usmUser{}}
	a.engineID = cfg.EngineID
	if len(a.engineID) == 0 {
		// RFC 3411 format 4 (text) under the example enterprise 32473.
		la := conn.LocalAddr().(*net.UDPAddr)
		a.engineID = append([]byte{0x80, 0x00, 0x7e, 0xd9, 0x04}, []byte(fmt.Sprintf("rt-%s:%d", la.IP, la.Port))...)
	}
	if len(a.engineID) < 5 || len(a.engineID) > 32 {
		conn.Close()
		return nil, fmt.Errorf("switchsim: engine ID of %d octets, want 5..32", len(a.engineID))
	}
	for _, u := range cfg.Users {
		uu, err := newUSMUser(u, a.engineID)
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("switchsim: user %s: %w", u.Name, err)
		}
		a.users[u.Name] = uu
	}
	a.salt.Store(uint64(time.Now().UnixNano()))
	go a.serve()
	return a, nil
}

// Addr is the address the agent listens on.
func (a *Agent) Addr() *net.UDPAddr { return a.conn.LocalAddr().(*net.UDPAddr) }

// EngineID is the agent's authoritative engine ID.
func (a *Agent) EngineID() []byte { return append([]byte(nil), a.engineID...) }

// Data is the dataset served.
func (a *Agent) Data() *Dataset { return a.cfg.Data }

// Requests is the number of datagrams received so far.
func (a *Agent) Requests() int64 { return a.requests.Load() }

// SetFaults replaces the agent's faults; it applies to the next request.
func (a *Agent) SetFaults(f Faults) {
	a.faultMu.Lock()
	a.faults = f
	a.faultMu.Unlock()
}

func (a *Agent) currentFaults() Faults {
	a.faultMu.Lock()
	defer a.faultMu.Unlock()
	return a.faults
}

// Close stops the agent and waits for its goroutine.
func (a *Agent) Close() error {
	err := a.conn.Close()
	<-a.done
	return err
}

func (a *Agent) serve() {
	defer close(a.done)
	buf := make([]byte, 65535)
	for {
		n, from, err := a.conn.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		count := a.requests.Add(1)
		f := a.currentFaults()
		if f.Silent || (f.AnswerFirst > 0 && count > int64(f.AnswerFirst)) {
			continue
		}
		var out []byte
		if f.Garbage {
			out = []byte{0x30, 0x82, 0xff, 0xff, 0x02, 0x01, 0x01, 0xde, 0xad, 0xbe, 0xef}
		} else {
			out = a.handle(buf[:n], f)
		}
		if out != nil {
			_, _ = a.conn.WriteToUDP(out, from)
		}
	}
}

// Serve is a convenience for tests: it starts agents and closes them
// when ctx is done. It returns once all are listening.
func Serve(ctx context.Context, cfgs []Config) ([]*Agent, error) {
	var agents []*Agent
	for _, c := range cfgs {
		a, err := Start(c)
		if err != nil {
			for _, x := range agents {
				x.Close()
			}
			return nil, err
		}
		agents = append(agents, a)
	}
	go func() {
		<-ctx.Done()
		for _, x := range agents {
			x.Close()
		}
	}()
	return agents, nil
}

// handle decodes one request and returns the reply (nil: no reply).
func (a *Agent) handle(msg []byte, f Faults) []byte {
	body, _, err := ber.Expect(msg, ber.TagSequence)
	if err != nil {
		return nil
	}
	verC, body, err := ber.Expect(body, ber.TagInteger)
	if err != nil {
		return nil
	}
	ver, err := ber.ParseInt(verC)
	if err != nil {
		return nil
	}
	switch ver {
	case 1:
		return a.handleV2c(body, f)
	case 3:
		return a.handleV3(msg, body, f)
	}
	return nil // SNMPv1 and unknown versions are not served
}

func (a *Agent) handleV2c(body []byte, f Faults) []byte {
	comm, body, err := ber.Expect(body, ber.TagOctetString)
	if err != nil {
		return nil
	}
	c := string(comm)
	readOK := a.cfg.Community != "" && c == a.cfg.Community
	writeOK := a.cfg.WriteCommunity != "" && c == a.cfg.WriteCommunity
	if !readOK && !writeOK {
		return nil // wrong community: silence, as real agents do
	}
	req, err := parsePDU(body)
	if err != nil {
		return nil
	}
	resp := a.process(req, f, writeOK, maxDatagram-64-len(comm))
	out := ber.AppendTLV(nil, ber.TagInteger, []byte{1})
	out = ber.AppendTLV(out, ber.TagOctetString, comm)
	out = append(out, resp...)
	return ber.AppendTLV(nil, ber.TagSequence, out)
}

// request is a decoded PDU.
type request struct {
	typ      byte
	id       int64
	nonRep   int64 // error-status in non-bulk PDUs
	maxRep   int64 // error-index in non-bulk PDUs
	varbinds []varbind
}

type varbind struct {
	oid []uint32
	val Value
}

func parsePDU(b []byte) (*request, error) {
	if len(b) == 0 {
		return nil, ber.ErrMalformed
	}
	typ, content, _, err := ber.ReadTLV(b)
	if err != nil {
		return nil, err
	}
	r := &request{typ: typ}
	ints := [3]int64{}
	for i := range ints {
		var c []byte
		if c, content, err = ber.Expect(content, ber.TagInteger); err != nil {
			return nil, err
		}
		if ints[i], err = ber.ParseInt(c); err != nil {
			return nil, err
		}
	}
	r.id, r.nonRep, r.maxRep = ints[0], ints[1], ints[2]
	vbl, _, err := ber.Expect(content, ber.TagSequence)
	if err != nil {
		return nil, err
	}
	for len(vbl) > 0 {
		var vb []byte
		if vb, vbl, err = ber.Expect(vbl, ber.TagSequence); err != nil {
			return nil, err
		}
		oc, rest, err := ber.Expect(vb, ber.TagOID)
		if err != nil {
			return nil, err
		}
		oid, err := ber.ParseOID(oc)
		if err != nil {
			return nil, err
		}
		tag, vc, _, err := ber.ReadTLV(rest)
		if err != nil {
			return nil, err
		}
		r.varbinds = append(r.varbinds, varbind{oid: oid, val: Value{Tag: tag, Content: vc}})
	}
	return r, nil
}

func hasPrefix(oid []uint32, prefix []uint32) bool {
	return len(prefix) > 0 && len(oid) >= len(prefix) && CompareOID(oid[:len(prefix)], prefix) == 0
}

// next returns the successor of oid, honouring faults.
func (a *Agent) next(oid []uint32, f Faults, nonInc, endless []uint32) (Record, bool) {
	if nonInc != nil && hasPrefix(oid, nonInc) {
		if v, ok := a.cfg.Data.Get(oid); ok {
			return Record{OID: oid, Value: v}, true
		}
	}
	if endless != nil {
		if hasPrefix(oid, endless) && len(oid) > len(endless) {
			n := oid[len(endless)] + 1
			return Record{OID: append(append([]uint32{}, endless...), n), Value: Integer(int64(n))}, true
		}
		if CompareOID(oid, endless) <= 0 {
			first := append(append([]uint32{}, endless...), 1)
			if r, ok := a.cfg.Data.Next(oid); ok && CompareOID(r.OID, first) < 0 {
				return r, true
			}
			return Record{OID: first, Value: Integer(1)}, true
		}
	}
	r, ok := a.cfg.Data.Next(oid)
	if !ok && f.WrapAtEnd {
		return a.cfg.Data.First()
	}
	return r, ok
}

// process executes a request PDU and returns the encoded response PDU.
func (a *Agent) process(req *request, f Faults, writable bool, limit int) []byte {
	if f.TooBigAbove > 0 && f.TooBigAbove < limit {
		limit = f.TooBigAbove
	}
	var nonInc, endless, genErr []uint32
	if f.NonIncreasing != "" {
		nonInc, _ = ParseOID(f.NonIncreasing)
	}
	if f.Endless != "" {
		endless, _ = ParseOID(f.Endless)
	}
	if f.GenErr != "" {
		genErr, _ = ParseOID(f.GenErr)
	}
	errResp := func(status, index int) []byte {
		vbs := make([][]byte, len(req.varbinds))
		for i, vb := range req.varbinds {
			vbs[i] = encodeVarbind(vb.oid, Value{Tag: ber.TagNull})
		}
		return encodePDU(pduResponse, req.id, status, index, vbs)
	}
	for i, vb := range req.varbinds {
		if genErr != nil && hasPrefix(vb.oid, genErr) {
			return errResp(statusGenErr, i+1)
		}
	}
	var vbs [][]byte
	size := 32
	add := func(oid []uint32, v Value) bool {
		e := encodeVarbind(oid, v)
		if size+len(e) > limit {
			return false
		}
		size += len(e)
		vbs = append(vbs, e)
		return true
	}
	switch req.typ {
	case pduGet:
		for _, vb := range req.varbinds {
			v, ok := a.cfg.Data.Get(vb.oid)
			if !ok {
				v = Value{Tag: ber.TagNoSuchInst}
			}
			if !add(vb.oid, v) {
				return errResp(statusTooBig, 0)
			}
		}
	case pduGetNext:
		for _, vb := range req.varbinds {
			r, ok := a.next(vb.oid, f, nonInc, endless)
			if !ok {
				r = Record{OID: vb.oid, Value: Value{Tag: ber.TagEndOfMib}}
			}
			if !add(r.OID, r.Value) {
				return errResp(statusTooBig, 0)
			}
		}
	case pduGetBulk:
		nonRep := int(max(0, min(req.nonRep, int64(len(req.varbinds)))))
		maxRep := int(max(0, min(req.maxRep, 10000)))
		for _, vb := range req.varbinds[:nonRep] {
			r, ok := a.next(vb.oid, f, nonInc, endless)
			if !ok {
				r = Record{OID: vb.oid, Value: Value{Tag: ber.TagEndOfMib}}
			}
			if !add(r.OID, r.Value) {
				if f.TooBigAbove > 0 {
					return errResp(statusTooBig, 0)
				}
				return encodePDU(pduResponse, req.id, statusNoError, 0, vbs)
			}
		}
		cursors := make([][]uint32, 0, len(req.varbinds)-nonRep)
		for _, vb := range req.varbinds[nonRep:] {
			cursors = append(cursors, vb.oid)
		}
	rep:
		for i := 0; i < maxRep && len(cursors) > 0; i++ {
			allEnd := true
			for j, c := range cursors {
				r, ok := a.next(c, f, nonInc, endless)
				if !ok {
					r = Record{OID: c, Value: Value{Tag: ber.TagEndOfMib}}
				} else {
					allEnd = false
				}
				if !add(r.OID, r.Value) {
					if f.TooBigAbove > 0 {
						return errResp(statusTooBig, 0)
					}
					break rep // RFC 3416 4.2.3: truncate
				}
				cursors[j] = r.OID
			}
			if allEnd {
				break
			}
		}
	case pduSet:
		if !writable {
			return errResp(statusNoAccess, 1)
		}
		for i, vb := range req.varbinds {
			cur, ok := a.cfg.Data.Get(vb.oid)
			if !ok {
				return errResp(statusNoCreation, i+1)
			}
			if cur.Tag != vb.val.Tag {
				return errResp(statusWrongType, i+1)
			}
		}
		for _, vb := range req.varbinds {
			_ = a.cfg.Data.Set(FormatOID(vb.oid), Value{Tag: vb.val.Tag, Content: append([]byte(nil), vb.val.Content...)})
			add(vb.oid, vb.val)
		}
	default:
		return nil
	}
	return encodePDU(pduResponse, req.id, statusNoError, 0, vbs)
}

func encodeVarbind(oid []uint32, v Value) []byte {
	oc, err := ber.OIDContent(oid)
	if err != nil {
		oc = []byte{0x2b} // 1.3: never reached for OIDs read from the wire
	}
	inner := ber.AppendTLV(nil, ber.TagOID, oc)
	inner = ber.AppendTLV(inner, v.Tag, v.Content)
	return ber.AppendTLV(nil, ber.TagSequence, inner)
}

func encodePDU(typ byte, id int64, status, index int, vbs [][]byte) []byte {
	var list []byte
	for _, vb := range vbs {
		list = append(list, vb...)
	}
	inner := ber.AppendTLV(nil, ber.TagInteger, ber.IntContent(id))
	inner = ber.AppendTLV(inner, ber.TagInteger, ber.IntContent(int64(status)))
	inner = ber.AppendTLV(inner, ber.TagInteger, ber.IntContent(int64(index)))
	inner = ber.AppendTLV(inner, ber.TagSequence, list)
	return ber.AppendTLV(nil, typ, inner)
}
