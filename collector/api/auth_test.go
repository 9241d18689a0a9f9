package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/racktrack/racktrack/collector/api"
	"github.com/racktrack/racktrack/collector/internal/fixture"
	"github.com/racktrack/racktrack/collector/store"
	"github.com/racktrack/racktrack/internal/testenv"
)

// Tokens of the test configuration.
const (
	viewerToken   = "v1ewer-T0ken-for-grafana"
	operatorToken = "0perator-T0ken-for-oncall"
	adminToken    = "adm1n-T0ken-for-deploy"
)

var testTokens = []api.Token{
	{Name: "grafana", Role: api.RoleViewer, SHA256: sha256.Sum256([]byte(viewerToken))},
	{Name: "oncall", Role: api.RoleOperator, SHA256: sha256.Sum256([]byte(operatorToken))},
	{Name: "deploy", Role: api.RoleAdmin, SHA256: sha256.Sum256([]byte(adminToken))},
}

// authStore returns a store on the shared ClickHouse holding one server,
// ams1/bmc-1.
func authStore(t *testing.T) *store.Store {
	t.Helper()
	srv := testenv.SharedClickHouse(t)
	st, err := store.Open(store.Options{Addr: srv.Addr(), Database: testenv.ClickHouseDatabase(t, srv), Username: "default"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ctx := context.Background()
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	o := fixture.Inventory("agent-1", 1, fixture.Server{Site: "ams1", Rack: "r1", Target: "bmc-1", N: 1})
	r := store.Record{Obs: o, Raw: fixture.Marshal(o)}
	if err := st.Write(ctx, store.Batch{Raw: []store.Record{r}, State: []store.StateUpdate{{Rec: r}}}); err != nil {
		t.Fatal(err)
	}
	return st
}

// lockedBuffer collects log output written by server goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// authServer serves a handler built from opts over real HTTP, with two
// test-only routes: POST /api/v1/test/change (operator) and POST
// /api/v1/test/approve (admin), which answer the caller's principal.
func authServer(t *testing.T, opts api.Options) *httptest.Server {
	t.Helper()
	h, err := api.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	whoami := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := api.PrincipalFrom(r.Context())
		if !ok {
			http.Error(w, "no principal", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"name": p.Name, "role": p.Role.String()})
	})
	h.Handle("POST /api/v1/test/change", api.RoleOperator, whoami)
	h.Handle("POST /api/v1/test/approve", api.RoleAdmin, whoami)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// authCase is one request and the response it must get.
type authCase struct {
	name          string
	method, path  string
	authorization string // "" sends no header
	status        int
	challenge     string // WWW-Authenticate
	body          string // exact body, or "" to check servers
	servers       []string
}

func runAuthCases(t *testing.T, srv *httptest.Server, cases []authCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.authorization != "" {
				req.Header.Set("Authorization", tt.authorization)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d (body %s)", resp.StatusCode, tt.status, body)
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != tt.challenge {
				t.Errorf("WWW-Authenticate %q, want %q", got, tt.challenge)
			}
			if tt.servers != nil {
				var list api.ServerList
				if err := json.Unmarshal(body, &list); err != nil {
					t.Fatalf("decode %s: %v", body, err)
				}
				got := []string{}
				for _, s := range list.Servers {
					got = append(got, s.Site+"/"+s.Target)
				}
				if !reflect.DeepEqual(got, tt.servers) || list.Count != len(tt.servers) {
					t.Errorf("servers %v (count %d), want %v", got, list.Count, tt.servers)
				}
			} else if tt.body != "" && strings.TrimSpace(string(body)) != tt.body {
				t.Errorf("body %s, want %s", body, tt.body)
			}
		})
	}
}

const (
	challenge        = `Bearer realm="racktrack"`
	invalidChallenge = `Bearer realm="racktrack", error="invalid_token"`
	missingBody      = `{"error":"missing bearer token (Authorization: Bearer <token>)"}`
	invalidBody      = `{"error":"invalid bearer token"}`
	malformedBody    = `{"error":"malformed Authorization header: want Bearer <token>"}`
)

