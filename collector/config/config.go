// Package config loads and validates the collector's YAML configuration.
//
// Decoding is strict (unknown fields are errors); defaults are applied while
// decoding; one validation pass follows. Every error names the file, the
// field (as a dotted YAML path) and the reason.
package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/racktrack/racktrack/internal/secret"
)

// Defaults.
const (
	DefaultListen       = "127.0.0.1:8080"
	DefaultTopic        = "racktrack.observations"
	DefaultDLQTopic     = "racktrack.observations.dlq"
	DefaultEventsTopic  = "racktrack.events"
	DefaultGroupID      = "racktrack-collector"
	DefaultDatabase     = "racktrack"
	DefaultUsername     = "default"
	DefaultMaxRows      = 5000
	DefaultMaxWait      = 500 * time.Millisecond
	DefaultDialTimeout  = 5 * time.Second
	DefaultQueryTimeout = 30 * time.Second
	DefaultPollInterval = 5 * time.Minute
	DefaultStaleAfter   = 3
	maxBatchRows        = 1_000_000
	maxBatchWait        = time.Minute
)

// Config is the collector's configuration.
type Config struct {
	// Listen is the HTTP API address (host:port; port 0 picks a free one).
	Listen     string     `yaml:"listen"`
	Kafka      Kafka      `yaml:"kafka"`
	ClickHouse ClickHouse `yaml:"clickhouse"`
	Batch      Batch      `yaml:"batch"`
	Inventory  Inventory  `yaml:"inventory"`
	Topology   Topology   `yaml:"topology"`
	Auth       Auth       `yaml:"auth"`
}

// Auth says who may use the HTTP API. Tokens are bearer tokens
// (Authorization: Bearer <token>); the configuration holds only their
// SHA-256, or a reference to a file or variable holding the token, which
// Load reads and hashes. With no tokens, anonymous requests are accepted
// only from loopback peers, and only when Listen is a loopback address
// (and AllowAnonymousLoopback is true); a non-loopback Listen without
// tokens is a configuration error.
type Auth struct {
	// Tokens are the accepted bearer tokens. Once one is configured,
	// every /api/v1 request needs a token, loopback or not.
	Tokens []Token `yaml:"tokens"`
	// AllowAnonymousLoopback lets loopback peers use the API without a
	// token (as viewer) while no tokens are configured (default true).
	AllowAnonymousLoopback bool `yaml:"allow_anonymous_loopback"`
}

// Roles a token may have, weakest first.
const (
	RoleViewer   = "viewer"   // reads the API
	RoleOperator = "operator" // and submits change requests
	RoleAdmin    = "admin"    // and approves them
)

// Roles lists the known roles, weakest first.
var Roles = []string{RoleViewer, RoleOperator, RoleAdmin}

// Token is one accepted bearer token. Set exactly one of TokenSHA256 and
// Token.
type Token struct {
	// Name says who uses the token; it appears in logs and metrics (the
	// token never does). Letters, digits, '.', '_' and '-'.
	Name string `yaml:"name"`
	// Role is viewer, operator or admin.
	Role string `yaml:"role"`
	// TokenSHA256 is the hex SHA-256 of the token
	// (printf %s "$TOKEN" | sha256sum).
	TokenSHA256 string `yaml:"token_sha256,omitempty"`
	// Token reads the token itself from a file (first line) or an
	// environment variable; Load hashes it and keeps only the hash.
	Token *secret.Ref `yaml:"token,omitempty"`

	// SHA256 is the token's hash, set by Load from TokenSHA256 or Token.
	SHA256 [sha256.Size]byte `yaml:"-"`
}

// UnmarshalYAML applies defaults, then decodes. It uses the function form
// so that the decoder's KnownFields setting reaches nested fields.
func (a *Auth) UnmarshalYAML(unmarshal func(any) error) error {
	*a = Default().Auth
	type plain Auth
	return unmarshal((*plain)(a))
}

