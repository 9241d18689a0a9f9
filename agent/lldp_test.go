package agent_test

import (
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/racktrack/racktrack/agent"
	"github.com/racktrack/racktrack/agent/config"
	"github.com/racktrack/racktrack/internal/netnstest"
	"github.com/racktrack/racktrack/internal/testenv"
	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
)

// TestLLDPTarget: an agent with an lldp target, listening in a namespace
// whose veth peer runs Debian's lldpd, publishes that neighbour to Kafka
// as soon as it is heard (not only on the poll interval).
func TestLLDPTarget(t *testing.T) {
	near, far := netnstest.NewNS(t, "rtagent"), netnstest.NewNS(t, "rtagent")
	nearMAC, _ := net.ParseMAC("02:00:5e:10:00:01")
	farMAC, _ := net.ParseMAC("02:00:5e:10:00:02")
	netnstest.Veth(t,
		netnstest.End{NS: near, Name: "eth-agent", MAC: nearMAC, Addr: "192.0.2.10/24"},
		netnstest.End{NS: far, Name: "swp42", MAC: farMAC, Addr: "192.0.2.1/24"})
	netnstest.StartLLDPD(t, far, netnstest.LLDPDConfig{Interface: "swp42", Hostname: "leaf-r1-a", PortIDSubtype: "ifname"})

	k := testenv.Kafka(t, topic)
	dir := t.TempDir()
	cfg, err := config.Parse("agent.yml", []byte(fmt.Sprintf(`agent_id: t-agent
site: t
rack: r1
state_dir: %s
listen: 127.0.0.1:0
poll_interval: 1h
kafka:
  brokers: [%s]
targets:
  - name: lldp
    lldp:
      interfaces: [eth-agent]
      netns: %s
`, filepath.Join(dir, "state"), k.Brokers()[0], near.Path)))
	if err != nil {
		t.Fatal(err)
	}
	runAgent(t, cfg, agent.Options{})

	// The poll interval is an hour: only the listener's notification can
	// make the neighbour appear within the wait.
	var nb *racktrackv1.LLDPNeighbor
	waitFor(t, 30*time.Second, "lldpd's neighbour in Kafka", func() (bool, string) {
		for _, msgs := range readTopic(t, k.Brokers()) {
			for _, m := range msgs {
				var o racktrackv1.Observation
				if proto.Unmarshal(m.Value, &o) != nil || string(m.Key) != "t/lldp" {
					continue
				}
				for _, n := range o.GetLldpNeighbors().GetNeighbors() {
					nb = n
				}
			}
		}
		return nb != nil, "none yet"
	})
	if nb.LocalPort != "eth-agent" || nb.SystemName != "leaf-r1-a" || nb.PortId != "swp42" ||
		nb.PortIdSubtype != "interface_name" || nb.ChassisId != "02:00:5e:10:00:02" {
		t.Errorf("neighbour = local %q system %q port %q (%s) chassis %q; want eth-agent, leaf-r1-a, swp42 (interface_name), 02:00:5e:10:00:02",
			nb.LocalPort, nb.SystemName, nb.PortId, nb.PortIdSubtype, nb.ChassisId)
	}
}