// TestAuthTokens runs requests over real HTTP against a handler with a
// viewer, an operator and an admin token, then checks the metrics they
// produced and that no token or hash reached the log.
func TestAuthTokens(t *testing.T) {
	logs := &lockedBuffer{}
	reg := prometheus.NewRegistry()
	srv := authServer(t, api.Options{
		Store:      authStore(t),
		Tokens:     testTokens,
		Registerer: reg,
		Gatherer:   reg,
		Logger:     slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	runAuthCases(t, srv, []authCase{
		{name: "no header", method: "GET", path: "/api/v1/servers", status: 401, challenge: challenge, body: missingBody},
		{name: "wrong token", method: "GET", path: "/api/v1/servers", authorization: "Bearer not-a-token", status: 401, challenge: invalidChallenge, body: invalidBody},
		{name: "hash as token", method: "GET", path: "/api/v1/servers", authorization: "Bearer " + hex.EncodeToString(testTokens[0].SHA256[:]), status: 401, challenge: invalidChallenge, body: invalidBody},
		{name: "token prefix", method: "GET", path: "/api/v1/servers", authorization: "Bearer " + viewerToken[:len(viewerToken)-1], status: 401, challenge: invalidChallenge, body: invalidBody},
		{name: "basic scheme", method: "GET", path: "/api/v1/servers", authorization: "Basic Z3JhZmFuYTp4", status: 401, challenge: invalidChallenge, body: malformedBody},
		{name: "empty bearer", method: "GET", path: "/api/v1/servers", authorization: "Bearer ", status: 401, challenge: invalidChallenge, body: malformedBody},
		{name: "token without scheme", method: "GET", path: "/api/v1/servers", authorization: viewerToken, status: 401, challenge: invalidChallenge, body: malformedBody},
		{name: "viewer reads servers", method: "GET", path: "/api/v1/servers", authorization: "Bearer " + viewerToken, status: 200, servers: []string{"ams1/bmc-1"}},
		{name: "scheme is case-insensitive", method: "GET", path: "/api/v1/servers", authorization: "bearer " + viewerToken, status: 200, servers: []string{"ams1/bmc-1"}},
		{name: "operator reads servers", method: "GET", path: "/api/v1/servers", authorization: "Bearer " + operatorToken, status: 200, servers: []string{"ams1/bmc-1"}},
		{name: "viewer reads targets", method: "GET", path: "/api/v1/targets", authorization: "Bearer " + viewerToken, status: 200, body: `{"targets":[],"count":0}`},
		{name: "no header on targets", method: "GET", path: "/api/v1/targets", status: 401, challenge: challenge, body: missingBody},
		{name: "no header on server detail", method: "GET", path: "/api/v1/servers/ams1/bmc-1", status: 401, challenge: challenge, body: missingBody},
		{name: "viewer cannot change", method: "POST", path: "/api/v1/test/change", authorization: "Bearer " + viewerToken, status: 403,
			body: `{"error":"POST /api/v1/test/change requires role operator; \"grafana\" has role viewer"}`},
		{name: "operator changes", method: "POST", path: "/api/v1/test/change", authorization: "Bearer " + operatorToken, status: 200, body: `{"name":"oncall","role":"operator"}`},
		{name: "admin changes", method: "POST", path: "/api/v1/test/change", authorization: "Bearer " + adminToken, status: 200, body: `{"name":"deploy","role":"admin"}`},
		{name: "operator cannot approve", method: "POST", path: "/api/v1/test/approve", authorization: "Bearer " + operatorToken, status: 403,
			body: `{"error":"POST /api/v1/test/approve requires role admin; \"oncall\" has role operator"}`},
		{name: "admin approves", method: "POST", path: "/api/v1/test/approve", authorization: "Bearer " + adminToken, status: 200, body: `{"name":"deploy","role":"admin"}`},
		{name: "no header on change", method: "POST", path: "/api/v1/test/change", status: 401, challenge: challenge, body: missingBody},
		{name: "healthz is open", method: "GET", path: "/healthz", status: 200, body: `{"status":"ok"}`},
		{name: "metrics is open", method: "GET", path: "/metrics", status: 200},
	})

	t.Run("metrics", func(t *testing.T) {
		got := counters(t, reg)
		want := map[string]float64{
			`racktrack_collector_api_auth_failures_total{reason="missing"}`:                                  4,
			`racktrack_collector_api_auth_failures_total{reason="malformed"}`:                                3,
			`racktrack_collector_api_auth_failures_total{reason="invalid"}`:                                  3,
			`racktrack_collector_api_auth_failures_total{reason="not_loopback"}`:                             0,
			`racktrack_collector_api_auth_failures_total{reason="insufficient"}`:                             2,
			`racktrack_collector_api_requests_total{code="401",route="GET /api/v1/servers"}`:                 7,
			`racktrack_collector_api_requests_total{code="200",route="GET /api/v1/servers"}`:                 3,
			`racktrack_collector_api_requests_total{code="200",route="GET /api/v1/targets"}`:                 1,
			`racktrack_collector_api_requests_total{code="401",route="GET /api/v1/targets"}`:                 1,
			`racktrack_collector_api_requests_total{code="401",route="GET /api/v1/servers/{site}/{target}"}`: 1,
			`racktrack_collector_api_requests_total{code="403",route="POST /api/v1/test/change"}`:            1,
			`racktrack_collector_api_requests_total{code="200",route="POST /api/v1/test/change"}`:            2,
			`racktrack_collector_api_requests_total{code="401",route="POST /api/v1/test/change"}`:            1,
			`racktrack_collector_api_requests_total{code="403",route="POST /api/v1/test/approve"}`:           1,
			`racktrack_collector_api_requests_total{code="200",route="POST /api/v1/test/approve"}`:           1,
			`racktrack_collector_api_requests_total{code="200",route="GET /healthz"}`:                        1,
			// /metrics is counted after it has been gathered and served.
			`racktrack_collector_api_requests_total{code="200",route="GET /metrics"}`: 1,
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("counters:\n got %v\nwant %v", got, want)
		}
	})

	t.Run("no secret in logs", func(t *testing.T) {
		out := logs.String()
		for _, tok := range testTokens {
			h := hex.EncodeToString(tok.SHA256[:])
			for _, s := range []string{h, strings.ToUpper(h), h[:16]} {
				if strings.Contains(out, s) {
					t.Errorf("log contains the hash of %s's token: %s", tok.Name, out)
				}
			}
		}
		for _, s := range []string{viewerToken, operatorToken, adminToken, "not-a-token", "Z3JhZmFuYTp4"} {
			if strings.Contains(out, s) {
				t.Errorf("log contains presented credential %q:\n%s", s, out)
			}
		}
		// Who was authenticated is logged, by name.
		type line struct {
			Msg, Path, Token, Role, Reason string
		}
		var got []line
		dec := json.NewDecoder(strings.NewReader(out))
		for dec.More() {
			var l line
			if err := dec.Decode(&l); err != nil {
				t.Fatal(err)
			}
			if l.Msg == "request authenticated" && l.Path == "/api/v1/test/change" || l.Msg == "request refused" && l.Reason == "insufficient" {
				got = append(got, l)
			}
		}
		want := []line{
			{Msg: "request refused", Path: "/api/v1/test/change", Token: "grafana", Reason: "insufficient"},
			{Msg: "request authenticated", Path: "/api/v1/test/change", Token: "oncall", Role: "operator"},
			{Msg: "request authenticated", Path: "/api/v1/test/change", Token: "deploy", Role: "admin"},
			{Msg: "request refused", Path: "/api/v1/test/approve", Token: "oncall", Reason: "insufficient"},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("log lines:\n got %+v\nwant %+v", got, want)
		}
	})
}

// TestAuthAnonymousLoopback: without tokens, loopback callers may read as
// viewer (and no more); without AllowAnonymousLoopback nobody may.
func TestAuthAnonymousLoopback(t *testing.T) {
	st := authStore(t)
	t.Run("allowed", func(t *testing.T) {
		srv := authServer(t, api.Options{Store: st, AllowAnonymousLoopback: true})
		runAuthCases(t, srv, []authCase{
			{name: "servers", method: "GET", path: "/api/v1/servers", status: 200, servers: []string{"ams1/bmc-1"}},
			{name: "change needs operator", method: "POST", path: "/api/v1/test/change", status: 403,
				body: `{"error":"POST /api/v1/test/change requires role operator; \"anonymous\" has role viewer"}`},
			{name: "a token is refused", method: "GET", path: "/api/v1/servers", authorization: "Bearer " + viewerToken, status: 401, challenge: invalidChallenge, body: invalidBody},
		})
	})
	t.Run("not allowed", func(t *testing.T) {
		srv := authServer(t, api.Options{Store: st})
		runAuthCases(t, srv, []authCase{
			{name: "servers", method: "GET", path: "/api/v1/servers", status: 401, challenge: challenge, body: missingBody},
			{name: "healthz", method: "GET", path: "/healthz", status: 200, body: `{"status":"ok"}`},
		})
	})
	t.Run("tokens configured", func(t *testing.T) {
		srv := authServer(t, api.Options{Store: st, AllowAnonymousLoopback: true, Tokens: testTokens})
		runAuthCases(t, srv, []authCase{
			{name: "servers", method: "GET", path: "/api/v1/servers", status: 401, challenge: challenge, body: missingBody},
		})
	})
}

// TestAuthAnonymousNotLoopback: an anonymous request from a non-loopback
// peer is refused even when anonymous loopback access is allowed. The
// peer address cannot be chosen over a real socket here, so the request
// is served in process with its RemoteAddr set.
func TestAuthAnonymousNotLoopback(t *testing.T) {
	reg := prometheus.NewRegistry()
	h, err := api.New(api.Options{Store: authStore(t), AllowAnonymousLoopback: true, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		remote string
		status int
	}{
		{"192.0.2.10:40000", 401},
		{"[2001:db8::1]:40000", 401},
		{"127.0.0.1:40000", 200},
		{"[::1]:40000", 200},
	} {
		req := httptest.NewRequest("GET", "/api/v1/servers", nil)
		req.RemoteAddr = tt.remote
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tt.status {
			t.Errorf("%s: status %d, want %d (%s)", tt.remote, rec.Code, tt.status, rec.Body)
		}
		if tt.status == 401 {
			want := `{"error":"anonymous access is allowed only from loopback; present a bearer token"}`
			if got := strings.TrimSpace(rec.Body.String()); got != want || rec.Header().Get("WWW-Authenticate") != challenge {
				t.Errorf("%s: body %s (WWW-Authenticate %q), want %s", tt.remote, got, rec.Header().Get("WWW-Authenticate"), want)
			}
		}
	}
	if got := counters(t, reg)[`racktrack_collector_api_auth_failures_total{reason="not_loopback"}`]; got != 2 {
		t.Errorf("not_loopback failures = %v, want 2", got)
	}
}

func TestNewRejectsBadTokens(t *testing.T) {
	h1, h2 := sha256.Sum256([]byte("a")), sha256.Sum256([]byte("b"))
	tests := []struct {
		name   string
		tokens []api.Token
		want   string
	}{
		{"no name", []api.Token{{Role: api.RoleViewer, SHA256: h1}}, "api: Options.Tokens[0] has no name"},
		{"same name", []api.Token{{Name: "a", Role: api.RoleViewer, SHA256: h1}, {Name: "a", Role: api.RoleAdmin, SHA256: h2}}, `api: Options.Tokens[1]: name "a" is used twice`},
		{"no role", []api.Token{{Name: "a", SHA256: h1}}, `api: Options.Tokens[0] ("a"): Role(0) is not a role`},
		{"no hash", []api.Token{{Name: "a", Role: api.RoleViewer}}, `api: Options.Tokens[0] ("a") has no hash`},
		{"same hash", []api.Token{{Name: "a", Role: api.RoleViewer, SHA256: h1}, {Name: "b", Role: api.RoleAdmin, SHA256: h1}}, `api: Options.Tokens[1] ("b") is the same token as another`},
	}
	st := new(store.Store) // New does not use it
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := api.New(api.Options{Store: st, Tokens: tt.tokens})
			if err == nil || err.Error() != tt.want {
				t.Errorf("New: %v, want %s", err, tt.want)
			}
		})
	}
}