// IsLoopback reports whether the listen address host:port binds only
// loopback interfaces: host localhost or a loopback IP. An empty host
// (all interfaces) and other names are not loopback.
func IsLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Kafka says where observations come from and where dead letters and
// events go.
type Kafka struct {
	// Brokers are host:port seed brokers; at least one is required.
	Brokers []string `yaml:"brokers"`
	// Topic carries racktrackv1.Observation messages.
	Topic string `yaml:"topic"`
	// DLQTopic receives messages that cannot be decoded or fail validation.
	DLQTopic string `yaml:"dlq_topic"`
	// EventsTopic receives racktrackv1.Event messages for inventory changes.
	EventsTopic string `yaml:"events_topic"`
	// GroupID is the consumer group; collectors in one group share
	// partitions.
	GroupID string `yaml:"group_id"`
}

// ClickHouse says where the inventory is stored. Only the native protocol
// is used.
type ClickHouse struct {
	// Addr is the native-protocol host:port.
	Addr     string `yaml:"addr"`
	Database string `yaml:"database"`
	Username string `yaml:"username"`
	// Password is optional; it comes from a file or an environment variable.
	Password *secret.Ref `yaml:"password,omitempty"`
	// DialTimeout bounds connecting (default 5s).
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// QueryTimeout bounds every statement the collector runs (default 30s).
	QueryTimeout time.Duration `yaml:"query_timeout"`
	// Compression of the native protocol: lz4 (default) or none (for a
	// server on the same host).
	Compression string `yaml:"compression"`

	// PasswordSecret is Password resolved by Load.
	PasswordSecret secret.Secret `yaml:"-"`
}

// Batch bounds how much ingest buffers before writing to ClickHouse: a
// batch is written when it has MaxRows messages or MaxWait has passed
// since its first message, whichever comes first.
type Batch struct {
	MaxRows int           `yaml:"max_rows"`
	MaxWait time.Duration `yaml:"max_wait"`
}

// Inventory tunes how current state is judged.
type Inventory struct {
	// PollInterval is the agents' inventory poll interval (default 5m).
	PollInterval time.Duration `yaml:"poll_interval"`
	// StaleAfter is how many poll intervals may pass before a fact is
	// marked stale (default 3).
	StaleAfter int `yaml:"stale_after"`
}

// Topology says how the cable map decides between evidence.
type Topology struct {
	// Precedence orders evidence kinds, strongest first: lldp_switch
	// (a switch hears the server over LLDP), lldp_host (an agent host
	// hears the switch), fdb (a switch learned the server's MAC). Kinds
	// left out are shown but never decide (default all three, in that
	// order).
	Precedence []string `yaml:"precedence"`
	// FDBMaxMACsPerPort: an FDB entry counts as a direct link only on a
	// port with at most this many learned MACs (default 4).
	FDBMaxMACsPerPort int `yaml:"fdb_max_macs_per_port"`
}

// UnmarshalYAML applies defaults, then decodes. It uses the function form
// so that the decoder's KnownFields setting reaches nested fields.
func (t *Topology) UnmarshalYAML(unmarshal func(any) error) error {
	*t = Default().Topology
	type plain Topology
	return unmarshal((*plain)(t))
}

// StaleAge is the age past which a fact is stale.
func (i Inventory) StaleAge() time.Duration { return i.PollInterval * time.Duration(i.StaleAfter) }

// UnmarshalYAML applies defaults, then decodes. It uses the function form
// so that the decoder's KnownFields setting reaches nested fields.
func (c *Config) UnmarshalYAML(unmarshal func(any) error) error {
	*c = Default()
	type plain Config
	return unmarshal((*plain)(c))
}

// UnmarshalYAML applies defaults, then decodes. It uses the function form
// so that the decoder's KnownFields setting reaches nested fields.
func (k *Kafka) UnmarshalYAML(unmarshal func(any) error) error {
	*k = Default().Kafka
	type plain Kafka
	return unmarshal((*plain)(k))
}

// UnmarshalYAML applies defaults, then decodes. It uses the function form
// so that the decoder's KnownFields setting reaches nested fields.
func (c *ClickHouse) UnmarshalYAML(unmarshal func(any) error) error {
	*c = Default().ClickHouse
	type plain ClickHouse
	return unmarshal((*plain)(c))
}

