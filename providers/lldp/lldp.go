// Package lldp learns the agent host's own neighbours from the IEEE 802.1AB
// LLDP frames heard on its interfaces, keeps them in a table with TTL
// expiry, and can announce the host with LLDPDUs of its own.
package lldp

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/mdlayher/lldp"
	"github.com/mdlayher/packet"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
	"github.com/racktrack/racktrack/providers"
)

// Target is the Observation target of the neighbour table.
const Target = "lldp"

// maxFrameLen is the longest frame read; longer ones (the read fills the
// whole buffer) are dropped as oversized.
const maxFrameLen = 9216

// writeTimeout bounds one LLDPDU transmission.
const writeTimeout = time.Second

// Errors of the provider's lifecycle and interfaces.
var (
	// ErrNotRunning is returned by Poll before Run has tried every
	// interface once, and after Run has returned.
	ErrNotRunning = errors.New("listener not running")
	// ErrAlreadyStarted is returned by a second call of Run.
	ErrAlreadyStarted = errors.New("already started")
	// ErrClosed is returned by Run after Close.
	ErrClosed = errors.New("provider closed")
	// ErrInterfaceNotFound: a configured interface does not exist.
	ErrInterfaceNotFound = errors.New("interface not found")
	// ErrInterfaceDown: a configured interface is administratively down.
	ErrInterfaceDown = errors.New("interface down")
)

var _ providers.Provider = (*Provider)(nil)

// Options carries what a Provider gets from the agent besides its config.
type Options struct {
	// Logger receives the provider's logs; nil discards them.
	Logger *slog.Logger
	// Registerer receives the provider's metrics; nil keeps them private.
	Registerer prometheus.Registerer
}

// Provider is the LLDP listener of the agent host.
//
// Run owns every goroutine and socket of the provider: it starts one reader
// per interface, rescans interfaces, expires neighbours, transmits, and
// returns only after all of them have stopped and every socket is closed.
// Poll reads the neighbour table at any time; Notify says when to Poll.
// Close stops Run and waits for it.
type Provider struct {
	cfg     Config
	log     *slog.Logger
	m       *metrics
	mgmt    netip.Addr
	sysName string

	notify    chan struct{} // capacity 1: Poll soon
	kick      chan struct{} // capacity 1: an earlier expiry was added
	closed    chan struct{} // closed by Close
	closeOnce sync.Once

	runMu   sync.Mutex
	started bool
	runDone chan struct{} // closed when Run returns

	mu            sync.Mutex
	running       bool
	ports         map[string]*portState
	version       uint64 // bumped on every change of the table
	polledVersion uint64
	polled        bool
	nextExpiry    time.Time
	scanErr       error            // the last interface listing failed
	chassis       net.HardwareAddr // chassis ID sent, fixed at first use
}

// portState is the table of one local interface.
type portState struct {
	index     int
	problem   error // why the interface is not listened on; nil when it is
	neighbors map[neighborKey]*neighbor
}

type neighborKey struct {
	chassisSubtype, chassisID, portSubtype, portID string
}

type neighbor struct {
	n       *racktrackv1.LLDPNeighbor
	expires time.Time
}

// New builds a provider from a validated configuration. Nothing is opened
// until Run.
func New(cfg Config, opts Options) (*Provider, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("lldp: register metrics: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	p := &Provider{
		cfg:     cfg,
		log:     log.With("provider", "lldp"),
		m:       m,
		sysName: cfg.Transmit.SystemName,
		notify:  make(chan struct{}, 1),
		kick:    make(chan struct{}, 1),
		closed:  make(chan struct{}),
		ports:   map[string]*portState{},
	}
	if a := cfg.Transmit.ManagementAddress; a != "" {
		p.mgmt, _ = netip.ParseAddr(a) // checked by Validate
	}
	if p.sysName == "" && cfg.Transmit.Enabled {
		if p.sysName, err = os.Hostname(); err != nil {
			return nil, fmt.Errorf("lldp: system name: %w", err)
		}
	}
	return p, nil
}

