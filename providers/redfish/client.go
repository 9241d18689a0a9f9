package redfish

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stmcginnis/gofish"
	"github.com/stmcginnis/gofish/schemas"

	"github.com/racktrack/racktrack/internal/secret"
)

// maxBody bounds one response body; a full $expand of a large system is a
// few hundred KiB.
const maxBody = 16 << 20

// conn is the connection to one BMC: HTTP transport, session, request
// limits. It implements the transport half of gofish's schemas.Client
// through view, so gofish decodes resources and runs actions over our
// transport, with our limits and our error wrapping.
type conn struct {
	base     string // https://host:port
	user     string
	pass     secret.Secret
	authMode string
	timeout  time.Duration
	retries  int
	client   *http.Client
	sem      chan struct{} // requests in flight
	limiter  *limiter
	logger   *slog.Logger
	metrics  *Metrics
	// requests counts HTTP round trips (including retries, login, logout).
	requests atomic.Int64

	loginMu    sync.Mutex // serialises logins
	mu         sync.Mutex
	root       *serviceRoot // service root, read once per connection
	token      string       // X-Auth-Token when session authenticated
	sessionURI string
	basic      bool // basic authentication in use
	authGen    int  // bumped on every login
}

// countingTransport counts round trips; PollResult.Requests comes from it.
type countingTransport struct {
	next http.RoundTripper
	n    *atomic.Int64
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.n.Add(1)
	return t.next.RoundTrip(r)
}

