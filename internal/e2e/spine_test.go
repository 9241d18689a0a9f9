// Package e2e_test runs the spine end to end with every real part: the
// Redfish simulator over HTTPS, the agent, a kfake broker, the collector as
// a separate process, and a private ClickHouse server.
package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/racktrack/racktrack/agent"
	agentconfig "github.com/racktrack/racktrack/agent/config"
	"github.com/racktrack/racktrack/internal/testenv"
	"github.com/racktrack/racktrack/providers/redfish/redfishsim"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// apiServer is the part of GET /api/v1/servers this test checks.
type apiServer struct {
	Site         string `json:"site"`
	Rack         string `json:"rack"`
	Target       string `json:"target"`
	AgentID      string `json:"agent_id"`
	SerialNumber string `json:"serial_number"`
	UUID         string `json:"uuid"`
	Manufacturer string `json:"manufacturer"`
	Model        string `json:"model"`
	BIOSVersion  string `json:"bios_version"`
	PowerState   string `json:"power_state"`
	NICs         []struct {
		ID         string `json:"id"`
		MACAddress string `json:"mac_address"`
	} `json:"nics"`
}

// collectorProc is the collector binary run as a child, so the test can
// kill it the way a machine dies: SIGKILL, no shutdown code runs.
type collectorProc struct {
	t      *testing.T
	bin    string
	cfg    string
	listen string
	cmd    *exec.Cmd
	logs   *testenv.Output
}

func (c *collectorProc) start() {
	c.t.Helper()
	c.cmd = exec.Command(c.bin, "-config", c.cfg)
	c.cmd.Stdout, c.cmd.Stderr = c.logs, c.logs
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.cmd.Start(); err != nil {
		c.t.Fatalf("start collector: %v", err)
	}
	waitFor(c.t, 60*time.Second, "collector /healthz", func() (bool, string) {
		resp, err := http.Get("http://" + c.listen + "/healthz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
}

func (c *collectorProc) kill() {
	c.t.Helper()
	if err := c.cmd.Process.Kill(); err != nil {
		c.t.Fatalf("kill collector: %v", err)
	}
	_ = c.cmd.Wait()
}

func buildCollector(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "racktrack-collector")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/racktrack/racktrack/cmd/racktrack-collector")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build racktrack-collector: %v\n%s", err, out)
	}
	return bin
}

