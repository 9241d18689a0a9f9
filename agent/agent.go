// Package agent is the site daemon: it builds one provider per configured
// target, polls them on the scheduler, stamps every observation with the
// agent's identity and a durable sequence, keeps it in the on-disk spool,
// and publishes the spool to Kafka.
//
// Ownership: Run owns every goroutine it starts (scheduler loops,
// publisher, status reporter, HTTP server) and returns only after all have
// stopped. Observations accepted into the spool survive crashes and broker
// outages; they leave it only once Kafka acknowledged them.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/racktrack/racktrack/agent/config"
	"github.com/racktrack/racktrack/agent/publish"
	"github.com/racktrack/racktrack/agent/scheduler"
	"github.com/racktrack/racktrack/agent/sequence"
	"github.com/racktrack/racktrack/agent/spool"
	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
	"github.com/racktrack/racktrack/providers"
	"github.com/racktrack/racktrack/providers/lldp"
	"github.com/racktrack/racktrack/providers/redfish"
	"github.com/racktrack/racktrack/providers/snmp"
)

// Version is the agent's build version, stamped into observations.
var Version = "dev"

// ShutdownFlush bounds how long Run keeps publishing after it was told to
// stop; whatever is left stays in the spool for the next start.
const ShutdownFlush = 5 * time.Second

// Options are the agent's collaborators.
type Options struct {
	Logger   *slog.Logger
	Registry *prometheus.Registry
}

// Agent is one running site agent.
type Agent struct {
	cfg  *config.Config
	log  *slog.Logger
	reg  *prometheus.Registry
	addr atomic.Value // string, the bound HTTP address
	up   chan struct{}

	reloads     chan reloadRequest
	rfMetrics   *redfish.Metrics
	snmpMetrics *snmp.Metrics

	mu  sync.Mutex // guards cfg, and orders sequence assignment with spool appends
	seq *sequence.Counter
	sp  *spool.Spool
	pub *publish.Publisher // set before up is closed
}

// New checks that the agent can be built from cfg; nothing runs until Run.
func New(cfg *config.Config, opts Options) (*Agent, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	return &Agent{
		cfg:         cfg,
		log:         opts.Logger.With("agent", cfg.AgentID, "site", cfg.Site),
		reg:         opts.Registry,
		up:          make(chan struct{}),
		reloads:     make(chan reloadRequest),
		rfMetrics:   redfish.NewMetrics(opts.Registry),
		snmpMetrics: snmp.NewMetrics(opts.Registry),
	}, nil
}

// Ready is closed once the HTTP endpoint listens and polling has started.
func (a *Agent) Ready() <-chan struct{} { return a.up }

// Addr is the bound address of /metrics, /healthz and /readyz, once Ready.
func (a *Agent) Addr() string {
	s, _ := a.addr.Load().(string)
	return s
}

// LastSequence is the last sequence number the agent handed out (0 before
// Run opened its state).
func (a *Agent) LastSequence() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.seq == nil {
		return 0
	}
	return a.seq.Last()
}