func newConn(base string, cfg *Config, pass secret.Secret, tlsConf *tls.Config, logger *slog.Logger, m *Metrics) *conn {
	c := &conn{
		base:     strings.TrimRight(base, "/"),
		user:     cfg.Username,
		pass:     pass,
		authMode: cfg.Auth,
		timeout:  cfg.Timeout,
		retries:  cfg.Retries,
		sem:      make(chan struct{}, cfg.MaxInFlight),
		limiter:  newLimiter(cfg.RequestsPerSecond, max(int(cfg.RequestsPerSecond), 1)),
		logger:   logger,
		metrics:  m,
	}
	// Every request runs under its own context with cfg.Timeout, which
	// bounds dial, handshake, headers and body alike, so a slow BMC always
	// reports the same error. net/http finishes a dial in the background
	// after its request gave up (for reuse); the dial and handshake
	// timeouts, a little longer than the request's, bound that too.
	detached := cfg.Timeout + time.Second
	tr := &http.Transport{
		Proxy:               nil, // BMC networks are reached directly
		DialContext:         (&net.Dialer{Timeout: detached, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: detached,
		TLSClientConfig:     tlsConf,
		MaxIdleConnsPerHost: cfg.MaxInFlight,
		MaxConnsPerHost:     cfg.MaxInFlight,
		// Shorter than a typical poll interval: an agent of 1,000 BMCs
		// polled every minute should not hold 2,000 idle TLS sockets (and
		// their buffers) between polls, and BMCs have few connection slots.
		IdleConnTimeout: 20 * time.Second,
		// Requests are headers and small PATCH bodies.
		WriteBufferSize: 1024,
	}
	c.client = &http.Client{
		Transport: countingTransport{next: tr, n: &c.requests},
		// Redfish does not redirect; a redirect would carry the token
		// elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c
}

// closeIdle drops idle keep-alive connections.
func (c *conn) closeIdle() {
	c.client.CloseIdleConnections()
}

// view is conn bound to a context. It implements schemas.Client, so gofish
// objects decoded through it send their follow-up requests (actions,
// PATCH) through the same limits. noAuth views send no credentials (login).
type view struct {
	c      *conn
	ctx    context.Context
	noAuth bool
}

var _ schemas.Client = view{}

func (c *conn) view(ctx context.Context) view { return view{c: c, ctx: ctx} }

// opError is a failed request: which operation, and why.
type opError struct {
	Op  string // "GET /redfish/v1/Systems"
	Err error
}

func (e *opError) Error() string { return e.Op + ": " + e.Err.Error() }
func (e *opError) Unwrap() error { return e.Err }

// statusError is a non-success HTTP status. It wraps gofish's typed
// *schemas.Error (which carries the status and the Redfish error body) and
// prints concisely: "503 Service Unavailable: <Redfish message>".
type statusError struct {
	Code int
	Err  *schemas.Error
}

func (e *statusError) Error() string {
	s := strconv.Itoa(e.Code) + " " + http.StatusText(e.Code)
	// gofish puts the Redfish error message in Message, or the whole body
	// when the body is not a Redfish error (an HTML page, say).
	if e.Err != nil {
		msg := strings.Join(strings.Fields(e.Err.Message), " ")
		if msg != "" && !strings.HasPrefix(msg, "<") && !strings.HasPrefix(msg, "{") {
			s += ": " + truncate(msg, 200)
		}
	}
	return s
}

func (e *statusError) Unwrap() error { return e.Err }

// decodeError is a response body that is not the JSON we expect.
type decodeError struct{ Err error }

func (e *decodeError) Error() string { return "decode: " + e.Err.Error() }
func (e *decodeError) Unwrap() error { return e.Err }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// opName is "METHOD /path?query" for errors and logs.
func opName(method, uri string) string { return method + " " + uri }

// do sends one request with retries and re-login, returning the response
// with its body fully read (so the per-request timeout can end here).
func (v view) do(method, uri string, payload any, headers map[string]string) (*http.Response, error) {
	op := opName(method, uri)
	var body []byte
	if payload != nil {
		b, err := json.Marshal(payload)
		if err != nil {
			return nil, &opError{Op: op, Err: err}
		}
		body = b
	}
	relogged := false
	for attempt := 0; ; attempt++ {
		gen := v.c.currentGen()
		resp, sentToken, err := v.c.roundTrip(v.ctx, method, uri, body, headers, v.noAuth)
		if err == nil && resp.StatusCode == http.StatusUnauthorized && sentToken && !relogged {
			// The session expired or the BMC restarted: log in again once.
			relogged = true
			v.c.metrics.relogin()
			v.c.logger.Info("redfish: session rejected, logging in again", "target", v.c.base)
			if lerr := v.c.relogin(v.ctx, gen); lerr != nil {
				return nil, lerr
			}
			attempt--
			continue
		}
		retryable := false
		switch {
		case err != nil:
			retryable = method == http.MethodGet && transient(err)
		case resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests:
			retryable = method == http.MethodGet
		}
		if retryable && attempt < v.c.retries && v.ctx.Err() == nil {
			wait := backoff(attempt, resp)
			v.c.logger.Debug("redfish: retrying", "target", v.c.base, "request", op, "wait", wait)
			v.c.metrics.retry()
			if werr := sleepCtx(v.ctx, wait); werr != nil {
				return nil, &opError{Op: op, Err: werr}
			}
			continue
		}
		if err != nil {
			return nil, &opError{Op: op, Err: err}
		}
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			raw, _ := io.ReadAll(resp.Body)
			rfErr, _ := schemas.ConstructError(resp.StatusCode, raw).(*schemas.Error)
			return nil, &opError{Op: op, Err: &statusError{Code: resp.StatusCode, Err: rfErr}}
		}
		return resp, nil
	}
}

// backoff waits 250 ms, 500 ms, ... or what Retry-After asks, capped at 5 s.
func backoff(attempt int, resp *http.Response) time.Duration {
	d := 250 * time.Millisecond << attempt
	if resp != nil {
		if t, err := schemas.ParseRetryAfter(resp.Header.Get("Retry-After")); err == nil {
			d = time.Until(t)
		}
	}
	return min(max(d, 50*time.Millisecond), 5*time.Second)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// transient reports errors worth one more try: the BMC closed a kept-alive
// connection under us. Timeouts and refusals are not retried: they cost
// a whole timeout each and say the BMC is away.
func transient(err error) bool {
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed)
}

// roundTrip sends one request under the in-flight and rate limits and the
// per-request timeout, and returns the response with the body in memory,
// and whether a session token went with the request.
func (c *conn) roundTrip(ctx context.Context, method, uri string, body []byte, headers map[string]string, noAuth bool) (_ *http.Response, sentToken bool, _ error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
	defer func() { <-c.sem }()
	if err := c.limiter.wait(ctx); err != nil {
		return nil, false, err
	}
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(rctx, method, c.base+uri, rd)
	if err != nil {
		return nil, false, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("OData-Version", "4.0")
	req.Header.Set("User-Agent", "racktrack-agent")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if !noAuth {
		c.mu.Lock()
		switch {
		case c.token != "":
			req.Header.Set("X-Auth-Token", c.token)
			sentToken = true
		case c.basic:
			req.SetBasicAuth(c.user, c.pass.Reveal())
		}
		c.mu.Unlock()
	}
	start := time.Now()
	resp, err := c.client.Do(req)
	if err != nil {
		c.metrics.request(method, "error", time.Since(start))
		// *url.Error repeats method and URL, which opError already names.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, sentToken, err
	}
	defer resp.Body.Close()
	buf, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	c.metrics.request(method, strconv.Itoa(resp.StatusCode), time.Since(start))
	if err != nil {
		return nil, sentToken, err
	}
	if len(buf) > maxBody {
		return nil, sentToken, fmt.Errorf("response larger than %d bytes", maxBody)
	}
	resp.Body = io.NopCloser(bytes.NewReader(buf))
	return resp, sentToken, nil
}

func (c *conn) currentGen() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.authGen
}

// connect reads the service root (once per conn) and logs in if no
// session or basic authentication is set up yet.
func (c *conn) connect(ctx context.Context) error {
	c.mu.Lock()
	ready := c.root != nil && (c.token != "" || c.basic)
	gen := c.authGen
	c.mu.Unlock()
	if ready {
		return nil
	}
	if err := c.readServiceRoot(ctx); err != nil {
		return err
	}
	return c.relogin(ctx, gen)
}

// serviceRoot is what the provider needs from /redfish/v1: where things
// are and which query features the service supports.
type serviceRoot struct {
	Vendor                    string
	Product                   string
	RedfishVersion            string
	ProtocolFeaturesSupported gofish.ProtocolFeaturesSupported
	Systems                   odataRef
	Chassis                   odataRef
	Managers                  odataRef
	UpdateService             odataRef
	Links                     struct{ Sessions odataRef }
}

// odataRef is a navigation property: {"@odata.id": "/redfish/v1/..."}.
type odataRef struct {
	ID string `json:"@odata.id"`
}

func (c *conn) readServiceRoot(ctx context.Context) error {
	c.mu.Lock()
	have := c.root != nil
	c.mu.Unlock()
	if have {
		return nil
	}
	var root serviceRoot
	if err := getJSON(view{c: c, ctx: ctx, noAuth: true}, schemas.DefaultServiceRoot, &root); err != nil {
		return err
	}
	c.mu.Lock()
	c.root = &root
	c.mu.Unlock()
	return nil
}

// getJSON GETs uri and decodes the body into out, wrapping decode failures
// with the operation.
func getJSON(v view, uri string, out any) error {
	resp, err := v.Get(uri)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return &opError{Op: opName(http.MethodGet, uri), Err: &decodeError{Err: err}}
	}
	return nil
}

// relogin establishes authentication unless another goroutine already did
// since generation gen was observed. Logins are serialised by loginMu, so
// two requests rejected at once log in once.
func (c *conn) relogin(ctx context.Context, gen int) error {
	c.loginMu.Lock()
	defer c.loginMu.Unlock()
	c.mu.Lock()
	if c.authGen != gen {
		c.mu.Unlock()
		return nil
	}
	// The old token stays until a new one replaces it: requests in flight
	// meanwhile get 401 and wait for this login in their own relogin.
	uri := "/redfish/v1/SessionService/Sessions" // the URI DSP0266 fixes
	if c.root != nil && c.root.Links.Sessions.ID != "" {
		uri = c.root.Links.Sessions.ID
	}
	c.mu.Unlock()

	if c.authMode == AuthBasic {
		c.setAuth("", "", true)
		return nil
	}
	tok, err := schemas.CreateSession(view{c: c, ctx: ctx, noAuth: true}, uri, c.user, c.pass.Reveal())
	if err != nil {
		var se *statusError
		if c.authMode == AuthAuto && errors.As(err, &se) &&
			(se.Code == http.StatusNotFound || se.Code == http.StatusMethodNotAllowed || se.Code == http.StatusNotImplemented) {
			// No session service: basic authentication on every request.
			c.logger.Info("redfish: no session service, using basic authentication", "target", c.base)
			c.setAuth("", "", true)
			return nil
		}
		return err
	}
	if tok.Token == "" {
		return &opError{Op: opName(http.MethodPost, uri), Err: errors.New("login answered without X-Auth-Token")}
	}
	c.setAuth(tok.Token, tok.Session, false)
	c.metrics.session()
	c.logger.Debug("redfish: logged in", "target", c.base, "session", tok.Session)
	return nil
}

func (c *conn) setAuth(token, sessionURI string, basic bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.token, c.sessionURI, c.basic = token, sessionURI, basic
	c.authGen++
}

// logout deletes the session, if any. Errors are returned for logging;
// the session is forgotten either way.
func (c *conn) logout(ctx context.Context) error {
	c.mu.Lock()
	uri := c.sessionURI
	hadToken := c.token != ""
	c.mu.Unlock()
	if !hadToken {
		return nil
	}
	var err error
	if uri == "" {
		err = errors.New("login returned no session location; cannot log out")
	} else {
		err = schemas.DeleteSession(c.view(ctx), uri)
	}
	c.setAuth("", "", false)
	return err
}

// schemas.Client implementation.

func (v view) GetSettings() schemas.ClientSettings { return schemas.ClientSettings{} }

func (v view) Get(uri string) (*http.Response, error) { return v.do(http.MethodGet, uri, nil, nil) }

func (v view) GetWithHeaders(uri string, h map[string]string) (*http.Response, error) {
	return v.do(http.MethodGet, uri, nil, h)
}

func (v view) Post(uri string, payload any) (*http.Response, error) {
	return v.do(http.MethodPost, uri, payload, nil)
}

func (v view) PostWithHeaders(uri string, payload any, h map[string]string) (*http.Response, error) {
	return v.do(http.MethodPost, uri, payload, h)
}

func (v view) PostMultipart(string, map[string]io.Reader) (*http.Response, error) {
	return nil, errors.ErrUnsupported
}

func (v view) PostMultipartWithHeaders(string, map[string]io.Reader, map[string]string) (*http.Response, error) {
	return nil, errors.ErrUnsupported
}

func (v view) Patch(uri string, payload any) (*http.Response, error) {
	return v.do(http.MethodPatch, uri, payload, nil)
}

func (v view) PatchWithHeaders(uri string, payload any, h map[string]string) (*http.Response, error) {
	return v.do(http.MethodPatch, uri, payload, h)
}

func (v view) Put(uri string, payload any) (*http.Response, error) {
	return v.do(http.MethodPut, uri, payload, nil)
}

func (v view) PutWithHeaders(uri string, payload any, h map[string]string) (*http.Response, error) {
	return v.do(http.MethodPut, uri, payload, h)
}

func (v view) Delete(uri string) (*http.Response, error) {
	return v.do(http.MethodDelete, uri, nil, nil)
}

func (v view) DeleteWithHeaders(uri string, h map[string]string) (*http.Response, error) {
	return v.do(http.MethodDelete, uri, nil, h)
}

// limiter is a token bucket: rate tokens per second, burst at most.
type limiter struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newLimiter(rate float64, burst int) *limiter {
	return &limiter{rate: rate, burst: float64(burst), tokens: float64(burst)}
}

// wait takes one token, sleeping until one is available or ctx ends.
func (l *limiter) wait(ctx context.Context) error {
	l.mu.Lock()
	now := time.Now()
	if !l.last.IsZero() {
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	}
	l.last = now
	l.tokens--
	var d time.Duration
	if l.tokens < 0 {
		d = time.Duration(-l.tokens / l.rate * float64(time.Second))
	}
	l.mu.Unlock()
	if d == 0 {
		return nil
	}
	if err := sleepCtx(ctx, d); err != nil {
		// Give the token back: the request is not sent.
		l.mu.Lock()
		l.tokens++
		l.mu.Unlock()
		return err
	}
	return nil
}
