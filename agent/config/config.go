// Package config loads and validates the agent's YAML configuration. It is
// decoded once, strictly (unknown fields are errors), defaults applied while
// decoding, then validated in one pass; every error names the file, the line
// and the field, so a bad config fails at load and never mid-poll.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/racktrack/racktrack/internal/secret"
	"github.com/racktrack/racktrack/providers/lldp"
	"github.com/racktrack/racktrack/providers/redfish"
	"github.com/racktrack/racktrack/providers/snmp"
)

// Defaults an operator gets without writing them.
const (
	DefaultPollInterval     = 60 * time.Second
	DefaultSnapshotInterval = time.Hour
	DefaultMaxConcurrency   = 32
	DefaultListen           = "127.0.0.1:9465"
	DefaultStateDir         = "/var/lib/racktrack-agent"
	DefaultTopic            = "racktrack.observations"
	DefaultBackoffMax       = 5 * time.Minute
)

// Config is the whole agent configuration.
type Config struct {
	// AgentID identifies this agent; with the sequence it de-duplicates.
	AgentID string `yaml:"agent_id"`
	Site    string `yaml:"site"`
	Rack    string `yaml:"rack"`
	// StateDir holds the spool and the sequence counter.
	StateDir string `yaml:"state_dir"`
	// Listen is the address of /metrics, /healthz and /readyz.
	Listen string      `yaml:"listen"`
	Kafka  KafkaConfig `yaml:"kafka"`
	// PollInterval is the default interval between two polls of a target.
	PollInterval time.Duration `yaml:"poll_interval"`
	// SnapshotInterval is how often unchanged inventory is sent anyway.
	SnapshotInterval time.Duration `yaml:"snapshot_interval"`
	// MaxConcurrency bounds polls in flight across all targets.
	MaxConcurrency int `yaml:"max_concurrency"`
	// ProtocolConcurrency bounds polls in flight per protocol
	// (redfish, snmp); unset protocols share only MaxConcurrency.
	ProtocolConcurrency map[string]int `yaml:"protocol_concurrency"`
	// BackoffMax caps the exponential backoff of a failing target.
	BackoffMax time.Duration `yaml:"backoff_max"`
	// Spool bounds the on-disk queue in front of Kafka.
	Spool   SpoolConfig `yaml:"spool"`
	Targets []Target    `yaml:"targets"`

	file string
}

// SpoolConfig sizes the durable spool.
type SpoolConfig struct {
	// MaxBytes bounds the spool; when full, telemetry is evicted first.
	MaxBytes int64 `yaml:"max_bytes"`
	// SyncInterval batches fsync; 0 syncs every append.
	SyncInterval time.Duration `yaml:"sync_interval"`
}

// KafkaConfig says where observations go.
type KafkaConfig struct {
	Brokers []string `yaml:"brokers"`
	Topic   string   `yaml:"topic"`
	// Compression is none, gzip, snappy, lz4 or zstd.
	Compression string     `yaml:"compression"`
	TLS         *TLSConfig `yaml:"tls"`
	SASL        *SASL      `yaml:"sasl"`
	// WriteTimeout bounds one produce request.
	WriteTimeout time.Duration `yaml:"write_timeout"`
}

// TLSConfig is client TLS to the brokers.
type TLSConfig struct {
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// SASL authenticates to the brokers.
type SASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism string     `yaml:"mechanism"`
	Username  string     `yaml:"username"`
	Password  secret.Ref `yaml:"password"`
}

// Target is one device the agent polls. Exactly one protocol section is set.
type Target struct {
	// Name is how the target is known upstream (Kafka key site/name).
	Name string `yaml:"name"`
	// Interval overrides the agent's poll_interval for this target.
	Interval time.Duration   `yaml:"interval"`
	Redfish  *redfish.Config `yaml:"redfish"`
	SNMP     *snmp.Config    `yaml:"snmp"`
	// LLDP listens on the agent host's own NICs; at most one target.
	LLDP *lldp.Config `yaml:"lldp"`

	line int
}

