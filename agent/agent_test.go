package agent_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"google.golang.org/protobuf/proto"

	"github.com/racktrack/racktrack/agent"
	"github.com/racktrack/racktrack/agent/config"
	"github.com/racktrack/racktrack/agent/spool"
	"github.com/racktrack/racktrack/collector"
	collectorconfig "github.com/racktrack/racktrack/collector/config"
	"github.com/racktrack/racktrack/internal/testenv"
	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
	"github.com/racktrack/racktrack/providers/redfish/redfishsim"
)

const topic = "racktrack.observations"

func TestMain(m *testing.M) { testenv.Main(m) }

// site is a simulated rack: BMCs over HTTPS and an agent config for them.
type site struct {
	sim    *redfishsim.Sim
	dir    string
	caFile string
}

// newSite starts n BMCs from firstIP; every test uses its own address
// range so tests can share the machine.
func newSite(t testing.TB, n int, firstIP string) *site {
	t.Helper()
	sim, err := redfishsim.Start(context.Background(), redfishsim.Options{
		Servers: redfishsim.GenerateServers("t", "r1", n),
		FirstIP: netip.MustParseAddr(firstIP),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	s := &site{sim: sim, dir: t.TempDir()}
	s.caFile = filepath.Join(s.dir, "ca.pem")
	if err := sim.WriteCAFile(s.caFile); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RACKTRACK_TEST_BMC_PASSWORD", redfishsim.DefaultPassword)
	return s
}

// config renders an agent config polling the first n BMCs.
func (s *site) config(brokers []string, interval string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "agent_id: t-agent\nsite: t\nrack: r1\nstate_dir: %s\nlisten: 127.0.0.1:0\npoll_interval: %s\nsnapshot_interval: %s\nbackoff_max: 10s\nkafka:\n  brokers: [%s]\n  write_timeout: 2s\ntargets:\n",
		filepath.Join(s.dir, "state"), interval, interval, strings.Join(brokers, ", "))
	for _, bmc := range s.sim.BMCs()[:n] {
		fmt.Fprintf(&b, "  - name: %s\n    redfish:\n      url: %s\n      username: %s\n      password: {env: RACKTRACK_TEST_BMC_PASSWORD}\n      ca_file: %s\n",
			bmc.Server().Name, bmc.URL, redfishsim.DefaultUsername, s.caFile)
	}
	return b.String()
}

// runCollector runs the collector in process until the test ends and
// returns a ClickHouse counter of t-agent's observations.
func runCollector(t *testing.T, brokers []string) func() (rows, distinct uint64) {
	t.Helper()
	ch := testenv.SharedClickHouse(t)
	db := testenv.ClickHouseDatabase(t, ch)
	cfg, err := collectorconfig.Parse("collector.yml", []byte(fmt.Sprintf(
		"listen: 127.0.0.1:0\nkafka:\n  brokers: [%s]\nclickhouse:\n  addr: %s\n  database: %s\n",
		strings.Join(brokers, ", "), ch.Addr(), db)))
	if err != nil {
		t.Fatal(err)
	}
	c, err := collector.New(cfg, collector.Options{Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("collector: %v", err)
		}
	})
	conn := testenv.ClickHouseConn(t, ch, db)
	return func() (rows, distinct uint64) {
		row := conn.QueryRow(context.Background(),
			"SELECT count(), uniqExact(sequence) FROM observations WHERE agent_id = 't-agent'")
		if err := row.Scan(&rows, &distinct); err != nil {
			return 0, 0
		}
		return rows, distinct
	}
}

// runAgent runs an agent in process for cfg until the test ends and
// returns it once its HTTP endpoint listens.
func runAgent(t *testing.T, cfg *config.Config, opts agent.Options) *agent.Agent {
	t.Helper()
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	a, err := agent.New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	})
	select {
	case <-a.Ready():
	case err := <-done:
		done <- err
		t.Fatalf("agent stopped before it was ready: %v", err)
	}
	return a
}

