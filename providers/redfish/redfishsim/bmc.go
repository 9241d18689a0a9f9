package redfishsim

import (
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// BMC is one simulated BMC. Its exported fields are set at Start and never
// change; its methods are safe for concurrent use.
type BMC struct {
	// Name is the server's host name (or "mockup-N").
	Name string
	// IP is the address the BMC listens on.
	IP netip.Addr
	// Addr is "ip:port".
	Addr string
	// URL is "https://ip:port".
	URL string

	sim                *Sim
	username, password string
	srv                *http.Server
	cert               atomic.Pointer[tls.Certificate]
	foreignOnce        sync.Once
	foreign            *tls.Certificate

	connMu sync.Mutex
	conns  map[net.Conn]struct{}

	mu          sync.Mutex
	server      Server
	tree        tree
	mockup      tree // set for BMCs serving a mockup directory
	sessions    map[string]*session
	sessionSeq  int
	faults      Faults
	recent      []string
	recentStart int

	requests        atomic.Int64
	sessionsCreated atomic.Int64
	sessionsDeleted atomic.Int64
	inFlight        atomic.Int64
	maxInFlight     atomic.Int64
}

type session struct {
	id, token, user string
}

// Stats are counters of what a BMC served since Start.
type Stats struct {
	// Requests counts HTTP requests of every kind.
	Requests int64
	// SessionsCreated counts successful logins; SessionsDeleted logouts.
	SessionsCreated int64
	SessionsDeleted int64
	// ActiveSessions is the number of sessions open now.
	ActiveSessions int
	// MaxInFlight is the largest number of requests served at once.
	MaxInFlight int64
}

// Stats returns the BMC's counters.
func (b *BMC) Stats() Stats {
	b.mu.Lock()
	active := len(b.sessions)
	b.mu.Unlock()
	return Stats{
		Requests:        b.requests.Load(),
		SessionsCreated: b.sessionsCreated.Load(),
		SessionsDeleted: b.sessionsDeleted.Load(),
		ActiveSessions:  active,
		MaxInFlight:     b.maxInFlight.Load(),
	}
}

const recentSize = 512

// RecentRequests returns up to the last 512 requests as "METHOD /path?query",
// oldest first.
func (b *BMC) RecentRequests() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, 0, len(b.recent))
	out = append(out, b.recent[b.recentStart:]...)
	return append(out, b.recent[:b.recentStart]...)
}

func (b *BMC) record(line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.recent) < recentSize {
		b.recent = append(b.recent, line)
		return
	}
	b.recent[b.recentStart] = line
	b.recentStart = (b.recentStart + 1) % recentSize
}

// Server returns a copy of the server state the BMC serves now.
func (b *BMC) Server() Server {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.server.Clone()
}

// Update changes the simulated server (a DIMM swapped, firmware upgraded,
// power state changed); the next request sees the new state. Update has no
// effect on a BMC serving a mockup.
func (b *BMC) Update(f func(*Server)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.mockup != nil {
		return
	}
	f(&b.server)
	b.tree = buildTree(&b.server, b.IP.String())
}

// ExpireSessions drops every open session, as a BMC does when sessions
// time out or the BMC restarts; clients get 401 on their next request.
func (b *BMC) ExpireSessions() {
	b.mu.Lock()
	defer b.mu.Unlock()
	clear(b.sessions)
}

// OpenSession creates a session as if another client had logged in, so
// tests can fill the BMC's session table. It returns the session token.
func (b *BMC) OpenSession() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.newSessionLocked(b.username).token
}

func (b *BMC) newSessionLocked(user string) *session {
	b.sessionSeq++
	tok := make([]byte, 16)
	_, _ = rand.Read(tok)
	s := &session{id: fmt.Sprintf("%d", b.sessionSeq), token: hex.EncodeToString(tok), user: user}
	b.sessions[s.token] = s
	b.sessionsCreated.Add(1)
	return s
}

func (b *BMC) spec() profileSpec { return specFor(b.server.Profile) }

func (b *BMC) tlsConfig() *tls.Config {
	base := &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return b.cert.Load(), nil
		},
	}
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		b.mu.Lock()
		foreign := b.faults.ForeignCertificate
		b.mu.Unlock()
		if !foreign {
			return nil, nil
		}
		cert, err := b.foreignCert()
		if err != nil {
			return nil, err
		}
		// A factory-reset BMC has new session ticket keys too: no client
		// can resume a session made with the old certificate.
		return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*cert}, SessionTicketsDisabled: true}, nil
	}
	return base
}

// foreignCert is a certificate for the same IP from a CA nobody trusts, as
// after a BMC factory reset regenerated its certificate.
func (b *BMC) foreignCert() (*tls.Certificate, error) {
	var err error
	b.foreignOnce.Do(func() {
		var ca *authority
		if ca, err = newAuthority("unknown CA"); err == nil {
			b.foreign, err = ca.leaf(b.IP, b.Name)
		}
	})
	if err != nil {
		return nil, err
	}
	return b.foreign, nil
}