// Notify receives a value when the agent should Poll and publish: at once
// when a neighbour appears, changes or goes, and every SnapshotInterval
// otherwise. Values coalesce: one pending value stands for any number of
// changes.
func (p *Provider) Notify() <-chan struct{} { return p.notify }

func (p *Provider) signal() {
	select {
	case p.notify <- struct{}{}:
	default:
	}
}

// listener is one interface's socket and the reader goroutine on it.
type listener struct {
	ifi      net.Interface
	conn     *packet.Conn
	done     chan struct{} // closed when the reader returns
	err      error         // why the reader returned, set before done closes
	bucket   bucket        // owned by the reader
	tx       []byte        // LLDPDU to send; nil when not transmitting
	shutdown []byte        // shutdown LLDPDU

	received prometheus.Counter
}

// Run listens until ctx is done or Close is called, then sends shutdown
// LLDPDUs (when transmitting), closes every socket, empties the table and
// returns nil. It may be called once.
func (p *Provider) Run(ctx context.Context) error {
	p.runMu.Lock()
	select {
	case <-p.closed:
		p.runMu.Unlock()
		return fmt.Errorf("lldp: run: %w", ErrClosed)
	default:
	}
	if p.started {
		p.runMu.Unlock()
		return fmt.Errorf("lldp: run: %w", ErrAlreadyStarted)
	}
	p.started = true
	p.runDone = make(chan struct{})
	p.runMu.Unlock()
	defer close(p.runDone)

	ls := map[string]*listener{}
	defer p.stopAll(ls)

	p.rescan(ls)
	// Poll answers from here on: every interface has been tried once.
	p.mu.Lock()
	p.running = true
	p.mu.Unlock()
	rescan := time.NewTicker(p.cfg.RescanInterval)
	defer rescan.Stop()
	snapshot := time.NewTicker(p.cfg.SnapshotInterval)
	defer snapshot.Stop()
	var txC <-chan time.Time
	if p.cfg.Transmit.Enabled {
		tx := time.NewTicker(p.cfg.Transmit.Interval)
		defer tx.Stop()
		txC = tx.C
	}
	expiry := time.NewTimer(time.Hour)
	defer expiry.Stop()
	p.scheduleExpiry(expiry, p.expire())

	for {
		select {
		case <-ctx.Done():
			return nil
		case <-p.closed:
			return nil
		case <-rescan.C:
			p.rescan(ls)
		case <-txC:
			for _, l := range ls {
				p.send(l, l.tx)
			}
		case <-snapshot.C:
			p.signal()
		case <-expiry.C:
			p.scheduleExpiry(expiry, p.expire())
		case <-p.kick:
			p.scheduleExpiry(expiry, p.expire())
		}
	}
}

func (p *Provider) scheduleExpiry(t *time.Timer, next time.Time) {
	if next.IsZero() {
		t.Stop()
		return
	}
	t.Reset(time.Until(next))
}

// Close stops Run, if it runs, and waits for it within ctx. Close may be
// called more than once and before Run.
func (p *Provider) Close(ctx context.Context) error {
	p.closeOnce.Do(func() { close(p.closed) })
	p.runMu.Lock()
	done := p.runDone
	p.runMu.Unlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("lldp: close: %w", ctx.Err())
	}
}

// Apply is not supported: LLDP has nothing to change.
func (p *Provider) Apply(_ context.Context, op *racktrackv1.Operation) (*racktrackv1.OperationResult, error) {
	return nil, fmt.Errorf("lldp: apply %q: %w", op.GetKind(), providers.ErrUnsupported)
}

