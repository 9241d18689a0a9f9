package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestGoodConfig(t *testing.T) {
	t.Setenv("RACKTRACK_TEST_BMC_PASSWORD", "calvin")
	c, err := Load("testdata/agent.good.yml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.AgentID != "ams1-r01-agent" || c.Site != "ams1" || c.Rack != "r01" {
		t.Errorf("identity = %q/%q/%q", c.AgentID, c.Site, c.Rack)
	}
	// Defaults survive a partly given kafka section.
	if c.Kafka.Topic != DefaultTopic || c.Kafka.WriteTimeout != 10*time.Second || c.Kafka.Compression != "zstd" {
		t.Errorf("kafka = %+v; want default topic and timeout, compression zstd", c.Kafka)
	}
	if c.Listen != DefaultListen || c.MaxConcurrency != DefaultMaxConcurrency || c.SnapshotInterval != DefaultSnapshotInterval {
		t.Errorf("defaults not applied: listen %q, concurrency %d, snapshot %v", c.Listen, c.MaxConcurrency, c.SnapshotInterval)
	}
	if len(c.Targets) != 2 {
		t.Fatalf("targets = %d, want 2", len(c.Targets))
	}
	if got := c.Interval(c.Targets[0]); got != 30*time.Second {
		t.Errorf("interval of target 0 = %v, want the agent's 30s", got)
	}
	if got := c.Interval(c.Targets[1]); got != 2*time.Minute {
		t.Errorf("interval of target 1 = %v, want its own 2m", got)
	}
	if c.Targets[0].Protocol() != "redfish" || c.Targets[0].Redfish.URL != "https://10.0.3.7" {
		t.Errorf("target 0 = %+v", c.Targets[0])
	}
	if c.Targets[1].Line() != 19 {
		t.Errorf("target 1 line = %d, want 19", c.Targets[1].Line())
	}
	if c.ProtocolConcurrency["redfish"] != 8 {
		t.Errorf("protocol_concurrency = %v", c.ProtocolConcurrency)
	}
}

func TestBadConfigs(t *testing.T) {
	t.Setenv("RACKTRACK_TEST_BMC_PASSWORD", "calvin")
	cases := []struct {
		file string
		want []string // every fragment must appear in the error
	}{
		{"unknown-field.bad.yml", []string{"testdata/unknown-field.bad.yml", "line 6", "field brokres not found"}},
		{"missing-ids.bad.yml", []string{"agent_id: required", "site: required", "rack: required"}},
		{"duplicate-target.bad.yml", []string{"testdata/duplicate-target.bad.yml:9: targets[1] (bmc-1).name: \"bmc-1\" is already used by targets[0]"}},
		{"no-protocol.bad.yml", []string{"testdata/no-protocol.bad.yml:7: targets[0] (bmc-1): exactly one protocol section"}},
		{"bad-broker.bad.yml", []string{"kafka.brokers[0]: \"kafka-without-port\" is not host:port", "kafka.compression: \"brotli\""}},
		{"missing-secret.bad.yml", []string{"testdata/missing-secret.bad.yml:7: targets[0] (bmc-1).redfish", "/nonexistent/racktrack/bmc.pass"}},
		{"short-interval.bad.yml", []string{"poll_interval: 100ms is below the 1s minimum", "targets[0] (bmc/1).name: \"bmc/1\" must not contain '/'"}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			_, err := Load(filepath.Join("testdata", c.file))
			if err == nil {
				t.Fatal("Load succeeded; want an error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestEmptyAndMissingFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "empty.yml")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "empty configuration") {
		t.Errorf("Load(empty) = %v, want 'empty configuration'", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "nope.yml")); err == nil || !strings.Contains(err.Error(), "nope.yml") {
		t.Errorf("Load(missing) = %v, want the path in the error", err)
	}
}
