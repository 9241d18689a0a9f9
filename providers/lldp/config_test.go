package lldp

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestGoodConfigs(t *testing.T) {
	tests := []struct {
		file string
		want Config
	}{
		{"empty.good.yml", DefaultConfig()},
		{"full.good.yml", Config{
			Interfaces: []string{"eno1", "eno2"},
			Transmit: TransmitConfig{Enabled: true, Interval: 10 * time.Second,
				SystemName: "rack7-host3", ManagementAddress: "192.0.2.17"},
			SnapshotInterval: 2 * time.Minute,
			RescanInterval:   5 * time.Second,
			MaxNeighbors:     4,
			RateLimit:        20,
			NetNS:            "/run/netns/host",
		}},
		{"transmit-only.good.yml", Config{
			Transmit:         TransmitConfig{Enabled: true, Interval: DefaultTransmitInterval, ManagementAddress: "2001:db8::17"},
			SnapshotInterval: DefaultSnapshotInterval,
			RescanInterval:   DefaultRescanInterval,
			MaxNeighbors:     DefaultMaxNeighbors,
			RateLimit:        DefaultRateLimit,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseConfig(b)
			if err != nil {
				t.Fatalf("ParseConfig: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestBadConfigs(t *testing.T) {
	tests := []struct {
		file string
		want string
	}{
		{"unknown-field.bad.yml", "lldp config: yaml: unmarshal errors:\n  line 2: field interface not found in type lldp.Config"},
		{"unknown-transmit-field.bad.yml", "lldp config: yaml: unmarshal errors:\n  line 3: field ttl not found in type lldp.TransmitConfig"},
		{"bad-duration.bad.yml", "lldp config: yaml: unmarshal errors:\n  line 1: cannot unmarshal !!str `soon` into time.Duration"},
		{"transmit-interval.bad.yml", "lldp config: transmit.interval 500ms: must be between 1s and 1h"},
		{"management-address.bad.yml", `lldp config: transmit.management_address "switch1.example.net": not an IP address`},
		{"interfaces.bad.yml", "lldp config: interfaces: \"eno1\" listed twice\n" +
			"lldp config: interfaces: \"\" is not a valid interface name\n" +
			"lldp config: interfaces: \"this-name-is-too-long0\" is not a valid interface name"},
		{"limits.bad.yml", "lldp config: snapshot_interval 0s: must be at least 1s\n" +
			"lldp config: rescan_interval 10ms: must be at least 100ms\n" +
			"lldp config: max_neighbors 0: must be between 1 and 1024\n" +
			"lldp config: rate_limit -1: must be between 1 and 100000 frames per second"},
		{"netns.bad.yml", `lldp config: netns "run/netns/host": must be an absolute path`},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			_, err = ParseConfig(b)
			if err == nil {
				t.Fatal("ParseConfig accepted a bad config")
			}
			if err.Error() != tc.want {
				t.Errorf("error:\n%s\nwant:\n%s", err, tc.want)
			}
		})
	}
}

// TestConfigStrictWhenEmbedded checks that unknown keys are rejected even
// when the lldp block sits in a larger config decoded without KnownFields.
func TestConfigStrictWhenEmbedded(t *testing.T) {
	var outer struct {
		LLDP Config `yaml:"lldp"`
	}
	err := yaml.Unmarshal([]byte("lldp:\n  interfaces: [eno1]\n  snapshot: 1m\n"), &outer)
	want := "yaml: unmarshal errors:\n  line 3: field snapshot not found in type lldp.Config"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
	if err := yaml.Unmarshal([]byte("lldp:\n  interfaces: [eno1]\n"), &outer); err != nil {
		t.Fatal(err)
	}
	want2 := DefaultConfig()
	want2.Interfaces = []string{"eno1"}
	if !reflect.DeepEqual(outer.LLDP, want2) {
		t.Errorf("embedded defaults: got %+v, want %+v", outer.LLDP, want2)
	}
}

// TestReadmeConfig parses every yaml block of README.md.
func TestReadmeConfig(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(b, -1)
	if len(blocks) == 0 {
		t.Fatal("README.md has no yaml block")
	}
	for i, m := range blocks {
		doc := struct {
			LLDP Config `yaml:"lldp"`
		}{LLDP: DefaultConfig()}
		dec := yaml.NewDecoder(bytes.NewReader(m[1]))
		dec.KnownFields(true)
		if err := dec.Decode(&doc); err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
		cfg := doc.LLDP
		if err := cfg.Validate(); err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
		if !cfg.Transmit.Enabled || len(cfg.Interfaces) == 0 {
			t.Errorf("block %d: example should show interfaces and transmit: %+v", i, cfg)
		}
	}
}
