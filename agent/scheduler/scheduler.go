// Package scheduler polls the agent's targets: one loop per target, each
// starting at a hash-based offset inside its interval so a thousand BMCs are
// not hit in the same second, polls bounded by a global and a per-protocol
// limit, and failing targets backed off exponentially up to a cap.
//
// The Scheduler owns one goroutine per target and stops them all when the
// context given to Run is done. Every poll produces a TargetStatus
// observation; inventory is forwarded when its content hash changes and as
// a periodic full snapshot, everything else every poll.
package scheduler

import (
	"context"
	"errors"
	"hash/fnv"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/types/known/timestamppb"

	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
	"github.com/racktrack/racktrack/providers"
)

// Emit hands one observation to the agent's pipeline (sequence, spool).
// It returns an error only when the observation could not be accepted.
type Emit func(ctx context.Context, obs *racktrackv1.Observation) error

// Target is one scheduled device.
type Target struct {
	Name     string
	Protocol string // "redfish", "snmp", "lldp"
	Source   racktrackv1.Source
	Interval time.Duration
	Provider providers.Provider
	// Notify, when set, asks for a poll now (e.g. an LLDP neighbour
	// appeared), on top of the interval.
	Notify <-chan struct{}
}

// Options configure a Scheduler.
type Options struct {
	// Seed spreads first polls; use the agent id so offsets differ per agent.
	Seed             string
	MaxConcurrency   int
	PerProtocol      map[string]int
	SnapshotInterval time.Duration
	BackoffMax       time.Duration
	// PollTimeout bounds one poll; default: the target's interval.
	PollTimeout time.Duration
	Logger      *slog.Logger
	// Metrics are shared by successive schedulers of one agent (reloads);
	// nil keeps them unregistered.
	Metrics *Metrics
	Now     func() time.Time
}

// Scheduler runs the per-target poll loops.
type Scheduler struct {
	opts    Options
	targets []Target
	emit    Emit
	global  chan struct{}
	proto   map[string]chan struct{}
	quit    chan struct{}
	stop    sync.Once
	log     *slog.Logger
	m       *Metrics
}

// New builds a scheduler; nothing runs until Run.
func New(targets []Target, emit Emit, opts Options) *Scheduler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxConcurrency <= 0 {
		opts.MaxConcurrency = 32
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = 5 * time.Minute
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	if opts.SnapshotInterval <= 0 {
		opts.SnapshotInterval = time.Hour
	}
	s := &Scheduler{
		opts:    opts,
		targets: targets,
		emit:    emit,
		global:  make(chan struct{}, opts.MaxConcurrency),
		proto:   map[string]chan struct{}{},
		quit:    make(chan struct{}),
		log:     opts.Logger,
		m:       opts.Metrics,
	}
	for p, n := range opts.PerProtocol {
		s.proto[p] = make(chan struct{}, n)
	}
	return s
}

// Run polls every target until ctx is done, then returns nil. Providers are
// not closed here; their owner (the agent) closes them after Run returns.
func (s *Scheduler) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	for i := range s.targets {
		l := &loop{s: s, t: s.targets[i]}
		g.Go(func() error { l.run(ctx); return nil })
	}
	return g.Wait()
}

// Stop makes Run return once every poll in flight has finished and been
// forwarded; polls not yet started are not started. Used to swap in a new
// target set (config reload) without dropping work. Safe to call twice.
func (s *Scheduler) Stop() { s.stop.Do(func() { close(s.quit) }) }

// Offset is where in its interval a target's first poll falls: stable for
// a (seed, target) pair, spread evenly across targets.
func Offset(seed, target string, interval time.Duration) time.Duration {
	if interval <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(seed))
	h.Write([]byte{0})
	h.Write([]byte(target))
	return time.Duration(h.Sum64() % uint64(interval))
}

// Backoff is the delay before the next poll after n consecutive failures.
func Backoff(interval, maxDelay time.Duration, failures int) time.Duration {
	if failures <= 0 {
		return interval
	}
	d := interval << min(failures, 20)
	if d <= 0 || d > maxDelay {
		d = maxDelay
	}
	return max(d, interval)
}

var errStopped = errors.New("scheduler stopped")

type loop struct {
	s        *Scheduler
	t        Target
	failures int
	lastHash map[string]string    // payload kind -> content hash last sent
	lastSent map[string]time.Time // payload kind -> when last sent
}

func (l *loop) run(ctx context.Context) {
	l.lastHash = map[string]string{}
	l.lastSent = map[string]time.Time{}
	wait := Offset(l.s.opts.Seed, l.t.Name, l.t.Interval)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.s.quit:
			return
		case <-timer.C:
		case <-l.t.Notify: // nil channel when unset: never ready
			timer.Stop() // Go ≥1.23 timers: no stale tick to drain
		}
		next := l.pollOnce(ctx)
		timer.Reset(next)
	}
}

func (s *Scheduler) acquire(ctx context.Context, protocol string) (release func(), err error) {
	select {
	case s.global <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.quit:
		return nil, errStopped
	}
	p := s.proto[protocol]
	if p != nil {
		select {
		case p <- struct{}{}:
		case <-ctx.Done():
			<-s.global
			return nil, ctx.Err()
		case <-s.quit:
			<-s.global
			return nil, errStopped
		}
	}
	return func() {
		if p != nil {
			<-p
		}
		<-s.global
	}, nil
}