// readTopic returns every message on the topic, per partition in offset
// order.
func readTopic(t *testing.T, brokers []string) [][]kafka.Message {
	t.Helper()
	conn, err := kafka.Dial("tcp", brokers[0])
	if err != nil {
		t.Fatal(err)
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]kafka.Message
	for _, p := range parts {
		pc, err := kafka.DialLeader(context.Background(), "tcp", brokers[0], topic, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		last, err := pc.ReadLastOffset()
		if err != nil {
			t.Fatal(err)
		}
		pc.Close()
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p.ID, MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 100 * time.Millisecond})
		var msgs []kafka.Message
		for int64(len(msgs)) < last {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			m, err := r.ReadMessage(ctx)
			cancel()
			if err != nil {
				t.Fatalf("read partition %d at %d of %d: %v", p.ID, len(msgs), last, err)
			}
			msgs = append(msgs, m)
		}
		r.Close()
		out = append(out, msgs)
	}
	return out
}

// checkPerTargetOrder asserts that, per key, the first delivery of each
// sequence comes in increasing order, and returns the distinct sequences.
func checkPerTargetOrder(t *testing.T, parts [][]kafka.Message) map[uint64]bool {
	t.Helper()
	seen := map[uint64]bool{}
	lastByKey := map[string]uint64{}
	for _, msgs := range parts {
		for _, m := range msgs {
			var o racktrackv1.Observation
			if err := proto.Unmarshal(m.Value, &o); err != nil {
				t.Fatalf("undecodable observation at partition %d offset %d: %v", m.Partition, m.Offset, err)
			}
			if seen[o.Sequence] {
				continue // a redelivery; the collector drops it
			}
			seen[o.Sequence] = true
			if k := string(m.Key); o.Sequence <= lastByKey[k] {
				t.Errorf("key %s: sequence %d delivered after %d", k, o.Sequence, lastByKey[k])
			} else {
				lastByKey[k] = o.Sequence
			}
		}
	}
	return seen
}

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
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s (last: %s)", limit, what, last)
}

// TestBrokerOutage: the broker is unreachable for two minutes while 100
// targets are polled every 5 s. After it returns, ClickHouse holds every
// observation the agent made exactly once, in per-target order.
func TestBrokerOutage(t *testing.T) {
	const targets, outage = 100, 2 * time.Minute
	k := testenv.Kafka(t, topic, "racktrack.observations.dlq", "racktrack.events")
	count := runCollector(t, k.Brokers())
	s := newSite(t, targets, "127.0.20.1")
	cfg, err := config.Parse("agent.yml", []byte(s.config(k.Brokers(), "5s", targets)))
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(cfg, agent.Options{Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("agent: %v", err)
			}
		}
	}
	t.Cleanup(stop)

	waitFor(t, 30*time.Second, "observations before the outage", func() (bool, string) {
		_, d := count()
		return d >= targets, fmt.Sprintf("%d distinct", d)
	})
	k.Stop()
	before := a.LastSequence()
	time.Sleep(outage) // the outage itself: the agent keeps polling into its spool
	during := a.LastSequence() - before
	if err := k.Start(); err != nil {
		t.Fatal(err)
	}
	// 100 targets every 5 s for 2 minutes make about 24 polls each.
	if during < targets*20 {
		t.Fatalf("agent made only %d observations during the outage; it should have kept polling", during)
	}
	waitFor(t, 60*time.Second, "the backlog to reach ClickHouse", func() (bool, string) {
		_, d := count()
		return d >= a.LastSequence()-2*targets, fmt.Sprintf("%d distinct of %d", d, a.LastSequence())
	})
	stop()
	last := a.LastSequence()
	waitFor(t, 60*time.Second, "every observation in ClickHouse", func() (bool, string) {
		rows, d := count()
		return rows == last && d == last, fmt.Sprintf("%d rows, %d distinct, want %d", rows, d, last)
	})
	seen := checkPerTargetOrder(t, readTopic(t, k.Brokers()))
	for seq := uint64(1); seq <= last; seq++ {
		if !seen[seq] {
			t.Fatalf("sequence %d never reached Kafka", seq)
		}
	}
	t.Logf("outage of %s: %d observations spooled during it, %d in all, each exactly once in ClickHouse", outage, during, last)
}

// agentProc runs the agent binary so a test can SIGKILL or SIGHUP it.
type agentProc struct {
	cmd  *exec.Cmd
	logs *testenv.Output
}

var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "racktrack-agent-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "racktrack-agent")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/racktrack/racktrack/cmd/racktrack-agent").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

func startAgent(t testing.TB, cfgPath string) *agentProc {
	t.Helper()
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	p := &agentProc{cmd: exec.Command(bin, "-config", cfgPath, "-log-level", "debug"), logs: &testenv.Output{}}
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
		if t.Failed() {
			t.Logf("agent output:\n%s", p.logs.String())
		}
	})
	return p
}