func TestSpineEndToEnd(t *testing.T) {
	bin := buildCollector(t)
	ch := testenv.SharedClickHouse(t)
	db := testenv.ClickHouseDatabase(t, ch)
	kafka := testenv.Kafka(t, "racktrack.observations", "racktrack.observations.dlq", "racktrack.events")
	dir := t.TempDir()

	// Three BMCs over HTTPS with the simulator's own CA.
	servers := redfishsim.GenerateServers("e2e", "r1", 3)
	sim, err := redfishsim.Start(context.Background(), redfishsim.Options{Servers: servers, FirstIP: netip.MustParseAddr("127.0.9.1")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	caFile := filepath.Join(dir, "ca.pem")
	if err := sim.WriteCAFile(caFile); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RACKTRACK_E2E_BMC_PASSWORD", redfishsim.DefaultPassword)

	var acfg strings.Builder
	fmt.Fprintf(&acfg, "agent_id: e2e-agent\nsite: e2e\nrack: r1\nstate_dir: %s\nlisten: 127.0.0.1:0\npoll_interval: 1s\nsnapshot_interval: 1s\nkafka:\n  brokers: [%s]\ntargets:\n",
		filepath.Join(dir, "agent"), strings.Join(kafka.Brokers(), ", "))
	for _, b := range sim.BMCs() {
		fmt.Fprintf(&acfg, "  - name: %s\n    redfish:\n      url: %s\n      username: %s\n      password: {env: RACKTRACK_E2E_BMC_PASSWORD}\n      ca_file: %s\n",
			b.Server().Name, b.URL, redfishsim.DefaultUsername, caFile)
	}
	cfg, err := agentconfig.Parse("e2e-agent.yml", []byte(acfg.String()))
	if err != nil {
		t.Fatalf("agent config: %v", err)
	}

	listen := freeAddr(t)
	ccfg := filepath.Join(dir, "collector.yml")
	if err := os.WriteFile(ccfg, []byte(fmt.Sprintf(
		"listen: %s\nkafka:\n  brokers: [%s]\nclickhouse:\n  addr: %s\n  database: %s\nbatch:\n  max_rows: 50\n  max_wait: 100ms\n",
		listen, strings.Join(kafka.Brokers(), ", "), ch.Addr(), db)), 0o600); err != nil {
		t.Fatal(err)
	}
	col := &collectorProc{t: t, bin: bin, cfg: ccfg, listen: listen, logs: &testenv.Output{}}
	t.Cleanup(func() {
		if col.cmd != nil && col.cmd.ProcessState == nil {
			col.kill()
		}
		if t.Failed() {
			t.Logf("collector output:\n%s", col.logs.String())
		}
	})
	col.start()

	a, err := agent.New(cfg, agent.Options{Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	actx, stopAgent := context.WithCancel(context.Background())
	agentDone := make(chan error, 1)
	go func() { agentDone <- a.Run(actx) }()
	agentStopped := false
	t.Cleanup(func() {
		if !agentStopped {
			stopAgent()
			<-agentDone
		}
	})

	// 1. Exactly the simulator's servers, with the fields it serves.
	api := "http://" + listen + "/api/v1/servers?site=e2e"
	var got []apiServer
	waitFor(t, 60*time.Second, "3 servers in the API", func() (bool, string) {
		got = fetch(t, api)
		return len(got) == 3, fmt.Sprintf("%d servers", len(got))
	})
	checkServers(t, got, servers)

	// 2. Between two polls, swap a DIMM and upgrade the BIOS on the first
	// BMC: the history shows both changes, from the old to the new value.
	bmc := sim.BMCs()[0]
	old := bmc.Server()
	bmc.Update(func(s *redfishsim.Server) {
		s.DIMMs[0].SerialNumber = "SWAPPED-DIMM-1"
		s.BIOSVersion = "9.9.9"
		for i := range s.Firmware {
			if s.Firmware[i].ID == "BIOS" {
				s.Firmware[i].Version = "9.9.9"
			}
		}
	})
	wantChanges := []string{
		fmt.Sprintf("memory[%s] serial_number %s→SWAPPED-DIMM-1", old.DIMMs[0].ID, old.DIMMs[0].SerialNumber),
		fmt.Sprintf(" bios_version %s→9.9.9", old.BIOSVersion),
		fmt.Sprintf("firmware[BIOS] version %s→9.9.9", old.BIOSVersion),
	}
	var changes []string
	waitFor(t, 30*time.Second, "the DIMM swap and the BIOS upgrade in the history", func() (bool, string) {
		var h struct {
			Changes []struct {
				Component, Field, From, To string
			} `json:"changes"`
		}
		changes = nil
		if err := getJSON("http://"+listen+"/api/v1/history?site=e2e&device="+old.Name, &h); err != nil {
			return false, err.Error()
		}
		for _, c := range h.Changes {
			if c.Field != "" { // not the device.appeared entry
				changes = append(changes, c.Component+" "+c.Field+" "+c.From+"→"+c.To)
			}
		}
		for _, w := range wantChanges {
			if !slices.Contains(changes, w) {
				return false, fmt.Sprint(changes)
			}
		}
		return true, ""
	})
	if len(changes) != len(wantChanges) {
		t.Errorf("history of %s holds %q, want exactly %q", old.Name, changes, wantChanges)
	}
	servers[0] = bmc.Server() // what the API must show from now on

	// 3. Kill the collector while the agent keeps publishing, let the agent
	// publish into the outage, then restart the collector.
	seqAtKill := a.LastSequence()
	col.kill()
	waitFor(t, 30*time.Second, "agent to publish during the collector outage", func() (bool, string) {
		return a.LastSequence() >= seqAtKill+9, fmt.Sprintf("sequence %d", a.LastSequence())
	})
	col.start()

	// 4. Stop the agent (it drains its spool), then everything it ever
	// numbered must be in ClickHouse exactly once.
	waitFor(t, 30*time.Second, "more observations after the restart", func() (bool, string) {
		return a.LastSequence() >= seqAtKill+15, fmt.Sprintf("sequence %d", a.LastSequence())
	})
	stopAgent()
	agentStopped = true
	if err := <-agentDone; err != nil {
		t.Fatalf("agent: %v", err)
	}
	last := a.LastSequence()
	conn := testenv.ClickHouseConn(t, ch, db)
	waitFor(t, 60*time.Second, "every observation in ClickHouse", func() (bool, string) {
		var rows, distinct, maxSeq uint64
		row := conn.QueryRow(context.Background(),
			"SELECT count(), uniqExact(agent_id, sequence), max(sequence) FROM observations WHERE agent_id = 'e2e-agent'")
		if err := row.Scan(&rows, &distinct, &maxSeq); err != nil {
			return false, err.Error()
		}
		if rows > distinct {
			t.Fatalf("observations: %d rows for %d distinct (agent, sequence): duplicated", rows, distinct)
		}
		return distinct == last && maxSeq == last, fmt.Sprintf("%d rows, %d distinct, max sequence %d, want %d", rows, distinct, maxSeq, last)
	})
	got = fetch(t, api)
	if len(got) != 3 {
		t.Fatalf("after the restart the API lists %d servers, want 3", len(got))
	}
	checkServers(t, got, servers)
}

func checkServers(t *testing.T, got []apiServer, want []redfishsim.Server) {
	t.Helper()
	sort.Slice(got, func(i, j int) bool { return got[i].Target < got[j].Target })
	for i, w := range want {
		g := got[i]
		if g.Target != w.Name || g.Site != "e2e" || g.Rack != "r1" || g.AgentID != "e2e-agent" {
			t.Errorf("server %d: target/site/rack/agent = %s/%s/%s/%s, want %s/e2e/r1/e2e-agent", i, g.Target, g.Site, g.Rack, g.AgentID, w.Name)
		}
		if g.SerialNumber != w.SerialNumber || g.UUID != w.UUID || g.Model != w.Model ||
			g.Manufacturer != w.Manufacturer || g.BIOSVersion != w.BIOSVersion || g.PowerState != w.PowerState {
			t.Errorf("server %s: got serial %q uuid %q model %q manufacturer %q bios %q power %q\nwant serial %q uuid %q model %q manufacturer %q bios %q power %q",
				w.Name, g.SerialNumber, g.UUID, g.Model, g.Manufacturer, g.BIOSVersion, g.PowerState,
				w.SerialNumber, w.UUID, w.Model, w.Manufacturer, w.BIOSVersion, w.PowerState)
		}
		var gotMACs, wantMACs []string
		for _, n := range g.NICs {
			gotMACs = append(gotMACs, n.MACAddress)
		}
		for _, n := range w.NICs {
			wantMACs = append(wantMACs, n.MACAddress)
		}
		slices.Sort(gotMACs)
		slices.Sort(wantMACs)
		if !slices.Equal(gotMACs, wantMACs) {
			t.Errorf("server %s: NIC MACs %v, want %v", w.Name, gotMACs, wantMACs)
		}
	}
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func fetch(t *testing.T, url string) []apiServer {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var body struct {
		Servers []apiServer `json:"servers"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&body) != nil {
		return nil
	}
	return body.Servers
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	var last string
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s (last: %s)", limit, what, last)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