// UnmarshalYAML applies defaults, then decodes. It uses the function form
// so that the decoder's KnownFields setting reaches nested fields.
func (b *Batch) UnmarshalYAML(unmarshal func(any) error) error {
	*b = Default().Batch
	type plain Batch
	return unmarshal((*plain)(b))
}

// UnmarshalYAML applies defaults, then decodes. It uses the function form
// so that the decoder's KnownFields setting reaches nested fields.
func (i *Inventory) UnmarshalYAML(unmarshal func(any) error) error {
	*i = Default().Inventory
	type plain Inventory
	return unmarshal((*plain)(i))
}

// Default returns the configuration with every default applied and no
// brokers or ClickHouse address.
func Default() Config {
	return Config{
		Listen: DefaultListen,
		Kafka: Kafka{
			Topic:       DefaultTopic,
			DLQTopic:    DefaultDLQTopic,
			EventsTopic: DefaultEventsTopic,
			GroupID:     DefaultGroupID,
		},
		ClickHouse: ClickHouse{
			Database:     DefaultDatabase,
			Username:     DefaultUsername,
			DialTimeout:  DefaultDialTimeout,
			QueryTimeout: DefaultQueryTimeout,
			Compression:  "lz4",
		},
		Batch:     Batch{MaxRows: DefaultMaxRows, MaxWait: DefaultMaxWait},
		Inventory: Inventory{PollInterval: DefaultPollInterval, StaleAfter: DefaultStaleAfter},
		Topology:  Topology{Precedence: []string{"lldp_switch", "lldp_host", "fdb"}, FDBMaxMACsPerPort: 4},
		Auth:      Auth{AllowAnonymousLoopback: true},
	}
}

// Error is one configuration problem.
type Error struct {
	// File is the configuration file's path.
	File string
	// Line is the line in File, or 0 when unknown.
	Line int
	// Field is the dotted YAML path of the field, or "" when the problem
	// is not tied to one field (a syntax error).
	Field string
	// Reason says what is wrong.
	Reason string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(e.Line))
	}
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}

// Load reads, decodes, validates the file at path, resolves the
// ClickHouse password and reads and hashes the API tokens. The error is a join of *Error values.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, &Error{File: path, Reason: err.Error()}
	}
	return Parse(path, data)
}

// Parse is Load for bytes already read; name is used in errors.
func Parse(name string, data []byte) (Config, error) {
	cfg := Default()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return Config{}, &Error{File: name, Reason: "file is empty"}
		}
		return Config{}, decodeError(name, err)
	}
	if err := cfg.validate(name); err != nil {
		return Config{}, err
	}
	if cfg.ClickHouse.Password != nil {
		s, err := cfg.ClickHouse.Password.Resolve()
		if err != nil {
			return Config{}, &Error{File: name, Field: "clickhouse.password", Reason: err.Error()}
		}
		cfg.ClickHouse.PasswordSecret = s
	}
	if err := cfg.Auth.hashTokens(name); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// hashTokens sets every token's SHA256; a token read from a file or
// variable is hashed and dropped at once.
func (a *Auth) hashTokens(name string) error {
	var errs []error
	for i := range a.Tokens {
		t := &a.Tokens[i]
		if t.Token == nil {
			// validate checked it is 64 hex digits.
			_, _ = hex.Decode(t.SHA256[:], []byte(t.TokenSHA256))
			continue
		}
		s, err := t.Token.Resolve()
		if err != nil {
			errs = append(errs, &Error{File: name, Field: fmt.Sprintf("auth.tokens[%d].token", i), Reason: err.Error()})
			continue
		}
		t.SHA256 = sha256.Sum256([]byte(s.Reveal()))
	}
	seen := map[[sha256.Size]byte]string{}
	for i, t := range a.Tokens {
		if t.SHA256 == ([sha256.Size]byte{}) {
			continue // could not be read
		}
		if other, dup := seen[t.SHA256]; dup {
			errs = append(errs, &Error{File: name, Field: fmt.Sprintf("auth.tokens[%d]", i),
				Reason: fmt.Sprintf("token %q is the same token as %q", t.Name, other)})
		}
		seen[t.SHA256] = t.Name
	}
	return errors.Join(errs...)
}