// pollOnce polls the target, forwards its observations and a status, and
// returns the delay until the next poll.
func (l *loop) pollOnce(ctx context.Context) time.Duration {
	s, t := l.s, l.t
	release, err := s.acquire(ctx, t.Protocol)
	if err != nil {
		return t.Interval
	}
	timeout := s.opts.PollTimeout
	if timeout <= 0 || timeout > t.Interval {
		timeout = t.Interval
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	start := s.opts.Now()
	res, perr := t.Provider.Poll(pctx)
	cancel()
	release()
	elapsed := s.opts.Now().Sub(start)
	if ctx.Err() != nil {
		return t.Interval // shutting down mid-poll: publish nothing half-made
	}
	s.m.latency.WithLabelValues(t.Protocol).Observe(elapsed.Seconds())

	status := &racktrackv1.TargetStatus{
		Reachable: perr == nil,
		LatencyMs: uint32(elapsed.Milliseconds()),
		Requests:  uint32(res.Requests),
	}
	if perr != nil {
		l.failures++
		kind, op := classify(perr)
		status.Error = perr.Error()
		status.ErrorKind = string(kind)
		status.Operation = op
		s.m.errors.WithLabelValues(t.Name, string(kind)).Inc()
		s.log.Warn("poll failed", "target", t.Name, "provider", t.Protocol,
			"kind", kind, "failures", l.failures, "err", perr)
	} else {
		l.failures = 0
	}
	s.m.polls.WithLabelValues(t.Protocol, resultLabel(perr)).Inc()
	next := Backoff(t.Interval, s.opts.BackoffMax, l.failures)
	status.ConsecutiveFailures = uint32(l.failures)
	status.NextAttempt = timestamppb.New(start.Add(elapsed + next))

	for _, obs := range res.Observations {
		if obs.Target == "" {
			obs.Target = t.Name
		}
		if obs.Source == racktrackv1.Source_SOURCE_UNSPECIFIED {
			obs.Source = t.Source
		}
		if obs.ObservedAt == nil {
			obs.ObservedAt = timestamppb.New(start)
		}
		if !obs.Complete && perr == nil {
			status.ErrorKind = "partial"
			status.Error = "incomplete: " + strings.Join(obs.Incomplete, ", ")
		}
		if !l.due(obs, start) {
			continue
		}
		if err := s.emit(ctx, obs); err != nil {
			s.log.Error("observation not accepted", "target", t.Name, "err", err)
		}
	}
	st := &racktrackv1.Observation{
		Source:     t.Source,
		Target:     t.Name,
		ObservedAt: timestamppb.New(start),
		Complete:   true,
		Payload:    &racktrackv1.Observation_TargetStatus{TargetStatus: status},
	}
	if err := s.emit(ctx, st); err != nil {
		s.log.Error("status not accepted", "target", t.Name, "err", err)
	}
	return next
}

// due decides whether obs is sent: inventory only when its content changed
// or a snapshot is due; everything else always.
func (l *loop) due(obs *racktrackv1.Observation, now time.Time) bool {
	kind, hash := inventoryHash(obs)
	if kind == "" {
		return true
	}
	last, seen := l.lastHash[kind]
	if seen && last == hash && now.Sub(l.lastSent[kind]) < l.s.opts.SnapshotInterval {
		return false
	}
	obs.Snapshot = seen && last == hash
	l.lastHash[kind] = hash
	l.lastSent[kind] = now
	return true
}

func inventoryHash(obs *racktrackv1.Observation) (kind, hash string) {
	switch p := obs.Payload.(type) {
	case *racktrackv1.Observation_ServerInventory:
		if p.ServerInventory.GetContentHash() != "" {
			return "server_inventory", p.ServerInventory.GetContentHash()
		}
	case *racktrackv1.Observation_SwitchInventory:
		if p.SwitchInventory.GetContentHash() != "" {
			return "switch_inventory", p.SwitchInventory.GetContentHash()
		}
	}
	return "", ""
}

func classify(err error) (providers.ErrorKind, string) {
	var te *providers.TargetError
	if errors.As(err, &te) {
		return te.Kind, te.Operation
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return providers.KindTimeout, "poll"
	}
	return providers.KindProtocol, "poll"
}

func resultLabel(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

// Metrics are the scheduler's Prometheus metrics.
type Metrics struct {
	polls   *prometheus.CounterVec
	errors  *prometheus.CounterVec
	latency *prometheus.HistogramVec
}

// NewMetrics creates the metrics and registers them on reg (if not nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "racktrack_agent_polls_total",
			Help: "Polls by protocol and result (ok, error).",
		}, []string{"protocol", "result"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "racktrack_agent_poll_errors_total",
			Help: "Failed polls by target and error kind.",
		}, []string{"target", "kind"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "racktrack_agent_poll_duration_seconds",
			Help:    "Time one poll of a target took.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"protocol"}),
	}
	if reg != nil {
		reg.MustRegister(m.polls, m.errors, m.latency)
	}
	return m
}
