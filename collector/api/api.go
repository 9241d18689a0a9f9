// Package api is the collector's HTTP interface: the JSON inventory API
// under /api/v1/, /healthz and /metrics.
//
// Every handler reads ClickHouse through the store with the request's
// context, so a client that goes away cancels its query. Errors are JSON
// objects {"error": "..."}: 400 for a bad query parameter, 404 for an
// unknown device or path, 503 when ClickHouse cannot answer. Lists are
// paginated with ?limit= (default 500, at most 5000) and the opaque
// ?cursor= a page returns as next_cursor; they are ordered so that pages
// neither repeat nor skip rows while the inventory changes.
//
// Every fact carries its provenance: source, agent, target, sequence,
// when it was last observed, its age and whether it is stale (older than
// Options.StaleAfter).
//
// Every /api/v1 endpoint requires a bearer token of role viewer or
// stronger (Options.Tokens), or, when no tokens are configured and
// Options.AllowAnonymousLoopback is set, a loopback peer. A request
// without valid credentials gets 401 with WWW-Authenticate: Bearer; a
// caller whose role is too weak gets 403. /healthz and /metrics need no
// token: protect them at the network level. Tokens are compared by their
// SHA-256 in constant time; only a token's name is ever logged.
package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/racktrack/racktrack/collector/store"
	"github.com/racktrack/racktrack/collector/topology"
)

// Page sizes.
const (
	DefaultLimit = 500
	MaxLimit     = 5000
)

// Options configure the handler.
type Options struct {
	// Store answers the queries. Required.
	Store *store.Store
	// Gatherer serves /metrics. Nil serves an empty set.
	Gatherer prometheus.Gatherer
	// Logger receives failed requests. Nil discards.
	Logger *slog.Logger
	// Now returns the current time (for ages); nil means time.Now.
	Now func() time.Time
	// StaleAfter is the age past which a fact is marked stale; 0 means
	// facts are never stale.
	StaleAfter time.Duration
	// Topology decides the cable map; its StaleAfter is set from
	// StaleAfter.
	Topology topology.Rules
	// Tokens are the accepted bearer tokens. Names must be unique, roles
	// valid and hashes set.
	Tokens []Token
	// AllowAnonymousLoopback accepts requests without a token from
	// loopback peers, as role viewer, while Tokens is empty. With
	// neither, every /api/v1 request is refused.
	AllowAnonymousLoopback bool
	// Registerer receives the API's metrics. Nil registers nowhere.
	Registerer prometheus.Registerer
}

// Handler serves the API.
type Handler struct {
	opts Options
	log  *slog.Logger
	mux  *http.ServeMux

	requests     *prometheus.CounterVec // route, code
	authFailures *prometheus.CounterVec // reason
}

// New returns the handler.
func New(opts Options) (*Handler, error) {
	if opts.Store == nil {
		return nil, errors.New("api: Options.Store is required")
	}
	if opts.Gatherer == nil {
		opts.Gatherer = prometheus.NewRegistry()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := checkTokens(opts.Tokens); err != nil {
		return nil, err
	}
	opts.Tokens = slices.Clone(opts.Tokens)
	if len(opts.Topology.Precedence) == 0 {
		opts.Topology.Precedence = topology.DefaultPrecedence
	}
	opts.Topology.StaleAfter = opts.StaleAfter
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{
		opts: opts, log: logger.With("stage", "api"), mux: http.NewServeMux(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "racktrack_collector_api_requests_total",
			Help: "HTTP API requests answered, by route pattern and status code.",
		}, []string{"route", "code"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "racktrack_collector_api_auth_failures_total",
			Help: "API requests refused: missing, malformed or invalid token, anonymous from a non-loopback peer (not_loopback), or a role too weak (insufficient).",
		}, []string{"reason"}),
	}
	for _, reason := range authReasons {
		h.authFailures.WithLabelValues(reason)
	}
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{h.requests, h.authFailures} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("api: register metrics: %w", err)
			}
		}
	}
	h.Handle("GET /api/v1/servers", RoleViewer, http.HandlerFunc(h.servers))
	h.Handle("GET /api/v1/servers/{site}/{target}", RoleViewer, http.HandlerFunc(h.server))
	h.Handle("GET /api/v1/servers/{site}/{target}/sensors", RoleViewer, http.HandlerFunc(h.sensors))
	h.Handle("GET /api/v1/switches", RoleViewer, http.HandlerFunc(h.switches))
	h.Handle("GET /api/v1/switches/{site}/{device}", RoleViewer, http.HandlerFunc(h.switchDetail))
	h.Handle("GET /api/v1/interfaces", RoleViewer, http.HandlerFunc(h.interfaces))
	h.Handle("GET /api/v1/topology", RoleViewer, http.HandlerFunc(h.topology))
	h.Handle("GET /api/v1/history", RoleViewer, http.HandlerFunc(h.history))
	h.Handle("GET /api/v1/targets", RoleViewer, http.HandlerFunc(h.targets))
	// Open: liveness probes and Prometheus scrapes carry no token;
	// protect them at the network level.
	h.mux.HandleFunc("GET /healthz", h.healthz)
	h.mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{}))
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w}
	h.mux.ServeHTTP(rec, r)
	// The mux sets r.Pattern to the matched pattern: a bounded label.
	route := r.Pattern
	if route == "" {
		route = "none" // answered by the mux itself (405, 400)
	}
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	h.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
}