// Protocol names the target's protocol section.
func (t Target) Protocol() string {
	switch {
	case t.Redfish != nil:
		return "redfish"
	case t.SNMP != nil:
		return "snmp"
	case t.LLDP != nil:
		return "lldp"
	}
	return ""
}

// Line is the line of the target in the config file (0 if unknown).
func (t Target) Line() int { return t.line }

// UnmarshalYAML applies defaults before decoding. It uses the function
// form so the decoder's KnownFields setting reaches nested fields.
func (c *Config) UnmarshalYAML(unmarshal func(any) error) error {
	*c = Config{
		StateDir:         DefaultStateDir,
		Listen:           DefaultListen,
		PollInterval:     DefaultPollInterval,
		SnapshotInterval: DefaultSnapshotInterval,
		MaxConcurrency:   DefaultMaxConcurrency,
		BackoffMax:       DefaultBackoffMax,
		Kafka: KafkaConfig{
			Topic:        DefaultTopic,
			Compression:  "snappy",
			WriteTimeout: 10 * time.Second,
		},
		Spool: SpoolConfig{MaxBytes: 256 << 20, SyncInterval: 100 * time.Millisecond},
	}
	type plain Config
	return unmarshal((*plain)(c))
}

// File is the path the config was loaded from.
func (c *Config) File() string { return c.file }

// Interval is the poll interval of t.
func (c *Config) Interval(t Target) time.Duration {
	if t.Interval > 0 {
		return t.Interval
	}
	return c.PollInterval
}

// Load reads, decodes and validates the file at path.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, b)
}

