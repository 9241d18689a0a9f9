package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
)

// Role is what a caller may do. Roles are ordered: a stronger role may do
// everything a weaker one may.
type Role uint8

// Roles, weakest first. The zero Role is no role at all.
const (
	// RoleViewer reads the inventory API.
	RoleViewer Role = iota + 1
	// RoleOperator submits change requests.
	RoleOperator
	// RoleAdmin approves change requests.
	RoleAdmin
)

var roleNames = [...]string{RoleViewer: "viewer", RoleOperator: "operator", RoleAdmin: "admin"}

// String returns the role's configuration name (viewer, operator, admin).
func (r Role) String() string {
	if r >= RoleViewer && r <= RoleAdmin {
		return roleNames[r]
	}
	return fmt.Sprintf("Role(%d)", uint8(r))
}

// ErrUnknownRole is returned by ParseRole for a name that is not a role.
var ErrUnknownRole = errors.New("unknown role")

// ParseRole returns the role named viewer, operator or admin.
func ParseRole(s string) (Role, error) {
	for r := RoleViewer; r <= RoleAdmin; r++ {
		if roleNames[r] == s {
			return r, nil
		}
	}
	return 0, fmt.Errorf("%w %q (viewer, operator, admin)", ErrUnknownRole, s)
}

// Token is one accepted bearer token. The handler keeps only its hash.
type Token struct {
	// Name says who uses the token; it is logged and used as a metric
	// label. Required and unique.
	Name string
	// Role is what the token may do.
	Role Role
	// SHA256 is the SHA-256 of the token.
	SHA256 [sha256.Size]byte
}

// Principal is the authenticated caller of a request.
type Principal struct {
	// Name is the token's name, or "anonymous" for an anonymous loopback
	// caller.
	Name string
	// Role is what the caller may do.
	Role Role
}

// AnonymousName is the Principal name of an anonymous loopback caller.
const AnonymousName = "anonymous"

type principalKey struct{}

// PrincipalFrom returns the caller that a handler registered with a role
// was authenticated as.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Reasons for refusing a request, the values of the reason label of
// racktrack_collector_api_auth_failures_total.
const (
	reasonMissing      = "missing"      // no Authorization header
	reasonMalformed    = "malformed"    // not "Bearer <token>"
	reasonInvalid      = "invalid"      // no configured token matches
	reasonNotLoopback  = "not_loopback" // anonymous access from a non-loopback peer
	reasonInsufficient = "insufficient" // the token's role is too weak
)

var authReasons = []string{reasonMissing, reasonMalformed, reasonInvalid, reasonNotLoopback, reasonInsufficient}

// authError is why a request was refused; msg is the JSON error.
type authError struct {
	reason string
	msg    string
}

// bearer returns the token of an "Authorization: Bearer <token>" header
// value. The scheme is case-insensitive (RFC 7235); the token is not
// empty and contains no space.
func bearer(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimLeft(token, " ")
	if token == "" || strings.ContainsAny(token, " \t") {
		return "", false
	}
	return token, true
}

// authenticate returns who made r. It compares the SHA-256 of the
// presented token with every configured hash in constant time, so the
// time taken says nothing about which token, or how much of it, matched.
func (h *Handler) authenticate(r *http.Request) (Principal, *authError) {
	header := r.Header.Get("Authorization")
	if header == "" {
		if len(h.opts.Tokens) == 0 && h.opts.AllowAnonymousLoopback {
			if !loopbackPeer(r.RemoteAddr) {
				return Principal{}, &authError{reasonNotLoopback, "anonymous access is allowed only from loopback; present a bearer token"}
			}
			return Principal{Name: AnonymousName, Role: RoleViewer}, nil
		}
		return Principal{}, &authError{reasonMissing, "missing bearer token (Authorization: Bearer <token>)"}
	}
	token, ok := bearer(header)
	if !ok {
		return Principal{}, &authError{reasonMalformed, "malformed Authorization header: want Bearer <token>"}
	}
	sum := sha256.Sum256([]byte(token))
	match := -1
	for i := range h.opts.Tokens {
		if subtle.ConstantTimeCompare(sum[:], h.opts.Tokens[i].SHA256[:]) == 1 {
			match = i
		}
	}
	if match < 0 {
		return Principal{}, &authError{reasonInvalid, "invalid bearer token"}
	}
	t := h.opts.Tokens[match]
	return Principal{Name: t.Name, Role: t.Role}, nil
}

// loopbackPeer reports whether a request's RemoteAddr is a loopback
// address.
func loopbackPeer(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Require wraps next so that it runs only for callers with at least role
// min: 401 (with WWW-Authenticate: Bearer) without valid credentials, 403
// when the caller's role is weaker. next finds the caller with
// PrincipalFrom.
func (h *Handler) Require(min Role, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, aerr := h.authenticate(r)
		if aerr == nil && p.Role < min {
			aerr = &authError{reasonInsufficient, fmt.Sprintf("%s requires role %s; %q has role %s", r.Pattern, min, p.Name, p.Role)}
		}
		if aerr != nil {
			h.authFailures.WithLabelValues(aerr.reason).Inc()
			// Only the reason: never the header, the token or its hash.
			h.log.Debug("request refused", "path", r.URL.Path, "reason", aerr.reason, "token", p.Name, "remote", r.RemoteAddr)
			status := http.StatusForbidden
			if aerr.reason != reasonInsufficient {
				status = http.StatusUnauthorized
				challenge := `Bearer realm="racktrack"`
				if aerr.reason == reasonInvalid || aerr.reason == reasonMalformed {
					challenge += `, error="invalid_token"`
				}
				w.Header().Set("WWW-Authenticate", challenge)
			}
			writeError(w, status, aerr.msg)
			return
		}
		h.log.Debug("request authenticated", "path", r.URL.Path, "token", p.Name, "role", p.Role.String())
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

// Handle registers handler for pattern (as http.ServeMux patterns),
// reachable only by callers with at least role min. It is how endpoints
// beyond the inventory API (change requests: operator, approvals: admin)
// are mounted.
func (h *Handler) Handle(pattern string, min Role, handler http.Handler) {
	h.mux.Handle(pattern, h.Require(min, handler))
}

// checkTokens validates Options.Tokens.
func checkTokens(tokens []Token) error {
	names := map[string]bool{}
	hashes := map[[sha256.Size]byte]bool{}
	for i, t := range tokens {
		switch {
		case t.Name == "":
			return fmt.Errorf("api: Options.Tokens[%d] has no name", i)
		case names[t.Name]:
			return fmt.Errorf("api: Options.Tokens[%d]: name %q is used twice", i, t.Name)
		case t.Role < RoleViewer || t.Role > RoleAdmin:
			return fmt.Errorf("api: Options.Tokens[%d] (%q): %v is not a role", i, t.Name, t.Role)
		case t.SHA256 == [sha256.Size]byte{}:
			return fmt.Errorf("api: Options.Tokens[%d] (%q) has no hash", i, t.Name)
		case hashes[t.SHA256]:
			return fmt.Errorf("api: Options.Tokens[%d] (%q) is the same token as another", i, t.Name)
		}
		names[t.Name], hashes[t.SHA256] = true, true
	}
	return nil
}