// Poll returns the neighbour table of every interface as one Observation
// (target "lldp"). Interfaces configured but not listened on are listed in
// Incomplete; when none is listened on, Poll returns a *providers.TargetError.
// Snapshot is set when the table has not changed since the previous Poll.
func (p *Provider) Poll(ctx context.Context) (providers.PollResult, error) {
	if err := ctx.Err(); err != nil {
		return providers.PollResult{}, &providers.TargetError{Provider: "lldp", Target: Target, Operation: "poll", Kind: providers.KindTimeout, Err: err}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running {
		// Nothing is listening, as when a device refuses connections.
		return providers.PollResult{}, &providers.TargetError{Provider: "lldp", Target: Target, Operation: "poll", Kind: providers.KindRefused, Err: ErrNotRunning}
	}
	if p.scanErr != nil {
		return providers.PollResult{}, &providers.TargetError{Provider: "lldp", Target: Target, Operation: "list interfaces", Kind: providers.KindRefused, Err: p.scanErr}
	}
	table := &racktrackv1.LLDPNeighborTable{}
	var incomplete []string
	var problems []error
	listening := 0
	names := make([]string, 0, len(p.ports))
	for name := range p.ports {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		ps := p.ports[name]
		if ps.problem != nil {
			incomplete = append(incomplete, ps.problem.Error())
			problems = append(problems, ps.problem)
			continue
		}
		listening++
		start := len(table.Neighbors)
		for _, e := range ps.neighbors {
			table.Neighbors = append(table.Neighbors, proto.CloneOf(e.n))
		}
		slices.SortFunc(table.Neighbors[start:], func(a, b *racktrackv1.LLDPNeighbor) int {
			return cmp.Or(cmp.Compare(a.ChassisId, b.ChassisId), cmp.Compare(a.PortId, b.PortId),
				cmp.Compare(a.ChassisIdSubtype, b.ChassisIdSubtype), cmp.Compare(a.PortIdSubtype, b.PortIdSubtype))
		})
	}
	if listening == 0 && len(problems) > 0 {
		return providers.PollResult{}, &providers.TargetError{Provider: "lldp", Target: Target, Operation: "listen", Kind: providers.KindRefused, Err: errors.Join(problems...)}
	}
	obs := &racktrackv1.Observation{
		Source:     racktrackv1.Source_SOURCE_LLDP,
		Target:     Target,
		Complete:   len(incomplete) == 0,
		Incomplete: incomplete,
		Snapshot:   p.polled && p.version == p.polledVersion,
		Payload:    &racktrackv1.Observation_LldpNeighbors{LldpNeighbors: table},
	}
	p.polled, p.polledVersion = true, p.version
	return providers.PollResult{Observations: []*racktrackv1.Observation{obs}}, nil
}

// rescan lists interfaces and brings the listeners in ls in line: it opens
// sockets on new interfaces, closes those on interfaces that went down or
// away, restarts readers that failed and flushes neighbours of links
// without carrier.
func (p *Provider) rescan(ls map[string]*listener) {
	var ifis []net.Interface
	err := inNetNS(p.cfg.NetNS, func() (err error) {
		ifis, err = net.Interfaces()
		return err
	})
	if err != nil {
		// Without a listing (e.g. the namespace was deleted) no socket can
		// be trusted: close them all until listing works again.
		err = fmt.Errorf("list interfaces: %w", err)
		for _, l := range ls {
			p.stopListener(ls, l, RemovedInterface)
		}
		p.mu.Lock()
		if p.scanErr == nil {
			p.log.Warn("rescan", "err", err) // once per outage
		}
		p.scanErr = err
		p.m.listening.Set(0)
		p.mu.Unlock()
		return
	}
	p.mu.Lock()
	p.scanErr = nil
	p.mu.Unlock()
	present := map[string]net.Interface{}
	for _, ifi := range ifis {
		present[ifi.Name] = ifi
	}
	want := map[string]net.Interface{}
	problems := map[string]error{}
	if len(p.cfg.Interfaces) > 0 {
		for _, name := range p.cfg.Interfaces {
			ifi, ok := present[name]
			switch {
			case !ok:
				problems[name] = fmt.Errorf("%s: %w", name, ErrInterfaceNotFound)
			case ifi.Flags&net.FlagUp == 0:
				problems[name] = fmt.Errorf("%s: %w", name, ErrInterfaceDown)
			default:
				want[name] = ifi
			}
		}
	} else {
		for _, ifi := range ifis {
			if ifi.Flags&net.FlagUp != 0 && ifi.Flags&net.FlagLoopback == 0 && len(ifi.HardwareAddr) == 6 {
				want[ifi.Name] = ifi
			}
		}
	}

	// Close what is no longer wanted, was replaced, or whose reader ended.
	for name, l := range ls {
		ifi, ok := want[name]
		switch {
		case !ok:
			reason := RemovedLinkDown
			if cur, there := present[name]; !there || cur.Index != l.ifi.Index {
				reason = RemovedInterface
			}
			p.stopListener(ls, l, reason)
		case ifi.Index != l.ifi.Index:
			p.stopListener(ls, l, RemovedInterface)
		default:
			select {
			case <-l.done:
				p.log.Warn("reader stopped, reopening", "interface", name, "err", l.err)
				p.stopListener(ls, l, "") // keep its neighbours; reopened below
			default:
			}
		}
	}

	// Open the rest.
	var open []net.Interface
	for name, ifi := range want {
		if _, ok := ls[name]; !ok {
			open = append(open, ifi)
		}
	}
	slices.SortFunc(open, func(a, b net.Interface) int { return cmp.Compare(a.Index, b.Index) })
	conns := make([]*packet.Conn, len(open))
	errs := make([]error, len(open))
	if len(open) > 0 {
		err := inNetNS(p.cfg.NetNS, func() error {
			for i := range open {
				conns[i], errs[i] = listen(&open[i])
			}
			return nil
		})
		if err != nil {
			for i := range open {
				errs[i] = err
			}
		}
	}
	for i, ifi := range open {
		if errs[i] != nil {
			problems[ifi.Name] = fmt.Errorf("%s: listen: %w", ifi.Name, errs[i])
			p.log.Warn("listen", "interface", ifi.Name, "err", errs[i])
			continue
		}
		p.startListener(ls, ifi, conns[i])
	}

	// Carrier lost: the neighbours are gone even if the socket stays.
	for name, l := range ls {
		if want[name].Flags&net.FlagRunning == 0 {
			p.flush(name, RemovedLinkDown)
		}
		if st, err := l.conn.Stats(); err == nil && st.Drops > 0 {
			p.m.dropped.WithLabelValues(name, ReasonSocketOverflow).Add(float64(st.Drops))
		}
	}

	// Record why configured interfaces are not listened on; forget
	// unconfigured interfaces that went away.
	p.mu.Lock()
	for name, ps := range p.ports {
		if _, ok := ls[name]; ok {
			ps.problem = nil
		} else if problems[name] == nil {
			delete(p.ports, name)
			p.m.neighbors.DeleteLabelValues(name)
		}
	}
	for name, perr := range problems {
		ps := p.ports[name]
		if ps == nil {
			ps = &portState{neighbors: map[neighborKey]*neighbor{}}
			p.ports[name] = ps
		}
		ps.problem = perr
	}
	p.m.listening.Set(float64(len(ls)))
	p.mu.Unlock()
}

// listen opens the LLDP socket of one interface. It runs inside the
// configured network namespace.
func listen(ifi *net.Interface) (*packet.Conn, error) {
	c, err := packet.Listen(ifi, packet.Raw, int(lldp.EtherType), nil)
	if err != nil {
		return nil, err
	}
	if err := c.JoinGroup(Multicast); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (p *Provider) startListener(ls map[string]*listener, ifi net.Interface, c *packet.Conn) {
	l := &listener{
		ifi:      ifi,
		conn:     c,
		done:     make(chan struct{}),
		bucket:   bucket{rate: float64(p.cfg.RateLimit), tokens: float64(p.cfg.RateLimit)},
		received: p.m.received.WithLabelValues(ifi.Name),
	}
	p.mu.Lock()
	ps := p.ports[ifi.Name]
	if ps == nil || ps.index != ifi.Index {
		ps = &portState{index: ifi.Index, neighbors: map[neighborKey]*neighbor{}}
		p.ports[ifi.Name] = ps
	}
	ps.problem = nil
	if p.cfg.Transmit.Enabled && len(ifi.HardwareAddr) == 6 && p.chassis == nil {
		p.chassis = ifi.HardwareAddr
	}
	chassis := p.chassis
	p.m.neighbors.WithLabelValues(ifi.Name).Set(float64(len(ps.neighbors)))
	p.mu.Unlock()

	if p.cfg.Transmit.Enabled && len(ifi.HardwareAddr) == 6 {
		a := advert{
			Source: ifi.HardwareAddr, Chassis: chassis, Port: ifi.Name,
			TTL: txTTL(p.cfg.Transmit.Interval), SystemName: p.sysName,
			SystemDesc: "racktrack-agent", Management: p.mgmt,
		}
		var err error
		if l.tx, err = a.marshal(false); err == nil {
			l.shutdown, err = a.marshal(true)
		}
		if err != nil {
			l.tx, l.shutdown = nil, nil
			p.log.Warn("build LLDPDU", "interface", ifi.Name, "err", err)
		}
	}
	ls[ifi.Name] = l
	go p.read(l)
	p.send(l, l.tx) // fast start: announce at once on a new link
}

// stopListener closes l's socket, waits for its reader and, when reason is
// not empty, removes the interface's neighbours for that reason.
func (p *Provider) stopListener(ls map[string]*listener, l *listener, reason string) {
	l.conn.Close()
	<-l.done
	delete(ls, l.ifi.Name)
	if reason != "" {
		p.flush(l.ifi.Name, reason)
	}
}

// stopAll ends Run: shutdown LLDPDUs, sockets closed, table emptied.
func (p *Provider) stopAll(ls map[string]*listener) {
	for _, l := range ls {
		p.send(l, l.shutdown)
		p.stopListener(ls, l, RemovedStopped)
	}
	p.mu.Lock()
	p.running = false
	for name := range p.ports {
		p.m.neighbors.DeleteLabelValues(name)
	}
	clear(p.ports)
	p.m.listening.Set(0)
	p.mu.Unlock()
}

// send writes one frame on l, bounded by writeTimeout; nil sends nothing.
func (p *Provider) send(l *listener, frame []byte) {
	if frame == nil {
		return
	}
	err := l.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err == nil {
		_, err = l.conn.WriteTo(frame, &packet.Addr{HardwareAddr: Multicast})
	}
	if err != nil {
		p.m.txErrors.WithLabelValues(l.ifi.Name).Inc()
		p.log.Warn("transmit LLDPDU", "interface", l.ifi.Name, "err", fmt.Errorf("lldp %s: send: %w", l.ifi.Name, err))
		return
	}
	p.m.transmitted.WithLabelValues(l.ifi.Name).Inc()
}

// read is the reader goroutine of one listener; stopListener ends it by
// closing the socket.
func (p *Provider) read(l *listener) {
	defer close(l.done)
	buf := make([]byte, maxFrameLen+1)
	for {
		n, _, err := l.conn.ReadFrom(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				l.err = fmt.Errorf("lldp %s: read: %w", l.ifi.Name, err)
			}
			return
		}
		p.handle(l, buf[:n])
	}
}

// handle applies one received frame to the table.
func (p *Provider) handle(l *listener, frame []byte) {
	name := l.ifi.Name
	l.received.Inc()
	if len(frame) > maxFrameLen {
		p.drop(name, ReasonOversizedFrame, nil)
		return
	}
	now := time.Now()
	if !l.bucket.allow(now) {
		p.drop(name, ReasonRateLimited, nil)
		return
	}
	n, counts, err := DecodeCounted(frame)
	if err != nil {
		p.drop(name, dropReason(err), err)
		return
	}
	if counts.Unrecognized > 0 {
		p.m.tlvsSkipped.WithLabelValues(name, "unrecognized").Add(float64(counts.Unrecognized))
	}
	if counts.Discarded > 0 {
		p.m.tlvsSkipped.WithLabelValues(name, "discarded").Add(float64(counts.Discarded))
	}
	n.LocalPort = name
	n.LocalPortIndex = int32(l.ifi.Index)
	p.update(l, n, now)
}

func (p *Provider) drop(iface, reason string, err error) {
	p.m.dropped.WithLabelValues(iface, reason).Inc()
	if err != nil {
		p.log.Debug("drop frame", "interface", iface, "reason", reason, "err", err)
	}
}

// update records n, heard at now on l's interface: a shutdown LLDPDU
// removes the neighbour, anything else adds or refreshes it.
func (p *Provider) update(l *listener, n *racktrackv1.LLDPNeighbor, now time.Time) {
	name := l.ifi.Name
	key := neighborKey{n.ChassisIdSubtype, n.ChassisId, n.PortIdSubtype, n.PortId}
	changed, kick := false, false
	p.mu.Lock()
	ps := p.ports[name]
	if ps == nil || ps.index != l.ifi.Index {
		p.mu.Unlock()
		return // the interface is being replaced
	}
	e, known := ps.neighbors[key]
	switch {
	case n.TtlSeconds == 0:
		if known {
			delete(ps.neighbors, key)
			p.m.removals.WithLabelValues(name, RemovedShutdown).Inc()
			changed = true
		}
	case !known && len(ps.neighbors) >= p.cfg.MaxNeighbors:
		p.mu.Unlock()
		p.drop(name, ReasonTableFull, nil)
		return
	default:
		expires := now.Add(time.Duration(n.TtlSeconds) * time.Second)
		if !known {
			ps.neighbors[key] = &neighbor{n: n, expires: expires}
			changed = true
		} else {
			if !proto.Equal(e.n, n) {
				e.n = n
				changed = true
			}
			e.expires = expires
		}
		if p.nextExpiry.IsZero() || expires.Before(p.nextExpiry) {
			p.nextExpiry = expires
			kick = true
		}
	}
	if changed {
		p.version++
		p.m.neighbors.WithLabelValues(name).Set(float64(len(ps.neighbors)))
	}
	p.mu.Unlock()
	if changed {
		p.signal()
	}
	if kick {
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
}

// flush removes every neighbour of one interface.
func (p *Provider) flush(name, reason string) {
	p.mu.Lock()
	ps := p.ports[name]
	removed := 0
	if ps != nil {
		removed = len(ps.neighbors)
		clear(ps.neighbors)
	}
	if removed > 0 {
		p.version++
		p.m.removals.WithLabelValues(name, reason).Add(float64(removed))
		p.m.neighbors.WithLabelValues(name).Set(0)
	}
	p.mu.Unlock()
	if removed > 0 {
		p.signal()
	}
}

// expire removes neighbours whose TTL has run out and returns the next
// expiry time (zero when the table is empty).
func (p *Provider) expire() time.Time {
	now := time.Now()
	var next time.Time
	changed := false
	p.mu.Lock()
	for name, ps := range p.ports {
		removed := 0
		for k, e := range ps.neighbors {
			if !now.Before(e.expires) {
				delete(ps.neighbors, k)
				removed++
				continue
			}
			if next.IsZero() || e.expires.Before(next) {
				next = e.expires
			}
		}
		if removed > 0 {
			changed = true
			p.m.removals.WithLabelValues(name, RemovedTTL).Add(float64(removed))
			p.m.neighbors.WithLabelValues(name).Set(float64(len(ps.neighbors)))
		}
	}
	if changed {
		p.version++
	}
	p.nextExpiry = next
	p.mu.Unlock()
	if changed {
		p.signal()
	}
	return next
}

// bucket is a token bucket of rate tokens per second holding at most rate
// tokens. It is used by one goroutine.
type bucket struct {
	rate, tokens float64
	last         time.Time
}

func (b *bucket) allow(now time.Time) bool {
	if !b.last.IsZero() {
		b.tokens = min(b.rate, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