func TestParseRole(t *testing.T) {
	for _, tt := range []struct {
		s    string
		want api.Role
	}{
		{"viewer", api.RoleViewer}, {"operator", api.RoleOperator}, {"admin", api.RoleAdmin},
	} {
		got, err := api.ParseRole(tt.s)
		if err != nil || got != tt.want || got.String() != tt.s {
			t.Errorf("ParseRole(%q) = %v, %v; want %v", tt.s, got, err, tt.want)
		}
	}
	if !(api.RoleViewer < api.RoleOperator && api.RoleOperator < api.RoleAdmin) {
		t.Error("roles are not ordered viewer < operator < admin")
	}
	for _, s := range []string{"", "Viewer", "root", "reader"} {
		if _, err := api.ParseRole(s); !errors.Is(err, api.ErrUnknownRole) {
			t.Errorf("ParseRole(%q): %v, want ErrUnknownRole", s, err)
		}
	}
}

// counters returns every counter in reg as `name{labels}` → value.
func counters(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetType() != dto.MetricType_COUNTER {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			out[mf.GetName()+"{"+strings.Join(labels, ",")+"}"] = m.GetCounter().GetValue()
		}
	}
	return out
}

// BenchmarkAuthenticate measures the middleware alone: a viewer token
// checked against 50 configured tokens.
func BenchmarkAuthenticate(b *testing.B) {
	tokens := make([]api.Token, 50)
	for i := range tokens {
		tokens[i] = api.Token{Name: "t" + strings.Repeat("x", i), Role: api.RoleViewer, SHA256: sha256.Sum256([]byte{byte(i)})}
	}
	tokens[49].SHA256 = sha256.Sum256([]byte(viewerToken))
	h, err := api.New(api.Options{Store: new(store.Store), Tokens: tokens})
	if err != nil {
		b.Fatal(err)
	}
	ok := h.Require(api.RoleViewer, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	req := httptest.NewRequest("GET", "/api/v1/servers", nil)
	req.Header.Set("Authorization", "Bearer "+viewerToken)
	rec := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		ok.ServeHTTP(rec, req)
	}
	if rec.Code != http.StatusNoContent {
		b.Fatalf("status %d", rec.Code)
	}
}