// statusRecorder remembers the status code a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Error is the body of every error response.
type Error struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client went away; nothing to do
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, Error{Error: msg})
}

// storeError answers a failed query: 503, with the reason.
func (h *Handler) storeError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client went away
	}
	h.log.Warn("query failed", "path", r.URL.Path, "err", err)
	writeError(w, http.StatusServiceUnavailable, err.Error())
}

// Health is the body of /healthz.
type Health struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

func (h *Handler) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if err := h.opts.Store.Ping(ctx); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, Health{Status: "unavailable", Reason: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, Health{Status: "ok"})
}

// Provenance says where a fact came from and how old it is.
type Provenance struct {
	Source     string    `json:"source"`
	AgentID    string    `json:"agent_id"`
	Target     string    `json:"target"`
	Sequence   uint64    `json:"sequence"`
	ObservedAt time.Time `json:"observed_at"`
	AgeSeconds float64   `json:"age_seconds"`
	Stale      bool      `json:"stale"`
}

func (h *Handler) provenance(source, agent, target string, seq uint64, observed time.Time) Provenance {
	age := h.opts.Now().Sub(observed)
	return Provenance{
		Source: source, AgentID: agent, Target: target, Sequence: seq, ObservedAt: observed,
		AgeSeconds: age.Seconds(),
		Stale:      h.opts.StaleAfter > 0 && age > h.opts.StaleAfter,
	}
}

// params reads and checks query parameters; the first problem is kept in
// err and answered with 400.
type params struct {
	q   url.Values
	err error
}

// parse checks that r has only the allowed parameters, each at most once.
func parse(r *http.Request, allowed ...string) *params {
	p := &params{q: r.URL.Query()}
	keys := make([]string, 0, len(p.q))
	for k := range p.q {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		switch {
		case !slices.Contains(allowed, k):
			p.fail("unknown query parameter %q", k)
		case len(p.q[k]) > 1:
			p.fail("query parameter %q given more than once", k)
		}
	}
	return p
}

func (p *params) fail(format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf(format, args...)
	}
}

// str returns a parameter; present but empty is an error.
func (p *params) str(name string) string {
	if p.q.Has(name) && p.q.Get(name) == "" {
		p.fail("query parameter %q is empty", name)
	}
	return p.q.Get(name)
}

// required is str, and absent is an error too.
func (p *params) required(name string) string {
	if !p.q.Has(name) {
		p.fail("query parameter %q is required", name)
	}
	return p.str(name)
}

// time parses an RFC 3339 time.
func (p *params) time(name string) time.Time {
	v := p.str(name)
	if v == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		p.fail("query parameter %q: %q is not an RFC 3339 time (2006-01-02T15:04:05Z)", name, v)
	}
	return t
}

// duration parses a Go duration (5m, 1h).
func (p *params) duration(name string) time.Duration {
	v := p.str(name)
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Second {
		p.fail("query parameter %q: %q is not a duration of at least 1s (e.g. 5m)", name, v)
	}
	return d
}

// boolean parses true or false.
func (p *params) boolean(name string) *bool {
	v := p.str(name)
	if v == "" {
		return nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail("query parameter %q: %q is neither true nor false", name, v)
		return nil
	}
	return &b
}

// limit reads ?limit=.
func (p *params) limit() int {
	v := p.str("limit")
	if v == "" {
		return DefaultLimit
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxLimit {
		p.fail("query parameter \"limit\": %q is not a number between 1 and %d", v, MaxLimit)
		return DefaultLimit
	}
	return n
}

// cursor decodes ?cursor= into v; it reports whether one was given.
func (p *params) cursor(v any) bool {
	c := p.str("cursor")
	if c == "" {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		err = dec.Decode(v)
	}
	if err != nil {
		p.fail("query parameter \"cursor\" is not a cursor this API returned")
		return false
	}
	return true
}

// encodeCursor makes the opaque next_cursor for v.
func encodeCursor(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // cursors are plain structs of strings and times
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// badRequest answers 400 if p collected an error.
func (p *params) badRequest(w http.ResponseWriter) bool {
	if p.err != nil {
		writeError(w, http.StatusBadRequest, p.err.Error())
		return true
	}
	return false
}
