package agent_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/racktrack/racktrack/agent"
	"github.com/racktrack/racktrack/agent/config"
	"github.com/racktrack/racktrack/internal/testenv"
	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
)

func gathered(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestSpoolFull: with the broker down and a 256 KiB spool, telemetry is
// evicted first and inventory kept; the evictions show in the metrics and,
// once the broker is back, in an agent-status observation upstream.
func TestSpoolFull(t *testing.T) {
	k := testenv.Kafka(t, topic)
	k.Stop()
	s := newSite(t, 20, "127.0.23.1")
	// Inventory goes out on change (once per target here, with an hour
	// between snapshots); health and status every second fill the spool.
	text := strings.Replace(s.config(k.Brokers(), "1s", 20), "kafka:", "spool:\n  max_bytes: 262144\nkafka:", 1)
	text = strings.Replace(text, "snapshot_interval: 1s", "snapshot_interval: 1h", 1)
	cfg, err := config.Parse("agent.yml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	runAgent(t, cfg, agent.Options{Registry: reg})

	const evictions = "racktrack_agent_spool_evictions_total"
	waitFor(t, 90*time.Second, "telemetry evictions", func() (bool, string) {
		n := gathered(t, reg, evictions, "class", "telemetry")
		return n >= 10, fmt.Sprintf("%v telemetry evicted", n)
	})
	if n := gathered(t, reg, evictions, "class", "inventory"); n != 0 {
		t.Fatalf("%v inventory records evicted while telemetry was there to evict", n)
	}

	if err := k.Start(); err != nil {
		t.Fatal(err)
	}
	var reported uint64
	inventory := map[string]bool{}
	waitFor(t, 60*time.Second, "an agent-status observation reporting the evictions", func() (bool, string) {
		for _, msgs := range readTopic(t, k.Brokers()) {
			for _, m := range msgs {
				var o racktrackv1.Observation
				if proto.Unmarshal(m.Value, &o) != nil {
					continue
				}
				if o.GetServerInventory() != nil {
					inventory[o.Target] = true
				}
				if st := o.GetAgentStatus(); st != nil && st.Evicted["telemetry"] > 0 {
					reported = st.Evicted["telemetry"]
					if string(m.Key) != "t/agent" || o.Source != racktrackv1.Source_SOURCE_AGENT {
						t.Errorf("agent status keyed %q from %v; want t/agent from SOURCE_AGENT", m.Key, o.Source)
					}
					return true, ""
				}
			}
		}
		return false, "none yet"
	})
	if n := gathered(t, reg, evictions, "class", "inventory"); n != 0 {
		t.Errorf("%v inventory records evicted", n)
	}
	waitFor(t, 30*time.Second, "every target's inventory upstream", func() (bool, string) {
		for _, msgs := range readTopic(t, k.Brokers()) {
			for _, m := range msgs {
				var o racktrackv1.Observation
				if proto.Unmarshal(m.Value, &o) == nil && o.GetServerInventory() != nil {
					inventory[o.Target] = true
				}
			}
		}
		return len(inventory) == 20, fmt.Sprintf("%d of 20 targets", len(inventory))
	})
	t.Logf("agent status reported %d telemetry records evicted", reported)
}