// TestKilledMidPublish: SIGKILL while publishing, restart: nothing lost,
// and after the collector's de-duplication nothing duplicated.
func TestKilledMidPublish(t *testing.T) {
	k := testenv.Kafka(t, topic, "racktrack.observations.dlq", "racktrack.events")
	count := runCollector(t, k.Brokers())
	s := newSite(t, 10, "127.0.21.1")
	cfgPath := filepath.Join(s.dir, "agent.yml")
	if err := os.WriteFile(cfgPath, []byte(s.config(k.Brokers(), "1s", 10)), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startAgent(t, cfgPath)
	waitFor(t, 30*time.Second, "the first observations", func() (bool, string) {
		_, d := count()
		return d >= 30, fmt.Sprintf("%d distinct", d)
	})
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()

	// What the dead agent had accepted: everything up to its spool's last
	// record. A restarted agent continues after its reserved block.
	firstRun := spoolLastSeq(t, filepath.Join(s.dir, "state", "spool"))
	p2 := startAgent(t, cfgPath)
	waitFor(t, 30*time.Second, "the restarted agent to publish", func() (bool, string) {
		_, d := count()
		return d >= firstRun+30, fmt.Sprintf("%d distinct", d)
	})
	if err := p2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p2.cmd.Wait(); err != nil {
		t.Fatalf("agent exit after SIGTERM: %v\n%s", err, p2.logs.String())
	}
	seen := checkPerTargetOrder(t, readTopic(t, k.Brokers()))
	for seq := uint64(1); seq <= firstRun; seq++ {
		if !seen[seq] {
			t.Fatalf("sequence %d, accepted before the kill, never reached Kafka", seq)
		}
	}
	want := uint64(len(seen))
	waitFor(t, 60*time.Second, "ClickHouse to hold every observation once", func() (bool, string) {
		rows, d := count()
		return rows == want && d == want, fmt.Sprintf("%d rows, %d distinct, want %d", rows, d, want)
	})
}

func spoolLastSeq(t *testing.T, dir string) uint64 {
	t.Helper()
	sp, err := spool.Open(dir, spool.Options{})
	if err != nil {
		t.Fatalf("open the dead agent's spool: %v", err)
	}
	defer sp.Close()
	return sp.LastSeq()
}

// TestReloadOnHangup: SIGHUP with an invalid file keeps the running
// config; with a valid one, a new target is polled without a restart.
func TestReloadOnHangup(t *testing.T) {
	k := testenv.Kafka(t, topic)
	s := newSite(t, 2, "127.0.22.1")
	cfgPath := filepath.Join(s.dir, "agent.yml")
	if err := os.WriteFile(cfgPath, []byte(s.config(k.Brokers(), "1s", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startAgent(t, cfgPath)
	targetsSeen := func() map[string]bool {
		keys := map[string]bool{}
		for _, msgs := range readTopic(t, k.Brokers()) {
			for _, m := range msgs {
				keys[string(m.Key)] = true
			}
		}
		return keys
	}
	first, second := "t/"+s.sim.BMCs()[0].Server().Name, "t/"+s.sim.BMCs()[1].Server().Name
	waitFor(t, 30*time.Second, "the first target's observations", func() (bool, string) {
		k := targetsSeen()
		return k[first], fmt.Sprint(k)
	})

	// An invalid file: refused, named precisely, the agent keeps running.
	if err := os.WriteFile(cfgPath, []byte(strings.Replace(s.config(k.Brokers(), "1s", 2), "poll_interval: 1s", "poll_interval: 1s\npoll_intervall: 2s", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the refusal in the log", func() (bool, string) {
		l := p.logs.String()
		return strings.Contains(l, "reload refused") && strings.Contains(l, "field poll_intervall not found"), ""
	})
	if p.cmd.ProcessState != nil {
		t.Fatal("agent exited on an invalid reload")
	}
	if targetsSeen()[second] {
		t.Fatal("the second target was polled although its config was refused")
	}

	// A valid file adds the second target.
	if err := os.WriteFile(cfgPath, []byte(s.config(k.Brokers(), "1s", 2)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the second target's observations", func() (bool, string) {
		k := targetsSeen()
		return k[second], fmt.Sprint(k)
	})
	if !strings.Contains(p.logs.String(), "reloaded configuration") {
		t.Errorf("no reload line in the log")
	}
}