// Run polls and publishes until ctx is done.
func (a *Agent) Run(ctx context.Context) (err error) {
	cfg := a.current()
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("agent: state_dir: %w", err)
	}
	sp, err := spool.Open(filepath.Join(cfg.StateDir, "spool"), spool.Options{
		MaxBytes:     cfg.Spool.MaxBytes,
		SyncInterval: cfg.Spool.SyncInterval,
		Logger:       a.log,
		Registerer:   a.reg,
	})
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	defer func() { err = errors.Join(err, sp.Close()) }()
	seq, err := sequence.Open(cfg.StateDir, sp.LastSeq())
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	a.mu.Lock()
	a.sp, a.seq = sp, seq
	a.mu.Unlock()

	targets, err := a.buildTargets(cfg, nil)
	if err != nil {
		return err
	}

	pub, err := publish.New(cfg.Kafka, sp, publish.Options{Logger: a.log, Registerer: a.reg})
	if err != nil {
		a.closeProviders(targets)
		return fmt.Errorf("agent: %w", err)
	}
	defer pub.Close()
	a.pub = pub

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		a.closeProviders(targets)
		return fmt.Errorf("agent: listen %s: %w", cfg.Listen, err)
	}
	a.addr.Store(ln.Addr().String())
	srv := &http.Server{Handler: a.handler(), ReadHeaderTimeout: 5 * time.Second}

	// Polling and HTTP stop with ctx; the publisher gets a short grace
	// period after polling stopped to drain what the last polls produced.
	pubCtx, stopPub := context.WithCancel(context.WithoutCancel(ctx))
	defer stopPub()
	var g errgroup.Group
	g.Go(func() error { return a.schedule(ctx, cfg, targets) })
	g.Go(func() error { return a.reportStatus(ctx) })
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("agent: http: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	pubDone := make(chan error, 1)
	go func() { pubDone <- pub.Run(pubCtx) }()

	a.log.Info("agent started", "targets", len(targets), "listen", a.Addr(),
		"brokers", cfg.Kafka.Brokers, "resume_sequence", seq.Last())
	close(a.up)
	gerr := g.Wait()

	// Polling has stopped: drain the spool for a bounded time, then stop
	// the publisher. Leftovers are delivered after the next start.
	stopPub()
	perr := <-pubDone
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownFlush)
	defer cancel()
	if err := pub.Flush(fctx); err != nil {
		// Not a failure of the agent: the records wait in the spool.
		a.log.Warn("could not drain the spool before stopping", "err", err)
	}
	st := sp.Stats()
	a.log.Info("agent stopped", "spool_records_left", st.Records, "last_sequence", seq.Last())
	return errors.Join(gerr, perr)
}

// reloadRequest carries a new config to the scheduling loop and its
// verdict back.
type reloadRequest struct {
	cfg   *config.Config
	reply chan error
}