// Parse decodes and validates b; name is used in error messages.
func Parse(name string, b []byte) (*Config, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty configuration", name)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	c.file = name
	c.locateTargets(b)
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// locateTargets records the line of each target so validation errors can
// point at it.
func (c *Config) locateTargets(b []byte) {
	var doc yaml.Node
	if yaml.Unmarshal(b, &doc) != nil || len(doc.Content) == 0 {
		return
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "targets" {
			continue
		}
		for j, item := range root.Content[i+1].Content {
			if j < len(c.Targets) {
				c.Targets[j].line = item.Line
			}
		}
	}
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// Validate checks the whole config and reports every problem found, each
// prefixed with file:line and the field path.
func (c *Config) Validate() error {
	var errs []error
	bad := func(line int, field, format string, args ...any) {
		loc := c.file
		if line > 0 {
			loc = fmt.Sprintf("%s:%d", c.file, line)
		}
		errs = append(errs, fmt.Errorf("%s: %s: %s", loc, field, fmt.Sprintf(format, args...)))
	}
	for _, f := range []struct{ name, v string }{{"agent_id", c.AgentID}, {"site", c.Site}, {"rack", c.Rack}} {
		if f.v == "" {
			bad(0, f.name, "required")
		} else if !idPattern.MatchString(f.v) {
			bad(0, f.name, "%q must be letters, digits, '.', '_' or '-' (at most 128)", f.v)
		}
	}
	if c.StateDir == "" {
		bad(0, "state_dir", "required")
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad(0, "listen", "%q is not host:port: %v", c.Listen, err)
	}
	if len(c.Kafka.Brokers) == 0 {
		bad(0, "kafka.brokers", "at least one broker is required")
	}
	for i, b := range c.Kafka.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			bad(0, fmt.Sprintf("kafka.brokers[%d]", i), "%q is not host:port", b)
		}
	}
	if c.Kafka.Topic == "" {
		bad(0, "kafka.topic", "required")
	}
	switch c.Kafka.Compression {
	case "none", "gzip", "snappy", "lz4", "zstd":
	default:
		bad(0, "kafka.compression", "%q is not one of none, gzip, snappy, lz4, zstd", c.Kafka.Compression)
	}
	if c.Kafka.WriteTimeout <= 0 {
		bad(0, "kafka.write_timeout", "must be positive")
	}
	if t := c.Kafka.TLS; t != nil {
		if (t.CertFile == "") != (t.KeyFile == "") {
			bad(0, "kafka.tls", "cert_file and key_file go together")
		}
		for _, f := range []struct{ name, path string }{{"ca_file", t.CAFile}, {"cert_file", t.CertFile}, {"key_file", t.KeyFile}} {
			if f.path != "" {
				if _, err := os.Stat(f.path); err != nil {
					bad(0, "kafka.tls."+f.name, "%v", err)
				}
			}
		}
	}
	if s := c.Kafka.SASL; s != nil {
		switch s.Mechanism {
		case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		default:
			bad(0, "kafka.sasl.mechanism", "%q is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512", s.Mechanism)
		}
		if s.Username == "" {
			bad(0, "kafka.sasl.username", "required")
		}
		if _, err := s.Password.Resolve(); err != nil {
			bad(0, "kafka.sasl.password", "%v", err)
		}
	}
	if c.PollInterval < time.Second {
		bad(0, "poll_interval", "%s is below the 1s minimum", c.PollInterval)
	}
	if c.SnapshotInterval < c.PollInterval {
		bad(0, "snapshot_interval", "%s is shorter than poll_interval %s", c.SnapshotInterval, c.PollInterval)
	}
	if c.MaxConcurrency < 1 {
		bad(0, "max_concurrency", "must be at least 1")
	}
	for p, n := range c.ProtocolConcurrency {
		switch p {
		case "redfish", "snmp", "lldp":
		default:
			bad(0, "protocol_concurrency."+p, "unknown protocol")
		}
		if n < 1 {
			bad(0, "protocol_concurrency."+p, "must be at least 1")
		}
	}
	if c.BackoffMax < time.Second {
		bad(0, "backoff_max", "must be at least 1s")
	}
	if c.Spool.MaxBytes < 256<<10 {
		bad(0, "spool.max_bytes", "%d is below the 256 KiB minimum", c.Spool.MaxBytes)
	}
	if c.Spool.SyncInterval < 0 {
		bad(0, "spool.sync_interval", "must not be negative")
	}
	if len(c.Targets) == 0 {
		bad(0, "targets", "at least one target is required")
	}
	seen := map[string]int{}
	lldpTargets := 0
	for i, t := range c.Targets {
		field := fmt.Sprintf("targets[%d]", i)
		if t.Name != "" {
			field = fmt.Sprintf("targets[%d] (%s)", i, t.Name)
		}
		switch {
		case t.Name == "":
			bad(t.line, field+".name", "required")
		case strings.ContainsAny(t.Name, "/ \t\n"):
			bad(t.line, field+".name", "%q must not contain '/' or spaces", t.Name)
		}
		if prev, dup := seen[t.Name]; dup && t.Name != "" {
			bad(t.line, field+".name", "%q is already used by targets[%d]", t.Name, prev)
		}
		seen[t.Name] = i
		if t.Interval != 0 && t.Interval < time.Second {
			bad(t.line, field+".interval", "%s is below the 1s minimum", t.Interval)
		}
		n := 0
		if t.Redfish != nil {
			n++
			if err := t.Redfish.Validate(); err != nil {
				bad(t.line, field+".redfish", "%v", err)
			} else if _, err := t.Redfish.Password.Resolve(); err != nil {
				bad(t.line, field+".redfish.password", "%v", err)
			}
		}
		if t.SNMP != nil {
			n++
			if err := t.SNMP.Validate(); err != nil {
				bad(t.line, field+".snmp", "%v", err)
			}
			for _, ref := range []struct {
				name string
				ref  secret.Ref
			}{{"community", t.SNMP.Community}, {"auth_password", t.SNMP.AuthPassword}, {"priv_password", t.SNMP.PrivPassword}} {
				if ref.ref.File == "" && ref.ref.Env == "" {
					continue
				}
				if _, err := ref.ref.Resolve(); err != nil {
					bad(t.line, field+".snmp."+ref.name, "%v", err)
				}
			}
		}
		if t.LLDP != nil {
			n++
			lldpTargets++
			if lldpTargets > 1 {
				bad(t.line, field+".lldp", "only one lldp target per agent (it listens on every configured interface)")
			}
			if err := t.LLDP.Validate(); err != nil {
				bad(t.line, field+".lldp", "%v", err)
			}
		}
		if n != 1 {
			bad(t.line, field, "exactly one protocol section (redfish, snmp, lldp) is required, found %d", n)
		}
	}
	return errors.Join(errs...)
}
