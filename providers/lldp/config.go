package lldp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Defaults applied by UnmarshalYAML and DefaultConfig.
const (
	DefaultTransmitInterval = 30 * time.Second // IEEE 802.1AB msgTxInterval
	DefaultSnapshotInterval = 5 * time.Minute
	DefaultRescanInterval   = 10 * time.Second
	DefaultMaxNeighbors     = 16
	DefaultRateLimit        = 10
)

// Config is the LLDP provider's configuration, the `lldp:` block of the
// agent configuration.
type Config struct {
	// Interfaces to listen on. Empty means every interface that is up, is
	// not a loopback and has a 6-byte (Ethernet) hardware address,
	// re-evaluated every RescanInterval.
	Interfaces []string `yaml:"interfaces"`
	// Transmit controls sending the agent host's own LLDPDUs.
	Transmit TransmitConfig `yaml:"transmit"`
	// SnapshotInterval is how often Notify fires without a change, so the
	// agent publishes a full snapshot of the neighbour table.
	SnapshotInterval time.Duration `yaml:"snapshot_interval"`
	// RescanInterval is how often interfaces are listed to notice ones that
	// appeared, went down or disappeared.
	RescanInterval time.Duration `yaml:"rescan_interval"`
	// MaxNeighbors bounds the neighbours kept per interface; LLDPDUs from
	// further neighbours are dropped (802.1AB "too many neighbours").
	MaxNeighbors int `yaml:"max_neighbors"`
	// RateLimit is the number of frames per second accepted per interface
	// (burst of the same size); frames beyond it are dropped and counted.
	RateLimit int `yaml:"rate_limit"`
	// NetNS is an optional network namespace file (e.g. /run/netns/host)
	// whose interfaces are used instead of the agent's own namespace.
	NetNS string `yaml:"netns"`
}

// TransmitConfig controls the LLDPDUs the agent sends about its own host.
type TransmitConfig struct {
	// Enabled turns transmission on; it is off by default.
	Enabled bool `yaml:"enabled"`
	// Interval between LLDPDUs (1s to 1h). The TTL sent is four intervals.
	Interval time.Duration `yaml:"interval"`
	// SystemName defaults to the host name.
	SystemName string `yaml:"system_name"`
	// ManagementAddress is an optional IPv4 or IPv6 address to advertise.
	ManagementAddress string `yaml:"management_address"`
}

// DefaultConfig returns the configuration an empty `lldp:` block gives.
func DefaultConfig() Config {
	return Config{
		Transmit:         TransmitConfig{Interval: DefaultTransmitInterval},
		SnapshotInterval: DefaultSnapshotInterval,
		RescanInterval:   DefaultRescanInterval,
		MaxNeighbors:     DefaultMaxNeighbors,
		RateLimit:        DefaultRateLimit,
	}
}

// UnmarshalYAML applies the defaults, then decodes value strictly: keys the
// struct does not know are errors even when the caller's decoder is not
// strict (yaml.v3 does not pass KnownFields into custom unmarshalers).
func (c *Config) UnmarshalYAML(value *yaml.Node) error {
	type plain Config
	if err := checkKnownFields(value, plain{}, "Config"); err != nil {
		return err
	}
	*c = DefaultConfig()
	return value.Decode((*plain)(c))
}

// UnmarshalYAML applies the transmit defaults, then decodes value strictly.
func (t *TransmitConfig) UnmarshalYAML(value *yaml.Node) error {
	type plain TransmitConfig
	if err := checkKnownFields(value, plain{}, "TransmitConfig"); err != nil {
		return err
	}
	*t = TransmitConfig{Interval: DefaultTransmitInterval}
	return value.Decode((*plain)(t))
}

// checkKnownFields rejects mapping keys that are not yaml tags of v's type,
// with the wording and line numbers of yaml.v3's own KnownFields check.
func checkKnownFields(node *yaml.Node, v any, typeName string) error {
	if node.Kind != yaml.MappingNode {
		return nil
	}
	rt := reflect.TypeOf(v)
	known := make(map[string]bool, rt.NumField())
	for i := 0; i < rt.NumField(); i++ {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("yaml"), ",")
		known[name] = true
	}
	var errs []string
	for i := 0; i+1 < len(node.Content); i += 2 {
		k := node.Content[i]
		if !known[k.Value] {
			errs = append(errs, fmt.Sprintf("line %d: field %s not found in type lldp.%s", k.Line, k.Value, typeName))
		}
	}
	if len(errs) > 0 {
		return &yaml.TypeError{Errors: errs}
	}
	return nil
}

// ParseConfig decodes and validates one YAML document. An empty document
// gives DefaultConfig.
func ParseConfig(b []byte) (Config, error) {
	cfg := DefaultConfig()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("lldp config: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// maxIfNameLen is IFNAMSIZ - 1 on Linux.
const maxIfNameLen = 15

// Validate checks the whole configuration in one pass and reports every
// problem found.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("lldp config: "+format, a...)) }
	seen := map[string]bool{}
	for _, name := range c.Interfaces {
		switch {
		case name == "" || len(name) > maxIfNameLen || strings.ContainsAny(name, "/ \t\n:"):
			bad("interfaces: %q is not a valid interface name", name)
		case seen[name]:
			bad("interfaces: %q listed twice", name)
		}
		seen[name] = true
	}
	if c.Transmit.Interval < time.Second || c.Transmit.Interval > time.Hour {
		bad("transmit.interval %s: must be between 1s and 1h", c.Transmit.Interval)
	}
	if len(c.Transmit.SystemName) > maxTextLength {
		bad("transmit.system_name: longer than %d bytes", maxTextLength)
	}
	if a := c.Transmit.ManagementAddress; a != "" {
		if _, err := netip.ParseAddr(a); err != nil {
			bad("transmit.management_address %q: not an IP address", a)
		}
	}
	if c.SnapshotInterval < time.Second {
		bad("snapshot_interval %s: must be at least 1s", c.SnapshotInterval)
	}
	if c.RescanInterval < 100*time.Millisecond {
		bad("rescan_interval %s: must be at least 100ms", c.RescanInterval)
	}
	if c.MaxNeighbors < 1 || c.MaxNeighbors > 1024 {
		bad("max_neighbors %d: must be between 1 and 1024", c.MaxNeighbors)
	}
	if c.RateLimit < 1 || c.RateLimit > 100000 {
		bad("rate_limit %d: must be between 1 and 100000 frames per second", c.RateLimit)
	}
	if c.NetNS != "" && !filepath.IsAbs(c.NetNS) {
		bad("netns %q: must be an absolute path", c.NetNS)
	}
	return errors.Join(errs...)
}