// decodeError turns a yaml error into *Error values, one per problem.
func decodeError(name string, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return &Error{File: name, Reason: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	errs := make([]error, 0, len(te.Errors))
	for _, msg := range te.Errors {
		e := &Error{File: name, Reason: msg}
		// yaml.v3 formats each as "line N: reason".
		if rest, ok := strings.CutPrefix(msg, "line "); ok {
			if num, reason, ok := strings.Cut(rest, ": "); ok {
				if n, err := strconv.Atoi(num); err == nil {
					e.Line, e.Reason = n, reason
				}
			}
		}
		// and an unknown field as "field NAME not found in type T".
		if rest, ok := strings.CutPrefix(e.Reason, "field "); ok {
			if name, _, ok := strings.Cut(rest, " not found in type "); ok {
				e.Field, e.Reason = name, "unknown field"
			}
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

// validate checks every field and returns all problems at once.
func (c *Config) validate(name string) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &Error{File: name, Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	listenErr := checkHostPort(c.Listen, false)
	if listenErr != nil {
		bad("listen", "%v", listenErr)
	}
	if len(c.Kafka.Brokers) == 0 {
		bad("kafka.brokers", "at least one broker is required")
	}
	for i, b := range c.Kafka.Brokers {
		if err := checkHostPort(b, true); err != nil {
			bad(fmt.Sprintf("kafka.brokers[%d]", i), "%v", err)
		}
	}
	topics := map[string]string{}
	for _, t := range []struct{ field, v string }{
		{"kafka.topic", c.Kafka.Topic},
		{"kafka.dlq_topic", c.Kafka.DLQTopic},
		{"kafka.events_topic", c.Kafka.EventsTopic},
	} {
		if err := checkTopic(t.v); err != nil {
			bad(t.field, "%v", err)
			continue
		}
		if other, dup := topics[t.v]; dup {
			bad(t.field, "topic %q is already used by %s", t.v, other)
		}
		topics[t.v] = t.field
	}
	if strings.TrimSpace(c.Kafka.GroupID) == "" {
		bad("kafka.group_id", "must not be empty")
	}
	if c.ClickHouse.Addr == "" {
		bad("clickhouse.addr", "is required (host:port of the native protocol)")
	} else if err := checkHostPort(c.ClickHouse.Addr, true); err != nil {
		bad("clickhouse.addr", "%v", err)
	}
	if !isIdentifier(c.ClickHouse.Database) {
		bad("clickhouse.database", "%q is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*)", c.ClickHouse.Database)
	}
	if c.ClickHouse.Username == "" {
		bad("clickhouse.username", "must not be empty")
	}
	if p := c.ClickHouse.Password; p != nil && (p.File == "") == (p.Env == "") {
		bad("clickhouse.password", "set exactly one of file or env")
	}
	if c.ClickHouse.DialTimeout <= 0 {
		bad("clickhouse.dial_timeout", "must be positive, got %v", c.ClickHouse.DialTimeout)
	}
	if c.ClickHouse.QueryTimeout <= 0 {
		bad("clickhouse.query_timeout", "must be positive, got %v", c.ClickHouse.QueryTimeout)
	}
	if c.ClickHouse.Compression != "lz4" && c.ClickHouse.Compression != "none" {
		bad("clickhouse.compression", "%q is neither lz4 nor none", c.ClickHouse.Compression)
	}
	if c.Batch.MaxRows <= 0 || c.Batch.MaxRows > maxBatchRows {
		bad("batch.max_rows", "must be between 1 and %d, got %d", maxBatchRows, c.Batch.MaxRows)
	}
	if c.Batch.MaxWait <= 0 || c.Batch.MaxWait > maxBatchWait {
		bad("batch.max_wait", "must be positive and at most %v, got %v", maxBatchWait, c.Batch.MaxWait)
	}
	if c.Inventory.PollInterval <= 0 {
		bad("inventory.poll_interval", "must be positive, got %v", c.Inventory.PollInterval)
	}
	if c.Inventory.StaleAfter < 1 {
		bad("inventory.stale_after", "must be at least 1, got %d", c.Inventory.StaleAfter)
	}
	seen := map[string]bool{}
	for i, k := range c.Topology.Precedence {
		switch {
		case k != "lldp_switch" && k != "lldp_host" && k != "fdb":
			bad(fmt.Sprintf("topology.precedence[%d]", i), "%q is not an evidence kind (lldp_switch, lldp_host, fdb)", k)
		case seen[k]:
			bad(fmt.Sprintf("topology.precedence[%d]", i), "%q is listed twice", k)
		}
		seen[k] = true
	}
	if len(c.Topology.Precedence) == 0 {
		bad("topology.precedence", "must list at least one evidence kind")
	}
	if c.Topology.FDBMaxMACsPerPort < 1 {
		bad("topology.fdb_max_macs_per_port", "must be at least 1, got %d", c.Topology.FDBMaxMACsPerPort)
	}
	c.Auth.validate(c.Listen, listenErr == nil, bad)
	return errors.Join(errs...)
}

// maxTokenName bounds a token's name, which is a metric label.
const maxTokenName = 64

// validate checks the tokens, and that without tokens listen (when it is
// valid, listenOK) is a loopback address.
func (a *Auth) validate(listen string, listenOK bool, bad func(field, format string, args ...any)) {
	names := map[string]int{}
	for i, t := range a.Tokens {
		field := fmt.Sprintf("auth.tokens[%d]", i)
		switch {
		case t.Name == "":
			bad(field+".name", "must not be empty")
		case !isTokenName(t.Name):
			bad(field+".name", "%q: use at most %d letters, digits, '.', '_' and '-'", t.Name, maxTokenName)
		default:
			if j, dup := names[t.Name]; dup {
				bad(field+".name", "%q is already the name of auth.tokens[%d]", t.Name, j)
			}
			names[t.Name] = i
		}
		if !slices.Contains(Roles, t.Role) {
			bad(field+".role", "%q is not a role (viewer, operator, admin)", t.Role)
		}
		switch {
		case (t.TokenSHA256 == "") == (t.Token == nil):
			bad(field, "set exactly one of token_sha256 or token")
		case t.Token != nil:
			if (t.Token.File == "") == (t.Token.Env == "") {
				bad(field+".token", "set exactly one of file or env")
			}
		case len(t.TokenSHA256) != 2*sha256.Size || !isHex(t.TokenSHA256):
			bad(field+".token_sha256", "is not a SHA-256 (64 hex digits, from: printf %%s \"$TOKEN\" | sha256sum)")
		}
	}
	if len(a.Tokens) == 0 {
		switch {
		case !listenOK:
			// already reported
		case !IsLoopback(listen):
			bad("auth.tokens", "listen %q is not a loopback address: configure at least one token (anonymous access is allowed only on loopback)", listen)
		case !a.AllowAnonymousLoopback:
			bad("auth.tokens", "none configured and allow_anonymous_loopback is false: every API request would be refused")
		}
	}
}

func isTokenName(s string) bool {
	if len(s) > maxTokenName {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func isHex(s string) bool {
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F') {
			return false
		}
	}
	return true
}

// checkHostPort checks s is host:port. A remote address (remote true) needs
// a host and a port other than 0; a listen address may leave the host empty
// (all interfaces) and use port 0 (a free port).
func checkHostPort(s string, remote bool) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", s, unwrapAddrError(err))
	}
	if remote && host == "" {
		return fmt.Errorf("%q has no host", s)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 || (n == 0 && remote) {
		return fmt.Errorf("%q: port %q is not a valid port number", s, port)
	}
	return nil
}

// unwrapAddrError drops the address from net.AddrError, which checkHostPort
// already names.
func unwrapAddrError(err error) error {
	var ae *net.AddrError
	if errors.As(err, &ae) {
		return errors.New(ae.Err)
	}
	return err
}

func checkTopic(t string) error {
	if t == "" {
		return errors.New("must not be empty")
	}
	if len(t) > 249 {
		return fmt.Errorf("%q is longer than 249 characters", t)
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("%q: Kafka topic names use only [a-zA-Z0-9._-]", t)
		}
	}
	return nil
}

func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
