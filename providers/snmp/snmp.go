// Package snmp polls switches over SNMP v2c and v3 (gosnmp) into
// observations: switch inventory (SNMPv2-MIB system group, ENTITY-MIB),
// interfaces (IF-MIB), LLDP neighbours (LLDP-MIB), the forwarding
// database (Q-BRIDGE-MIB, falling back to BRIDGE-MIB) and the IP neighbour
// (ARP/ND) table (IP-MIB ipNetToPhysicalTable, falling back to
// ipNetToMediaTable). It applies the change operations snmp.if_alias and
// snmp.if_admin_status with SET and read-back.
package snmp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/gosnmp/gosnmp"
	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
	"github.com/racktrack/racktrack/providers"
)

var _ providers.Provider = (*Provider)(nil)

// Options carry what a provider needs besides its config.
type Options struct {
	// Logger receives debug and warning logs; nil discards them.
	Logger *slog.Logger
	// Metrics, shared by all providers of an agent; nil creates an
	// unregistered set.
	Metrics *Metrics
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// MaxRows bounds the rows of one walked column, so an agent that
	// never ends a table cannot exhaust memory (default 262144).
	MaxRows int
}

// Provider polls one switch. Poll and Apply may run concurrently; state
// shared between polls (engine parameters, counter history) is guarded.
type Provider struct {
	target  string
	cfg     Config
	creds   credentials
	log     *slog.Logger
	metrics *Metrics
	now     func() time.Time
	maxRows int

	mu       sync.Mutex
	usm      *gosnmp.UsmSecurityParameters // engine id, boots, time, localized keys
	counters *counterState
	closed   bool
}

// New builds a provider for target (the configured name of the switch)
// from a validated config, resolving its secrets.
func New(target string, cfg Config, opts Options) (*Provider, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var creds credentials
	var err error
	if cfg.Version == "2c" {
		if creds.community, err = cfg.Community.Resolve(); err != nil {
			return nil, fmt.Errorf("snmp %s: community: %w", target, err)
		}
	} else {
		level := cfg.securityLevel()
		if level != NoAuthNoPriv {
			if creds.authPass, err = cfg.AuthPassword.Resolve(); err != nil {
				return nil, fmt.Errorf("snmp %s: auth_password: %w", target, err)
			}
			if len(creds.authPass.Reveal()) < 8 {
				return nil, fmt.Errorf("snmp %s: auth_password: USM needs at least 8 characters", target)
			}
		}
		if level == AuthPriv {
			if creds.privPass, err = cfg.PrivPassword.Resolve(); err != nil {
				return nil, fmt.Errorf("snmp %s: priv_password: %w", target, err)
			}
			if len(creds.privPass.Reveal()) < 8 {
				return nil, fmt.Errorf("snmp %s: priv_password: USM needs at least 8 characters", target)
			}
		}
	}
	p := &Provider{
		target:   target,
		cfg:      cfg,
		creds:    creds,
		log:      opts.Logger,
		metrics:  opts.Metrics,
		now:      opts.Now,
		maxRows:  opts.MaxRows,
		counters: newCounterState(),
	}
	if p.log == nil {
		p.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	p.log = p.log.With("provider", "snmp", "target", target)
	if p.metrics == nil {
		p.metrics = NewMetrics(nil)
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.maxRows <= 0 {
		p.maxRows = maxDefaultRows
	}
	return p, nil
}

// ErrClosed is returned by Poll and Apply after Close.
var ErrClosed = errors.New("provider closed")

// open dials a session, reusing engine parameters learnt earlier.
func (p *Provider) open(ctx context.Context) (*session, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, &providers.TargetError{Provider: "snmp", Target: p.target, Operation: "open", Kind: providers.KindUnsupported, Err: ErrClosed}
	}
	usm := p.usm
	p.mu.Unlock()
	s, err := dial(ctx, p.target, p.cfg, p.creds, usm)
	if err != nil {
		return nil, &providers.TargetError{Provider: "snmp", Target: p.target, Operation: "connect " + p.cfg.Address, Kind: providers.KindRefused, Err: err}
	}
	return s, nil
}

// finish records traffic and keeps engine parameters for the next session.
func (p *Provider) finish(s *session) (roundTrips int) {
	rt, out, in := s.conn.totals()
	p.metrics.roundTrips.Add(float64(rt))
	p.metrics.bytes.WithLabelValues("sent").Add(float64(out))
	p.metrics.bytes.WithLabelValues("received").Add(float64(in))
	if s.usm != nil && s.usm.AuthoritativeEngineID != "" {
		p.mu.Lock()
		p.usm = s.usm.Copy().(*gosnmp.UsmSecurityParameters)
		p.mu.Unlock()
	}
	s.close()
	return rt
}

// Poll walks the switch once. See providers.Provider.
func (p *Provider) Poll(ctx context.Context) (providers.PollResult, error) {
	start := p.now()
	s, err := p.open(ctx)
	if err != nil {
		p.metrics.polls.WithLabelValues("failed").Inc()
		p.metrics.errors.WithLabelValues(string(providers.KindRefused)).Inc()
		return providers.PollResult{}, err
	}
	pl := &poll{p: p, s: s}
	obs, fatal := pl.run()
	rt := p.finish(s)
	elapsed := p.now().Sub(start)
	p.metrics.pollDuration.Observe(elapsed.Seconds())
	var te *providers.TargetError
	if fatal != nil && obs == nil {
		if !errors.As(fatal, &te) {
			te = s.targetError("poll", providers.KindProtocol, fatal)
		}
		p.metrics.polls.WithLabelValues("failed").Inc()
		p.metrics.errors.WithLabelValues(string(te.Kind)).Inc()
		p.log.Debug("poll failed", "err", te, "round_trips", rt)
		return providers.PollResult{Requests: rt}, te
	}
	status := &racktrackv1.TargetStatus{Reachable: true, LatencyMs: uint32(elapsed.Milliseconds()), Requests: uint32(rt)}
	complete := true
	for _, o := range obs {
		complete = complete && o.Complete
	}
	if first := pl.firstErr; first != nil {
		status.Operation = first.Operation
		status.Error = first.Error()
		status.ErrorKind = string(first.Kind)
		p.metrics.errors.WithLabelValues(string(first.Kind)).Inc()
	}
	result := "complete"
	if !complete {
		result = "partial"
	}
	p.metrics.polls.WithLabelValues(result).Inc()
	obs = append(obs, &racktrackv1.Observation{
		Source: racktrackv1.Source_SOURCE_SNMP, Target: p.target, Complete: complete,
		Payload: &racktrackv1.Observation_TargetStatus{TargetStatus: status},
	})
	p.log.Debug("poll done", "round_trips", rt, "complete", complete, "elapsed", elapsed)
	return providers.PollResult{Observations: obs, Requests: rt}, nil
}

// Close forgets engine parameters; later polls fail with ErrClosed. It
// holds no network resources between calls, so it never blocks.
func (p *Provider) Close(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.usm = nil
	return nil
}
