// Package collector assembles the central collector: it applies the
// ClickHouse schema, runs the ingest stage (Kafka → ClickHouse) and serves
// the HTTP API, until its context is done.
//
// The pipeline, in order:
//
//	store.Migrate → ingest.Run (consume → dead-letter → de-duplicate → state.Plan →
//	                history → events → current state → raw → commit)
//	api (reads ClickHouse; runs from the start, /healthz says whether ClickHouse answers)
package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/racktrack/racktrack/collector/api"
	"github.com/racktrack/racktrack/collector/config"
	"github.com/racktrack/racktrack/collector/ingest"
	"github.com/racktrack/racktrack/collector/state"
	"github.com/racktrack/racktrack/collector/store"
	"github.com/racktrack/racktrack/collector/topology"
)

// Options carry what the binary injects.
type Options struct {
	// Logger receives everything the collector logs. Nil discards.
	Logger *slog.Logger
	// Registry receives the collector's metrics and is served on
	// /metrics. Nil uses a private registry.
	Registry *prometheus.Registry
	// Now is the clock for ages, staleness and the disappeared-device
	// sweep; nil means time.Now.
	Now func() time.Time
}

// shutdownTimeout bounds the HTTP server's graceful shutdown.
const shutdownTimeout = 5 * time.Second

// Collector is one collector process's components. Run it once.
type Collector struct {
	cfg   config.Config
	log   *slog.Logger
	store *store.Store
	ing   *ingest.Ingester
	api   *api.Handler

	ready chan struct{} // closed once the HTTP listener is bound
	mu    sync.Mutex
	addr  string
}

// New builds the components from cfg. It does no I/O: ClickHouse and Kafka
// are first contacted by Run.
func New(cfg config.Config, opts Options) (*Collector, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	reg := opts.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	st, err := store.Open(store.Options{
		Addr:         cfg.ClickHouse.Addr,
		Database:     cfg.ClickHouse.Database,
		Username:     cfg.ClickHouse.Username,
		Password:     cfg.ClickHouse.PasswordSecret,
		DialTimeout:  cfg.ClickHouse.DialTimeout,
		QueryTimeout: cfg.ClickHouse.QueryTimeout,
		Compression:  cfg.ClickHouse.Compression,
		Logger:       logger.With("stage", "store"),
	})
	if err != nil {
		return nil, fmt.Errorf("collector: %w", err)
	}
	tracker, err := state.New(state.Options{Store: st, Logger: logger, Registerer: reg, StaleAfter: cfg.Inventory.StaleAge()})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("collector: %w", err)
	}
	ing, err := ingest.New(ingest.Options{
		Brokers:       cfg.Kafka.Brokers,
		Topic:         cfg.Kafka.Topic,
		DLQTopic:      cfg.Kafka.DLQTopic,
		GroupID:       cfg.Kafka.GroupID,
		MaxRows:       cfg.Batch.MaxRows,
		MaxWait:       cfg.Batch.MaxWait,
		Store:         st,
		Tracker:       tracker,
		EventsTopic:   cfg.Kafka.EventsTopic,
		StaleAfter:    cfg.Inventory.StaleAge(),
		SweepInterval: cfg.Inventory.PollInterval,
		Now:           opts.Now,
		Logger:        logger,
		Registerer:    reg,
	})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("collector: %w", err)
	}
	tokens, err := apiTokens(cfg.Auth)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("collector: %w", err)
	}
	h, err := api.New(api.Options{
		Store:      st,
		Gatherer:   reg,
		Registerer: reg,
		Logger:     logger,
		Now:        opts.Now,
		StaleAfter: cfg.Inventory.StaleAge(),
		Topology: topology.Rules{
			Precedence:        cfg.Topology.Precedence,
			FDBMaxMACsPerPort: cfg.Topology.FDBMaxMACsPerPort,
		},
		Tokens:                 tokens,
		AllowAnonymousLoopback: cfg.Auth.AllowAnonymousLoopback,
	})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("collector: %w", err)
	}
	return &Collector{cfg: cfg, log: logger, store: st, ing: ing, api: h, ready: make(chan struct{})}, nil
}

// apiTokens converts the configured tokens (hashed by config.Load).
func apiTokens(a config.Auth) ([]api.Token, error) {
	tokens := make([]api.Token, 0, len(a.Tokens))
	for i, t := range a.Tokens {
		role, err := api.ParseRole(t.Role)
		if err != nil {
			return nil, fmt.Errorf("auth.tokens[%d] (%s): %w", i, t.Name, err)
		}
		tokens = append(tokens, api.Token{Name: t.Name, Role: role, SHA256: t.SHA256})
	}
	return tokens, nil
}

// Ready is closed once the HTTP listener is bound and Addr is known.
func (c *Collector) Ready() <-chan struct{} { return c.ready }

// Addr returns the bound HTTP address (useful with listen port 0), or ""
// before Ready is closed.
func (c *Collector) Addr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.addr
}

// Run binds the HTTP listener, applies migrations (retrying while
// ClickHouse is unreachable), then consumes until ctx is done. It returns
// nil after a clean shutdown, or the error that stopped a component (every
// other component is then stopped too). The store is closed on return.
func (c *Collector) Run(ctx context.Context) error {
	defer c.store.Close()
	ln, err := net.Listen("tcp", c.cfg.Listen)
	if err != nil {
		return fmt.Errorf("collector: listen %s: %w", c.cfg.Listen, err)
	}
	c.mu.Lock()
	c.addr = ln.Addr().String()
	c.mu.Unlock()
	close(c.ready)
	c.log.Info("collector listening", "addr", c.addr)

	srv := &http.Server{
		Handler:           c.api,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(c.log.Handler(), slog.LevelWarn),
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("collector: http %s: %w", c.addr, err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		// The group's context is done; shutdown needs its own deadline.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(gctx), shutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			return fmt.Errorf("collector: http shutdown: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		if err := c.migrate(gctx); err != nil {
			if gctx.Err() != nil {
				return nil
			}
			return err
		}
		return c.ing.Run(gctx)
	})
	return g.Wait()
}

// migrate applies the schema, retrying with backoff while ClickHouse cannot
// be reached. A permanent error (the server rejected a statement or the
// credentials) is returned.
func (c *Collector) migrate(ctx context.Context) error {
	delay := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		applied, err := c.store.Migrate(ctx)
		if err == nil {
			c.log.Info("schema ready", "database", c.store.Database(), "version", store.SchemaVersion(), "applied", applied)
			return nil
		}
		var oe *store.OpError
		if errors.As(err, &oe) && oe.Permanent() {
			return fmt.Errorf("collector: %w", err)
		}
		c.log.Warn("cannot apply schema yet; retrying", "attempt", attempt, "retry_in", delay, "err", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay = min(delay*2, 10*time.Second)
	}
}