const sessionsPath = rootPath + "/SessionService/Sessions"

// lookup finds a resource in the tree, including the dynamic session
// resources. Call with b.mu held.
func (b *BMC) lookupLocked(p string) (map[string]any, bool) {
	if p == sessionsPath {
		var ids []string
		for _, s := range b.sessions {
			ids = append(ids, s.id)
		}
		slices.Sort(ids)
		members := make([]string, len(ids))
		for i, id := range ids {
			members[i] = sessionsPath + "/" + id
		}
		return map[string]any{
			"@odata.id": sessionsPath, "@odata.type": "#SessionCollection.SessionCollection",
			"Name": "Session Collection", "Members": refs(members...), "Members@odata.count": len(members),
		}, true
	}
	if id, ok := strings.CutPrefix(p, sessionsPath+"/"); ok {
		for _, s := range b.sessions {
			if s.id == id {
				return sessionBody(s), true
			}
		}
		return nil, false
	}
	t := b.tree
	if b.mockup != nil {
		t = b.mockup
	}
	r, ok := t[p]
	return r, ok
}

func sessionBody(s *session) map[string]any {
	return map[string]any{
		"@odata.id": sessionsPath + "/" + s.id, "@odata.type": "#Session.v1_5_0.Session",
		"Id": s.id, "Name": "User Session", "UserName": s.user,
	}
}

// cleanPath drops a trailing slash: /redfish/v1/ and /redfish/v1 are one
// resource.
func cleanPath(p string) string {
	if len(p) > 1 {
		p = strings.TrimRight(p, "/")
	}
	return p
}

