// Package redfish polls servers through their BMC's Redfish service into
// inventory and health observations, and applies change operations (power,
// boot override, asset tag, BIOS settings, indicator LED) with read-back.
//
// One Provider serves one BMC. It keeps one session for its lifetime (re-
// logging in when the BMC rejects the token, falling back to basic
// authentication when there is no session service), sends at most two
// requests at a time under a rate cap, uses $expand where the service root
// advertises it, and verifies TLS unless told otherwise.
package redfish

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"time"

	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
	"github.com/racktrack/racktrack/providers"
)

// Options carry what the agent gives every provider.
type Options struct {
	// Logger receives the provider's logs; nil discards.
	Logger *slog.Logger
	// Metrics is shared by all Redfish targets of an agent; nil records
	// nothing.
	Metrics *Metrics
}

// Provider polls one BMC. Poll and Apply may be called from different
// goroutines; Close ends the session.
type Provider struct {
	target  string
	cfg     Config
	conn    *conn
	logger  *slog.Logger
	metrics *Metrics

	// lock serialises Poll, Apply and Close (a one-slot channel, so
	// waiting for it can honour a context).
	lock   chan struct{}
	closed bool
	// exp is the $expand plan, settled from the service root on first use
	// and downgraded when the BMC refuses an expanded request.
	exp *expandPlan
}

var _ providers.Provider = (*Provider)(nil)

// logoutTimeout bounds the logout at Close.
const logoutTimeout = 5 * time.Second

// New builds a provider for the BMC named target (the configured target
// name; it appears in errors and observations). It validates cfg, reads
// the password and the CA file, and makes no network request.
func New(target string, cfg Config, opts Options) (*Provider, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("redfish %s: config: %w", target, err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("provider", "redfish", "target", target)
	pass, err := cfg.Password.Resolve()
	if err != nil {
		return nil, fmt.Errorf("redfish %s: password: %w", target, err)
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("redfish %s: url: %w", target, err)
	}
	tlsConf := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Resume TLS sessions across polls: idle connections are closed
		// between polls, and a full handshake (certificate verification
		// on our side, a private-key operation on the BMC's slow CPU)
		// every poll is the most expensive part of polling a fleet.
		ClientSessionCache: tls.NewLRUClientSessionCache(4),
	}
	switch {
	case cfg.InsecureSkipVerify:
		tlsConf.InsecureSkipVerify = true
		logger.Warn("redfish: TLS certificate verification is off for this target (insecure_skip_verify); anyone on the path can read the BMC credentials")
	case cfg.CAFile != "":
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("redfish %s: ca_file: %w", target, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("redfish %s: ca_file: %s holds no PEM certificate", target, cfg.CAFile)
		}
		tlsConf.RootCAs = pool
	}
	if u.Scheme == "http" {
		logger.Warn("redfish: plain http (allow_http); credentials cross the network in clear text")
	}
	base := u.Scheme + "://" + u.Host
	return &Provider{
		target:  target,
		cfg:     cfg,
		conn:    newConn(base, &cfg, pass, tlsConf, logger, opts.Metrics),
		logger:  logger,
		metrics: opts.Metrics,
		lock:    make(chan struct{}, 1),
	}, nil
}

// acquire takes the provider's lock, giving up when ctx ends. A free lock
// is taken even if ctx has already ended (Close must still log out).
func (p *Provider) acquire(ctx context.Context) error {
	select {
	case p.lock <- struct{}{}:
		return nil
	default:
	}
	select {
	case p.lock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *Provider) release() { <-p.lock }

// ErrClosed is returned by Poll and Apply after Close.
var ErrClosed = errors.New("redfish: provider closed")

// Poll reads the server's inventory and health. See providers.Provider.
func (p *Provider) Poll(ctx context.Context) (providers.PollResult, error) {
	if err := p.acquire(ctx); err != nil {
		return providers.PollResult{}, p.targetError(err, "poll")
	}
	defer p.release()
	if p.closed {
		return providers.PollResult{}, p.targetError(ErrClosed, "poll")
	}
	start := time.Now()
	before := p.conn.requests.Load()
	res, err := p.poll(ctx)
	res.Requests = int(p.conn.requests.Load() - before)
	d := time.Since(start)
	switch {
	case err != nil:
		var te *providers.TargetError
		result := string(providers.KindProtocol)
		if errors.As(err, &te) {
			result = string(te.Kind)
		}
		p.metrics.poll(result, d)
	case len(res.Observations) > 0 && !res.Observations[0].Complete:
		p.metrics.poll("partial", d)
	default:
		p.metrics.poll("complete", d)
	}
	return res, err
}

func (p *Provider) poll(ctx context.Context) (providers.PollResult, error) {
	if err := p.conn.connect(ctx); err != nil {
		return providers.PollResult{}, p.targetError(err, "connect")
	}
	root := p.conn.rootSnapshot()
	r := &reader{v: p.conn.view(ctx), exp: p.expandPlan(), logger: p.logger, root: root, quirk: lookupQuirks(root)}
	inv, health, err := r.readServer()
	if err != nil {
		return providers.PollResult{}, p.targetError(err, "read system")
	}
	invObs := &racktrackv1.Observation{
		Source:     racktrackv1.Source_SOURCE_REDFISH,
		Target:     p.target,
		Complete:   len(r.incomplete) == 0,
		Incomplete: r.incomplete,
		Payload:    &racktrackv1.Observation_ServerInventory{ServerInventory: inv},
	}
	healthObs := &racktrackv1.Observation{
		Source:     racktrackv1.Source_SOURCE_REDFISH,
		Target:     p.target,
		Complete:   len(r.healthIncomplete) == 0,
		Incomplete: r.healthIncomplete,
		Payload:    &racktrackv1.Observation_ServerHealth{ServerHealth: health},
	}
	return providers.PollResult{Observations: []*racktrackv1.Observation{invObs, healthObs}}, nil
}

// Close logs out of the BMC and drops idle connections. It is safe to call
// more than once. It waits for a running Poll or Apply only as long as ctx
// allows.
func (p *Provider) Close(ctx context.Context) error {
	if err := p.acquire(ctx); err != nil {
		return p.targetError(err, "close")
	}
	defer p.release()
	if p.closed {
		return nil
	}
	p.closed = true
	// The logout must happen even when ctx is already cancelled (the agent
	// is shutting down): a BMC keeps an abandoned session for its timeout
	// (often 30 minutes) and allows only a handful at once, so leaking one
	// per restart locks the next agent out. Detach from cancellation, but
	// bound the wait ourselves.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(logoutTimeout, p.cfg.Timeout))
	defer cancel()
	err := p.conn.logout(lctx)
	p.metrics.logout(err == nil)
	p.conn.closeIdle()
	if err != nil {
		return p.targetError(err, "logout")
	}
	return nil
}

// expandPlan returns the provider's $expand plan, building it from the
// service root the first time. Call with the lock held.
func (p *Provider) expandPlan() *expandPlan {
	if p.exp == nil {
		root := p.conn.rootSnapshot()
		e := planExpand(root, p.cfg.Expand, lookupQuirks(root))
		p.exp = e
		p.logger.Debug("redfish: $expand plan", "mode", e.mode, "max_levels", e.maxLevels)
	}
	return p.exp
}
