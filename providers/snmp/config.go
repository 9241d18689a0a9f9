package snmp

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/racktrack/racktrack/internal/secret"
	yaml "go.yaml.in/yaml/v3"
)

// Defaults applied by UnmarshalYAML and by Config.withDefaults.
const (
	DefaultPort           = 161
	DefaultTimeout        = 5 * time.Second
	DefaultRetries        = 2
	DefaultMaxRepetitions = 64
)

// Security levels (SNMPv3 msgFlags), as written in the config.
const (
	NoAuthNoPriv = "noAuthNoPriv"
	AuthNoPriv   = "authNoPriv"
	AuthPriv     = "authPriv"
)

// Config says how to reach one switch over SNMP. Secrets are references
// (file or environment variable), resolved when the provider is built.
type Config struct {
	// Address is host[:port]; the port defaults to 161.
	Address string `yaml:"address"`
	// Version is "2c" or "3".
	Version string `yaml:"version"`
	// Community is the SNMPv2c community (version 2c only).
	Community secret.Ref `yaml:"community"`
	// Username is the SNMPv3 USM user (version 3 only).
	Username string `yaml:"username"`
	// SecurityLevel is noAuthNoPriv, authNoPriv or authPriv (default authPriv).
	SecurityLevel string `yaml:"security_level"`
	// AuthProtocol is SHA, SHA224, SHA256, SHA384 or SHA512. MD5 is
	// refused (broken hash).
	AuthProtocol string     `yaml:"auth_protocol"`
	AuthPassword secret.Ref `yaml:"auth_password"`
	// PrivProtocol is AES (AES-128, RFC 3826), AES192 or AES256 (key
	// extension after draft-blumenthal-aes-usm), or AES192C or AES256C (key
	// extension after draft-reeder, used by Cisco). DES is refused
	// (56-bit key).
	PrivProtocol string     `yaml:"priv_protocol"`
	PrivPassword secret.Ref `yaml:"priv_password"`
	// Context is the SNMPv3 context name (empty for the default context).
	Context string `yaml:"context"`
	// Timeout bounds one request/response exchange (default 5s).
	Timeout time.Duration `yaml:"timeout"`
	// Retries is how often a request is re-sent after a timeout (default 2).
	Retries int `yaml:"retries"`
	// MaxRepetitions is the GETBULK max-repetitions value (default 64).
	// Switches with large forwarding tables walk in fewer round trips with
	// a higher value (64 walks 2,000 MACs in about 34 round trips).
	MaxRepetitions int `yaml:"max_repetitions"`
	// AllowSetWithoutAuthPriv lets Apply send SET requests over v2c or
	// v3 below authPriv. Off by default: a community string travels in
	// clear text.
	AllowSetWithoutAuthPriv bool `yaml:"allow_set_without_authpriv"`
}

// UnmarshalYAML applies defaults, then decodes strictly.
func (c *Config) UnmarshalYAML(node *yaml.Node) error {
	type plain Config
	p := plain(Config{}.withDefaults())
	p.Retries = DefaultRetries
	// Re-encode the node so the strict decoder (KnownFields) applies to
	// this level too: yaml.Node.Decode ignores the parent's setting.
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	if err := enc.Encode(node); err != nil {
		return err
	}
	dec := yaml.NewDecoder(&buf)
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		return err
	}
	*c = Config(p)
	return nil
}

// withDefaults fills zero values that are never valid (timeout,
// max_repetitions) with defaults. Retries keeps 0 as "no retries"; the
// YAML decoder presets it to DefaultRetries.
func (c Config) withDefaults() Config {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxRepetitions == 0 {
		c.MaxRepetitions = DefaultMaxRepetitions
	}
	return c
}

// securityLevel is the configured v3 level, authPriv when unset.
func (c Config) securityLevel() string {
	if c.SecurityLevel == "" {
		return AuthPriv
	}
	return c.SecurityLevel
}