// ServeHTTP implements the Redfish service.
func (b *BMC) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !b.sim.enter() {
		writeError(w, http.StatusServiceUnavailable, "Base.1.8.ServiceShuttingDown", "The simulator is shutting down.")
		return
	}
	defer b.sim.leave()
	b.requests.Add(1)
	n := b.inFlight.Add(1)
	defer b.inFlight.Add(-1)
	for {
		m := b.maxInFlight.Load()
		if n <= m || b.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	line := r.Method + " " + r.URL.RequestURI()
	b.record(line)
	b.sim.logger.Debug("redfishsim: request", "target", b.Addr, "request", line)

	b.mu.Lock()
	f := b.faults
	b.mu.Unlock()
	p := cleanPath(r.URL.Path)
	if f.Latency > 0 && strings.HasPrefix(p, f.Path) {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			panic(http.ErrAbortHandler) // drop the connection, send nothing
		case <-b.sim.done:
			t.Stop()
			panic(http.ErrAbortHandler)
		}
	}
	if code, ok := b.takeStatusFault(p); ok {
		writeError(w, code, "Base.1.8.GeneralError", fmt.Sprintf("injected fault: %d %s", code, http.StatusText(code)))
		return
	}
	w.Header().Set("OData-Version", "4.0")

	if r.Method == http.MethodPost && p == sessionsPath {
		b.login(w, r)
		return
	}
	public := r.Method == http.MethodGet && (p == "/redfish" || p == rootPath || p == rootPath+"/odata" || p == rootPath+"/$metadata")
	if !public {
		sess, ok := b.authenticate(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="Redfish"`)
			writeError(w, http.StatusUnauthorized, "Base.1.8.NoValidSession", "There is no valid session established with the implementation.")
			return
		}
		_ = sess
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		b.get(w, r, p, f)
	case http.MethodDelete:
		b.logout(w, p)
	case http.MethodPatch:
		b.patch(w, r, p)
	case http.MethodPost:
		b.post(w, r, p)
	default:
		writeError(w, http.StatusMethodNotAllowed, "Base.1.8.OperationNotAllowed", "The method is not allowed on this resource.")
	}
}

// takeStatusFault reports whether an injected status applies to p, and
// counts it down.
func (b *BMC) takeStatusFault(p string) (int, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f := &b.faults
	if f.Status == 0 || !strings.HasPrefix(p, f.Path) {
		return 0, false
	}
	code := f.Status
	if f.StatusTimes > 0 {
		f.StatusTimes--
		if f.StatusTimes == 0 {
			f.Status = 0
		}
	}
	return code, true
}

func (b *BMC) authenticate(r *http.Request) (*session, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if tok := r.Header.Get("X-Auth-Token"); tok != "" {
		s, ok := b.sessions[tok]
		return s, ok
	}
	if u, p, ok := r.BasicAuth(); ok && b.credentialsOK(u, p) {
		return &session{user: u}, true
	}
	return nil, false
}

func (b *BMC) credentialsOK(user, pass string) bool {
	uOK := subtle.ConstantTimeCompare([]byte(user), []byte(b.username)) == 1
	pOK := subtle.ConstantTimeCompare([]byte(pass), []byte(b.password)) == 1
	return uOK && pOK
}

func (b *BMC) login(w http.ResponseWriter, r *http.Request) {
	var body struct {
		UserName string
		Password string
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "Base.1.8.MalformedJSON", "The request body submitted was malformed JSON.")
		return
	}
	b.mu.Lock()
	if b.faults.NoSessionService {
		b.mu.Unlock()
		writeError(w, http.StatusMethodNotAllowed, "Base.1.8.OperationNotAllowed", "Sessions are not supported; use basic authentication.")
		return
	}
	if !b.credentialsOK(body.UserName, body.Password) {
		b.mu.Unlock()
		writeError(w, http.StatusUnauthorized, "Base.1.8.ResourceAtUriUnauthorized", "While accessing the resource, an authorization error occurred.")
		return
	}
	limit := b.spec().maxSessions
	if b.faults.MaxSessions > 0 {
		limit = b.faults.MaxSessions
	}
	if limit > 0 && len(b.sessions) >= limit {
		b.mu.Unlock()
		writeError(w, http.StatusServiceUnavailable, "Base.1.8.SessionLimitExceeded",
			"The session establishment failed due to the number of simultaneous sessions exceeding the limit of the implementation.")
		return
	}
	s := b.newSessionLocked(body.UserName)
	absolute := b.spec().absoluteSessionLocation
	b.mu.Unlock()
	loc := sessionsPath + "/" + s.id
	if absolute {
		loc = "https://" + r.Host + loc
	}
	w.Header().Set("Location", loc)
	w.Header().Set("X-Auth-Token", s.token)
	writeJSON(w, http.StatusCreated, sessionBody(s), false)
}

func (b *BMC) logout(w http.ResponseWriter, p string) {
	id, ok := strings.CutPrefix(p, sessionsPath+"/")
	if !ok {
		writeError(w, http.StatusMethodNotAllowed, "Base.1.8.OperationNotAllowed", "The method is not allowed on this resource.")
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for tok, s := range b.sessions {
		if s.id == id {
			delete(b.sessions, tok)
			b.sessionsDeleted.Add(1)
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	writeError(w, http.StatusNotFound, "Base.1.8.ResourceMissingAtURI", "The resource at the URI "+p+" was not found.")
}

func (b *BMC) get(w http.ResponseWriter, r *http.Request, p string, f Faults) {
	q := r.URL.Query()
	for k := range q {
		if k != "$expand" {
			writeError(w, http.StatusNotImplemented, "Base.1.8.QueryNotSupported", "Querying with "+k+" is not supported by the implementation.")
			return
		}
	}
	if q.Has("$expand") && f.RefuseExpand && strings.HasPrefix(p, f.Path) {
		writeError(w, http.StatusNotImplemented, "Base.1.8.QueryNotSupported", "Querying with $expand is not supported by the implementation.")
		return
	}
	if q.Has("$expand") && b.mockup == nil && b.spec().brokenExpand {
		writeError(w, http.StatusInternalServerError, "Base.1.8.InternalError", "The request failed due to an internal service error.")
		return
	}
	b.mu.Lock()
	res, ok := b.lookupLocked(p)
	var body any = res
	if ok && q.Has("$expand") {
		eq, err := parseExpand(q.Get("$expand"))
		if err == nil {
			err = b.expandSupportLocked().allows(eq)
		}
		if err != nil {
			b.mu.Unlock()
			code := http.StatusNotImplemented
			if err == errExpandNoLevels {
				code = http.StatusBadRequest
			}
			writeError(w, code, "Base.1.8.QueryNotSupported", "$expand="+q.Get("$expand")+": "+err.Error())
			return
		}
		body = expand(res, eq, eq.levels, false, b.lookupLocked)
	}
	b.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "Base.1.8.ResourceMissingAtURI", "The resource at the URI "+p+" was not found.")
		return
	}
	underFault := strings.HasPrefix(p, f.Path)
	if underFault && len(f.DropFields) > 0 {
		body = dropFields(body, f.DropFields)
	}
	writeJSON(w, http.StatusOK, body, underFault && f.MalformedJSON)
}

func (b *BMC) expandSupportLocked() expandSupport {
	if b.mockup != nil {
		return mockupExpand(b.mockup)
	}
	return b.spec().expand
}

// dropFields returns a copy of v without the named keys, at every depth.
func dropFields(v any, names []string) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, c := range x {
			if !slices.Contains(names, k) {
				out[k] = dropFields(c, names)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, c := range x {
			out[i] = dropFields(c, names)
		}
		return out
	}
	return v
}

func writeJSON(w http.ResponseWriter, code int, body any, malformed bool) {
	buf, err := json.Marshal(body)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "Base.1.8.InternalError", err.Error())
		return
	}
	if malformed {
		// Cut the document in half, as a BMC whose web server dies mid-response.
		buf = buf[:len(buf)/2]
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf)
}

func writeError(w http.ResponseWriter, code int, messageID, msg string) {
	body := map[string]any{"error": map[string]any{
		"code":    messageID,
		"message": msg,
		"@Message.ExtendedInfo": []any{map[string]any{
			"@odata.type": "#Message.v1_1_1.Message", "MessageId": messageID, "Message": msg, "Severity": "Critical",
		}},
	}}
	writeJSON(w, code, body, false)
}