// Reload switches the running agent to cfg: targets, intervals and limits
// change without a restart, polls in flight finish first, and providers of
// unchanged targets (with their BMC sessions) are kept. Changes to the
// agent's identity, state_dir, listen address, Kafka or spool settings
// need a restart and are refused, as is any cfg whose targets cannot be
// built; either way the agent keeps running on its current config.
func (a *Agent) Reload(ctx context.Context, cfg *config.Config) error {
	if err := restartNeeded(a.current(), cfg); err != nil {
		return err
	}
	req := reloadRequest{cfg: cfg, reply: make(chan error, 1)}
	select {
	case a.reloads <- req:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (a *Agent) current() *config.Config {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg
}

// restartNeeded names the first setting that a reload cannot change.
func restartNeeded(old, cfg *config.Config) error {
	checks := []struct {
		field string
		same  bool
	}{
		{"agent_id", old.AgentID == cfg.AgentID},
		{"site", old.Site == cfg.Site},
		{"rack", old.Rack == cfg.Rack},
		{"state_dir", old.StateDir == cfg.StateDir},
		{"listen", old.Listen == cfg.Listen},
		{"kafka", reflect.DeepEqual(old.Kafka, cfg.Kafka)},
		{"spool", old.Spool == cfg.Spool},
		// The LLDP listener owns raw sockets and metrics for the process.
		{"the lldp target", reflect.DeepEqual(lldpConfig(old), lldpConfig(cfg))},
	}
	for _, c := range checks {
		if !c.same {
			return fmt.Errorf("agent: reload: %s changed: restart the agent to apply it", c.field)
		}
	}
	return nil
}

// schedule runs the scheduler for the current target set and swaps it on
// reload. It owns the providers and closes them when it returns.
func (a *Agent) schedule(ctx context.Context, cfg *config.Config, targets []scheduler.Target) error {
	metrics := scheduler.NewMetrics(a.reg)
	defer func() { a.closeProviders(targets) }()
	start := func() (*scheduler.Scheduler, chan error) {
		s := scheduler.New(targets, a.emit, scheduler.Options{
			Seed:             cfg.AgentID,
			MaxConcurrency:   cfg.MaxConcurrency,
			PerProtocol:      cfg.ProtocolConcurrency,
			SnapshotInterval: cfg.SnapshotInterval,
			BackoffMax:       cfg.BackoffMax,
			Logger:           a.log,
			Metrics:          metrics,
		})
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		return s, done
	}
	s, done := start()
	for {
		var req reloadRequest
		select {
		case err := <-done:
			return err
		case req = <-a.reloads:
		}
		next, err := a.buildTargets(req.cfg, targets)
		if err != nil {
			req.reply <- err // the current set keeps running
			continue
		}
		s.Stop() // polls in flight finish and are forwarded first
		if err := <-done; err != nil {
			req.reply <- err
			return err
		}
		kept := map[providers.Provider]bool{}
		for _, t := range next {
			kept[t.Provider] = true
		}
		var gone []scheduler.Target
		for _, t := range targets {
			if !kept[t.Provider] {
				gone = append(gone, t)
			}
		}
		a.closeProviders(gone)
		a.mu.Lock()
		a.cfg = req.cfg
		a.mu.Unlock()
		targets, cfg = next, req.cfg
		s, done = start()
		a.log.Info("configuration reloaded", "targets", len(next), "closed", len(gone))
		req.reply <- nil
	}
}

// buildTargets makes one provider per target of cfg, reusing the provider
// of an identical target in prev.
func (a *Agent) buildTargets(cfg *config.Config, prev []scheduler.Target) ([]scheduler.Target, error) {
	old := map[string]scheduler.Target{}
	for _, t := range prev {
		old[t.Name] = t
	}
	oldCfg := map[string]config.Target{}
	if prev != nil {
		for _, t := range a.current().Targets {
			oldCfg[t.Name] = t
		}
	}
	var out, fresh []scheduler.Target
	for _, t := range cfg.Targets {
		st := scheduler.Target{Name: t.Name, Protocol: t.Protocol(), Interval: cfg.Interval(t)}
		if o, ok := old[t.Name]; ok && sameTarget(oldCfg[t.Name], t) {
			st.Source, st.Provider, st.Notify = o.Source, o.Provider, o.Notify
			out = append(out, st)
			continue
		}
		var err error
		switch {
		case t.Redfish != nil:
			st.Source = racktrackv1.Source_SOURCE_REDFISH
			st.Provider, err = redfish.New(t.Name, *t.Redfish, redfish.Options{Logger: a.log, Metrics: a.rfMetrics})
		case t.SNMP != nil:
			st.Source = racktrackv1.Source_SOURCE_SNMP
			st.Provider, err = snmp.New(t.Name, *t.SNMP, snmp.Options{Logger: a.log, Metrics: a.snmpMetrics})
		case t.LLDP != nil:
			st.Source = racktrackv1.Source_SOURCE_LLDP
			var p *lldp.Provider
			p, err = lldp.New(*t.LLDP, lldp.Options{Logger: a.log, Registerer: a.reg})
			if err == nil {
				st.Provider, st.Notify = p, p.Notify()
				a.startRunner(p)
			}
		default:
			err = errors.New("no protocol section")
		}
		if err != nil {
			a.closeProviders(fresh)
			return nil, fmt.Errorf("agent: target %s: %w", t.Name, err)
		}
		fresh = append(fresh, st)
		out = append(out, st)
	}
	return out, nil
}

// sameTarget reports whether a provider built for a can serve b.
func sameTarget(a, b config.Target) bool {
	return reflect.DeepEqual(a.Redfish, b.Redfish) && reflect.DeepEqual(a.SNMP, b.SNMP) && reflect.DeepEqual(a.LLDP, b.LLDP)
}

// runner is a provider with goroutines of its own (the LLDP listener).
type runner interface {
	providers.Provider
	Run(ctx context.Context) error
}

// startRunner runs p until the agent closes it. The goroutine's owner is
// the agent: closeProviders stops it, and Close waits for Run to return.
func (a *Agent) startRunner(p runner) {
	go func() {
		if err := p.Run(context.Background()); err != nil {
			a.log.Error("provider stopped", "err", err)
		}
	}()
}

// lldpConfig is the agent's LLDP section, if any.
func lldpConfig(c *config.Config) *lldp.Config {
	for _, t := range c.Targets {
		if t.LLDP != nil {
			return t.LLDP
		}
	}
	return nil
}

func (a *Agent) closeProviders(ts []scheduler.Target) {
	for _, t := range ts {
		// Logging out of BMCs must happen even though the agent's context
		// is cancelled; bound it so shutdown cannot hang on a dead BMC.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := t.Provider.Close(ctx); err != nil {
			a.log.Warn("close target", "target", t.Name, "err", err)
		}
		cancel()
	}
}

// classOf decides what a full spool evicts first.
func classOf(obs *racktrackv1.Observation) spool.Class {
	switch obs.Payload.(type) {
	case *racktrackv1.Observation_ServerHealth:
		return spool.ClassTelemetry
	case *racktrackv1.Observation_TargetStatus, *racktrackv1.Observation_AgentStatus:
		return spool.ClassStatus
	default:
		return spool.ClassInventory
	}
}

// emit stamps obs with the agent's identity and next sequence and appends
// it to the spool. Sequence order equals spool order.
func (a *Agent) emit(_ context.Context, obs *racktrackv1.Observation) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	obs.AgentId = a.cfg.AgentID
	obs.Site = a.cfg.Site
	obs.Rack = a.cfg.Rack
	obs.AgentVersion = Version
	if obs.ObservedAt == nil {
		obs.ObservedAt = timestamppb.Now()
	}
	n, err := a.seq.Next()
	if err != nil {
		return err
	}
	obs.Sequence = n
	b, err := proto.Marshal(obs)
	if err != nil {
		return fmt.Errorf("agent: encode observation of %s: %w", obs.Target, err)
	}
	return a.sp.Append(spool.Record{
		Seq:   n,
		Key:   []byte(a.cfg.Site + "/" + obs.Target),
		Value: b,
		Class: classOf(obs),
	})
}