// LoadConfig decodes one target config strictly (unknown fields are
// errors) and validates it.
func LoadConfig(b []byte) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("snmp config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

var authProtocols = map[string]bool{"SHA": true, "SHA224": true, "SHA256": true, "SHA384": true, "SHA512": true}
var privProtocols = map[string]bool{"AES": true, "AES192": true, "AES256": true, "AES192C": true, "AES256C": true}

// Validate checks the config once, naming the field at fault.
func (c Config) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("snmp config: %s: %s", field, fmt.Sprintf(format, args...))
	}
	if c.Address == "" {
		return bad("address", "required")
	}
	if _, _, err := splitAddress(c.Address); err != nil {
		return bad("address", "%v", err)
	}
	if c.Timeout < 0 {
		return bad("timeout", "must be positive, got %s", c.Timeout)
	}
	if c.Retries < 0 {
		return bad("retries", "must not be negative, got %d", c.Retries)
	}
	if c.MaxRepetitions < 0 || c.MaxRepetitions > 1000 {
		return bad("max_repetitions", "must be between 1 and 1000, got %d", c.MaxRepetitions)
	}
	hasRef := func(r secret.Ref) bool { return r.File != "" || r.Env != "" }
	checkRef := func(field string, r secret.Ref) error {
		if r.File != "" && r.Env != "" {
			return bad(field, "set file or env, not both")
		}
		return nil
	}
	for _, f := range []struct {
		name string
		ref  secret.Ref
	}{{"community", c.Community}, {"auth_password", c.AuthPassword}, {"priv_password", c.PrivPassword}} {
		if err := checkRef(f.name, f.ref); err != nil {
			return err
		}
	}
	switch c.Version {
	case "2c":
		if !hasRef(c.Community) {
			return bad("community", "required for version 2c")
		}
		for _, f := range []struct {
			name string
			set  bool
		}{
			{"username", c.Username != ""}, {"security_level", c.SecurityLevel != ""},
			{"auth_protocol", c.AuthProtocol != ""}, {"auth_password", hasRef(c.AuthPassword)},
			{"priv_protocol", c.PrivProtocol != ""}, {"priv_password", hasRef(c.PrivPassword)},
			{"context", c.Context != ""},
		} {
			if f.set {
				return bad(f.name, "only for version 3")
			}
		}
	case "3":
		if hasRef(c.Community) {
			return bad("community", "only for version 2c")
		}
		if c.Username == "" {
			return bad("username", "required for version 3")
		}
		level := c.securityLevel()
		switch level {
		case NoAuthNoPriv, AuthNoPriv, AuthPriv:
		default:
			return bad("security_level", "must be noAuthNoPriv, authNoPriv or authPriv, got %q", c.SecurityLevel)
		}
		if level == NoAuthNoPriv {
			if c.AuthProtocol != "" || hasRef(c.AuthPassword) {
				return bad("auth_protocol", "not used with security_level noAuthNoPriv")
			}
		} else {
			if c.AuthProtocol == "MD5" {
				return bad("auth_protocol", "MD5 is not supported (broken hash); use SHA or SHA256")
			}
			if !authProtocols[c.AuthProtocol] {
				return bad("auth_protocol", "must be one of SHA, SHA224, SHA256, SHA384, SHA512, got %q", c.AuthProtocol)
			}
			if !hasRef(c.AuthPassword) {
				return bad("auth_password", "required with security_level %s", level)
			}
		}
		if level == AuthPriv {
			if c.PrivProtocol == "DES" {
				return bad("priv_protocol", "DES is not supported (56-bit key); use AES")
			}
			if !privProtocols[c.PrivProtocol] {
				return bad("priv_protocol", "must be one of AES, AES192, AES256, AES192C, AES256C, got %q", c.PrivProtocol)
			}
			if !hasRef(c.PrivPassword) {
				return bad("priv_password", "required with security_level authPriv")
			}
		} else if c.PrivProtocol != "" || hasRef(c.PrivPassword) {
			return bad("priv_protocol", "only with security_level authPriv")
		}
	case "":
		return bad("version", "required: 2c or 3")
	default:
		return bad("version", "must be 2c or 3, got %q", c.Version)
	}
	return nil
}

// splitAddress parses host[:port] (IPv6 in brackets when a port is given).
func splitAddress(addr string) (string, uint16, error) {
	host, port := addr, DefaultPort
	if h, p, err := net.SplitHostPort(addr); err == nil {
		n, perr := strconv.ParseUint(p, 10, 16)
		if perr != nil || n == 0 {
			return "", 0, fmt.Errorf("bad port %q", p)
		}
		host, port = h, int(n)
	} else if strings.Count(addr, ":") == 1 {
		return "", 0, err
	}
	if host == "" {
		return "", 0, errors.New("empty host")
	}
	return host, uint16(port), nil
}