// reportStatus publishes the agent's own pipeline state once per poll
// interval, so evictions and corruption are visible upstream.
func (a *Agent) reportStatus(ctx context.Context) error {
	t := time.NewTicker(a.current().PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		st := a.sp.Stats()
		ev := map[string]uint64{}
		for c, n := range st.Evicted {
			ev[c.String()] = n
		}
		obs := &racktrackv1.Observation{
			Source:   racktrackv1.Source_SOURCE_AGENT,
			Target:   "agent",
			Complete: true,
			Payload: &racktrackv1.Observation_AgentStatus{AgentStatus: &racktrackv1.AgentStatus{
				SpoolRecords:   uint64(st.Records),
				SpoolBytes:     uint64(st.Bytes),
				Evicted:        ev,
				CorruptRecords: st.Corrupt,
				Targets:        uint32(len(a.current().Targets)),
			}},
		}
		if err := a.emit(ctx, obs); err != nil {
			a.log.Error("agent status not accepted", "err", err)
		}
	}
}

func (a *Agent) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{Registry: a.reg}))
	// Profiles for diagnosing a live agent; the listener is loopback by default.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	// Ready means observations are flowing to Kafka: started, and the
	// last produce call succeeded. During a broker outage the agent keeps
	// polling into its spool but reports not ready, with the reason.
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		select {
		case <-a.up:
		default:
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		ok, since, err := a.pub.Health()
		if !ok {
			http.Error(w, fmt.Sprintf("kafka deliveries failing since %s (%d records spooled): %v",
				since.UTC().Format(time.RFC3339), a.sp.Stats().Records, err), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

var _ providers.Provider = (*redfish.Provider)(nil)
