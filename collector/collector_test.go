package collector_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/goleak"

	"github.com/racktrack/racktrack/collector"
	"github.com/racktrack/racktrack/collector/api"
	"github.com/racktrack/racktrack/collector/config"
	"github.com/racktrack/racktrack/collector/ingest"
	"github.com/racktrack/racktrack/collector/internal/fixture"
	"github.com/racktrack/racktrack/collector/store"
	"github.com/racktrack/racktrack/internal/chserver"
	"github.com/racktrack/racktrack/internal/testenv"
	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(testenv.WrapM(m)) }

const (
	topic  = config.DefaultTopic
	dlq    = config.DefaultDLQTopic
	events = config.DefaultEventsTopic
)

// waitTimeout bounds every wait for a condition; the conditions normally
// hold within a second or two.
const waitTimeout = 2 * time.Minute

// env is one test's peers.
type env struct {
	t     testing.TB
	ch    *chserver.Server
	db    string
	kafka *testenv.KafkaCluster
	// brokers are the Kafka bootstrap addresses (kafka's, or those of a
	// benchmark's own cluster).
	brokers []string
	st      *store.Store // the test's own view of the database
}

func newEnv(t testing.TB, ch *chserver.Server, partitions int32) *env {
	t.Helper()
	e := &env{t: t, ch: ch, db: testenv.ClickHouseDatabase(t, ch), kafka: testenv.KafkaPartitions(t, partitions, topic, dlq, events)}
	e.brokers = e.kafka.Brokers()
	e.openStore()
	return e
}

// openStore opens the test's own view of the database.
func (e *env) openStore() {
	t := e.t
	st, err := store.Open(store.Options{Addr: e.ch.Addr(), Database: e.db, Username: "default"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e.st = st
}

func (e *env) config() config.Config {
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.Kafka.Brokers = e.brokers
	cfg.ClickHouse.Addr = e.ch.Addr()
	cfg.ClickHouse.Database = e.db
	cfg.Batch.MaxWait = 20 * time.Millisecond
	return cfg
}

// testLogger logs to stderr when RACKTRACK_TEST_LOG is set (debug, info,
// warn or error), and discards otherwise.
func testLogger() *slog.Logger {
	v := os.Getenv("RACKTRACK_TEST_LOG")
	if v == "" {
		return nil
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(v))
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// running is a collector started by start.
type running struct {
	c      *collector.Collector
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned; err is its result
	err    error
	once   sync.Once
}

// start runs a collector until stop (or the test's end).
func (e *env) start(cfg config.Config) *running {
	e.t.Helper()
	return e.startWith(cfg, collector.Options{})
}

// startWith is start with options (the registry and logger are set here).
func (e *env) startWith(cfg config.Config, opts collector.Options) *running {
	e.t.Helper()
	reg := prometheus.NewRegistry()
	opts.Registry, opts.Logger = reg, testLogger()
	c, err := collector.New(cfg, opts)
	if err != nil {
		e.t.Fatalf("collector.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{c: c, reg: reg, cancel: cancel, done: make(chan struct{})}
	go func() {
		r.err = c.Run(ctx)
		close(r.done)
	}()
	e.t.Cleanup(func() { r.stop(e.t) })
	select {
	case <-c.Ready():
	case <-r.done:
		e.t.Fatalf("collector stopped before it was ready: %v", r.err)
	}
	return r
}

// stop cancels the collector and checks that Run returned nil.
func (r *running) stop(t testing.TB) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		<-r.done
		if r.err != nil {
			t.Errorf("collector Run: %v", r.err)
		}
	})
}

func (r *running) url(path string) string { return "http://" + r.c.Addr() + path }

// publish writes observations keyed by site/target, as agents do.
func (e *env) publish(obs ...*racktrackv1.Observation) {
	e.t.Helper()
	msgs := make([]kafka.Message, len(obs))
	for i, o := range obs {
		msgs[i] = kafka.Message{Key: []byte(o.GetSite() + "/" + o.GetTarget()), Value: fixture.Marshal(o)}
	}
	e.publishRaw(msgs...)
}

func (e *env) publishRaw(msgs ...kafka.Message) {
	e.t.Helper()
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	w := &kafka.Writer{
		Addr:         kafka.TCP(e.brokers...),
		Topic:        topic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond,
		BatchSize:    1000,
		Transport:    transport,
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		e.t.Fatalf("publish %d messages: %v", len(msgs), err)
	}
}

// waitFor polls cond until it returns true or waitTimeout passes.
func waitFor(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	var last string
	for {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last state: %s", what, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *env) count() uint64 {
	e.t.Helper()
	n, err := e.st.CountObservations(context.Background(), "")
	if err != nil {
		return 0 // ClickHouse may be stopped by the test
	}
	return n
}

// waitCount waits until the observations table holds n rows.
func (e *env) waitCount(n uint64) {
	e.t.Helper()
	waitFor(e.t, fmt.Sprintf("%d observations", n), func() (bool, string) {
		c := e.count()
		return c == n, fmt.Sprintf("%d rows", c)
	})
}

// servers builds count servers in two racks of site ams1.
func servers(count int) []fixture.Server {
	out := make([]fixture.Server, count)
	for i := range out {
		out[i] = fixture.Server{Site: "ams1", Rack: fmt.Sprintf("r%02d", i%2+1), Target: fmt.Sprintf("bmc-%03d", i), N: i + 1}
	}
	return out
}

// inventories returns rounds×len(srvs) observations by one agent, sequence
// 1…: each round polls every server once, and in round r BIOS version is
// "1.r".
func inventories(agent string, srvs []fixture.Server, rounds int) []*racktrackv1.Observation {
	var out []*racktrackv1.Observation
	seq := uint64(0)
	for r := 1; r <= rounds; r++ {
		for _, s := range srvs {
			seq++
			o := fixture.Inventory(agent, seq, s)
			o.GetServerInventory().System.BiosVersion = fmt.Sprintf("1.%d", r)
			out = append(out, o)
		}
	}
	return out
}

func getJSON(t *testing.T, url string, wantStatus int, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("GET %s: status %d, want %d; body %s", url, resp.StatusCode, wantStatus, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET %s: Content-Type %q", url, ct)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: decode %s: %v", url, body, err)
	}
}

// wantAPIServer is the API's view of s as last observed in obs.
func wantAPIServer(o *racktrackv1.Observation) api.Server {
	inv := o.GetServerInventory()
	sys, m := inv.GetSystem(), inv.GetManager()
	nics := []api.NIC{}
	for _, n := range inv.GetNics() {
		nics = append(nics, api.NIC{ID: n.Id, MACAddress: n.MacAddress, SpeedMbps: n.SpeedMbps, LinkStatus: n.LinkStatus})
	}
	return api.Server{
		Site: o.Site, Rack: o.Rack, Target: o.Target, AgentID: o.AgentId,
		SerialNumber: sys.SerialNumber, UUID: sys.Uuid, Manufacturer: sys.Manufacturer, Model: sys.Model,
		SKU: sys.Sku, BIOSVersion: sys.BiosVersion, PowerState: sys.PowerState, Health: sys.Health,
		AssetTag: sys.AssetTag, Hostname: sys.Hostname,
		Manager: api.Manager{Model: m.Model, FirmwareVersion: m.FirmwareVersion, MACAddress: m.MacAddress, IPAddress: m.IpAddress},
		NICs:    nics, ObservedAt: o.ObservedAt.AsTime(), ChangedAt: o.ObservedAt.AsTime(), Complete: true, Incomplete: []string{},
		Provenance:       api.Provenance{Source: "redfish", AgentID: o.AgentId, Target: o.Target, Sequence: o.Sequence, ObservedAt: o.ObservedAt.AsTime(), Stale: true},
		HealthProvenance: api.HealthProvenance{Kind: "server_inventory", ObservedAt: o.ObservedAt.AsTime()},
	}
}

// checkServers compares the API's server list with the newest observation
// of each server in obs, filtered by rack ("" for all).
func checkServers(t *testing.T, r *running, obs []*racktrackv1.Observation, rack string) {
	t.Helper()
	newest := map[string]*racktrackv1.Observation{}
	for _, o := range obs {
		if o.GetServerInventory() == nil || (rack != "" && o.Rack != rack) {
			continue
		}
		if p, ok := newest[o.Target]; !ok || o.Sequence > p.Sequence {
			newest[o.Target] = o
		}
	}
	url := r.url("/api/v1/servers?site=ams1")
	if rack != "" {
		url += "&rack=" + rack
	}
	var got api.ServerList
	getJSON(t, url, http.StatusOK, &got)
	if got.Count != len(newest) || len(got.Servers) != len(newest) {
		t.Fatalf("GET %s: %d servers (count %d), want %d", url, len(got.Servers), got.Count, len(newest))
	}
	for i, s := range got.Servers {
		want := wantAPIServer(newest[s.Target])
		// Age depends on the clock; the fixture's epoch is in the past, so
		// every fact is stale.
		want.Provenance.AgeSeconds = s.Provenance.AgeSeconds
		if !reflect.DeepEqual(s, want) {
			t.Errorf("server %d:\n got %+v\nwant %+v", i, s, want)
		}
		if i > 0 && got.Servers[i-1].Rack+got.Servers[i-1].Target > s.Rack+s.Target {
			t.Errorf("servers not ordered by rack, target at %d", i)
		}
	}
}

// TestIngestServersAndAPI publishes N observations (inventories of 40
// servers in 5 rounds, plus target status), checks that exactly N raw rows
// arrive, that current state is the last round, and the API's output.
func TestIngestServersAndAPI(t *testing.T) {
	e := newEnv(t, testenv.SharedClickHouse(t), 4)
	r := e.start(e.config())
	srvs := servers(40)
	obs := inventories("agent-1", srvs, 5)
	obs = append(obs,
		fixture.TargetStatus("agent-1", 1000, "ams1", "r01", "bmc-dead", false, "dial tcp 127.0.1.99:443: connect: connection refused"),
		fixture.TargetStatus("agent-1", 1001, "ams1", "r01", "bmc-000", true, ""),
	)
	e.publish(obs...)
	e.waitCount(uint64(len(obs)))

	checkServers(t, r, obs, "")
	checkServers(t, r, obs, "r02")
	var all api.ServerList
	getJSON(t, r.url("/api/v1/servers"), http.StatusOK, &all)
	if all.Count != 40 {
		t.Errorf("GET /api/v1/servers: %d servers, want 40", all.Count)
	}
	var none api.ServerList
	getJSON(t, r.url("/api/v1/servers?site=nowhere"), http.StatusOK, &none)
	if none.Count != 0 || none.Servers == nil {
		t.Errorf("GET ?site=nowhere: %+v, want an empty list", none)
	}

	if got, _ := metricValue(r.reg, "racktrack_collector_ingest_messages_total", "result", "stored"); got != float64(len(obs)) {
		t.Errorf("stored counter = %v, want %d", got, len(obs))
	}

	// Publishing the same observations again stores nothing new.
	e.publish(obs[:50]...)
	waitFor(t, "duplicates counted", func() (bool, string) {
		v, _ := metricValue(r.reg, "racktrack_collector_ingest_messages_total", "result", "duplicate")
		return v == 50, fmt.Sprintf("duplicate counter %v", v)
	})
	if n := e.count(); n != uint64(len(obs)) {
		t.Errorf("after re-publishing: %d rows, want %d", n, len(obs))
	}
	checkServers(t, r, obs, "")
}

// metricSum adds up every series of a counter family.
func metricSum(reg *prometheus.Registry, name string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		return 0
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// metricValue reads one series from reg.
func metricValue(reg *prometheus.Registry, name string, labels ...string) (float64, bool) {
	mfs, err := reg.Gather()
	if err != nil {
		return 0, false
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue series
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue(), true
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue(), true
			}
		}
	}
	return 0, false
}

// TestRestartRedelivers stops a collector mid-stream and starts another in
// the same group (which re-reads everything not committed), then replays
// the whole topic with a fresh group (nothing committed at all): no
// observation is lost or stored twice, and current state is the newest.
func TestRestartRedelivers(t *testing.T) {
	e := newEnv(t, testenv.SharedClickHouse(t), 4)
	cfg := e.config()
	cfg.Batch.MaxRows = 100
	srvs := servers(40)
	obs := inventories("agent-1", srvs, 30) // 1,200 observations
	first := e.start(cfg)
	e.publish(obs...)
	waitFor(t, "the first rows", func() (bool, string) {
		n := e.count()
		return n > 0, fmt.Sprintf("%d rows", n)
	})
	first.stop(t)
	t.Logf("first collector stopped after storing %d of %d observations", e.count(), len(obs))

	second := e.start(cfg)
	e.waitCount(uint64(len(obs)))
	second.stop(t)

	// A group with no committed offsets gets every message again.
	cfg.Kafka.GroupID = "replay"
	third := e.start(cfg)
	waitFor(t, "the replay to be read", func() (bool, string) {
		v, _ := metricValue(third.reg, "racktrack_collector_ingest_messages_total", "result", "duplicate")
		return v == float64(len(obs)), fmt.Sprintf("duplicate counter %v", v)
	})
	if n := e.count(); n != uint64(len(obs)) {
		t.Errorf("after replay: %d rows, want %d", n, len(obs))
	}
	checkServers(t, third, obs, "")
}

// TestPoisonMessage puts undecodable and invalid messages in the middle of
// a single partition: they are dead-lettered with the reason and their
// origin, and the messages after them are stored.
func TestPoisonMessage(t *testing.T) {
	e := newEnv(t, testenv.SharedClickHouse(t), 1)
	r := e.start(e.config())
	srvs := servers(3)
	before := inventories("agent-1", srvs, 1)
	noSeq := fixture.Inventory("agent-1", 99, srvs[0])
	noSeq.Sequence = 0
	after := inventories("agent-2", srvs, 4)[9:] // sequences 10-12: newer than agent-1's
	msgs := []kafka.Message{}
	for _, o := range before {
		msgs = append(msgs, kafka.Message{Key: []byte("ams1/" + o.Target), Value: fixture.Marshal(o)})
	}
	poison := []kafka.Message{
		{Key: []byte("ams1/garbage"), Value: []byte("\xff\xfe not protobuf"), Headers: []kafka.Header{{Key: "trace", Value: []byte("t-1")}}},
		{Key: []byte("ams1/bmc-000"), Value: fixture.Marshal(noSeq)},
	}
	msgs = append(msgs, poison...)
	for _, o := range after {
		msgs = append(msgs, kafka.Message{Key: []byte("ams1/" + o.Target), Value: fixture.Marshal(o)})
	}
	e.publishRaw(msgs...)
	e.waitCount(6)

	dead := readTopic(t, e.kafka, dlq, 2)
	wantReasons := []string{"not a racktrack.v1.Observation: ", "sequence is 0"}
	for i, m := range dead {
		h := headers(m)
		reason := h[ingest.HeaderReason]
		if i == 0 {
			reason = reason[:min(len(reason), len(wantReasons[0]))]
		}
		if reason != wantReasons[i] {
			t.Errorf("dead letter %d: reason %q, want %q", i, h[ingest.HeaderReason], wantReasons[i])
		}
		wantOffset := strconv.Itoa(3 + i)
		if h[ingest.HeaderTopic] != topic || h[ingest.HeaderPartition] != "0" || h[ingest.HeaderOffset] != wantOffset {
			t.Errorf("dead letter %d: origin %s/%s/%s, want %s/0/%s", i, h[ingest.HeaderTopic], h[ingest.HeaderPartition], h[ingest.HeaderOffset], topic, wantOffset)
		}
		if string(m.Key) != string(poison[i].Key) || string(m.Value) != string(poison[i].Value) {
			t.Errorf("dead letter %d: key/value %q/%q, want the original %q/%q", i, m.Key, m.Value, poison[i].Key, poison[i].Value)
		}
	}
	if h := headers(dead[0]); h["trace"] != "t-1" {
		t.Errorf("dead letter 0 lost the original header: %v", h)
	}
	if v, _ := metricValue(r.reg, "racktrack_collector_ingest_messages_total", "result", "invalid"); v != 2 {
		t.Errorf("invalid counter = %v, want 2", v)
	}
	if v, _ := metricValue(r.reg, "racktrack_collector_ingest_dead_letters_total"); v != 2 {
		t.Errorf("dead letters counter = %v, want 2", v)
	}
	checkServers(t, r, append(before, after...), "")
}

func headers(m kafka.Message) map[string]string {
	out := map[string]string{}
	for _, h := range m.Headers {
		out[h.Key] = string(h.Value)
	}
	return out
}

// readTopic reads n messages of a one-partition topic from the start.
func readTopic(t *testing.T, k *testenv.KafkaCluster, topic string, n int) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	rd := kafka.NewReader(kafka.ReaderConfig{Brokers: k.Brokers(), Topic: topic, Partition: 0, MaxWait: 50 * time.Millisecond})
	defer rd.Close()
	var out []kafka.Message
	for len(out) < n {
		m, err := rd.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read %s: %v (have %d of %d)", topic, err, len(out), n)
		}
		out = append(out, m)
	}
	return out
}

// TestClickHouseOutage kills ClickHouse while observations keep coming:
// ingest pauses and /healthz reports 503; when ClickHouse is back, every
// observation is stored exactly once.
func TestClickHouseOutage(t *testing.T) {
	// The scenario: ClickHouse gone for a whole minute while agents
	// keep publishing.
	const outage = time.Minute
	e := newEnv(t, testenv.ClickHouse(t), 4)
	cfg := e.config()
	cfg.Batch.MaxRows = 100
	r := e.start(cfg)
	srvs := servers(30)
	obs := inventories("agent-1", srvs, 60)
	e.publish(obs[:300]...)
	e.waitCount(300)
	var h api.Health
	getJSON(t, r.url("/healthz"), http.StatusOK, &h)

	if err := e.ch.Kill(); err != nil {
		t.Fatal(err)
	}
	// Load throughout the outage: the remaining observations arrive
	// evenly over the minute.
	rest := obs[300:]
	start := time.Now()
	for i := range rest {
		e.publish(rest[i])
		if i == 10 {
			waitFor(t, "ingest to pause", func() (bool, string) {
				v, _ := metricValue(r.reg, "racktrack_collector_ingest_paused")
				return v == 1, fmt.Sprintf("paused gauge %v", v)
			})
			getJSON(t, r.url("/healthz"), http.StatusServiceUnavailable, &h)
			if h.Status != "unavailable" || h.Reason == "" {
				t.Errorf("healthz during outage: %+v", h)
			}
		}
		time.Sleep(time.Until(start.Add(outage * time.Duration(i+1) / time.Duration(len(rest)))))
	}

	if err := e.ch.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.waitCount(uint64(len(obs)))
	getJSON(t, r.url("/healthz"), http.StatusOK, &h)
	if v, _ := metricValue(r.reg, "racktrack_collector_ingest_paused"); v != 0 {
		t.Errorf("paused gauge %v after recovery", v)
	}
	if v := metricSum(r.reg, "racktrack_collector_ingest_errors_total"); v == 0 {
		t.Errorf("no failed write counted during the outage")
	}
	checkServers(t, r, obs, "")
}

// TestAPIErrors checks the JSON errors for bad requests.
func TestAPIErrors(t *testing.T) {
	e := newEnv(t, testenv.SharedClickHouse(t), 1)
	r := e.start(e.config())
	tests := []struct {
		path   string
		status int
		want   string
	}{
		{"/api/v1/servers?sight=ams1", http.StatusBadRequest, `unknown query parameter "sight"`},
		{"/api/v1/servers?site=", http.StatusBadRequest, `query parameter "site" is empty`},
		{"/api/v1/servers?site=a&site=b", http.StatusBadRequest, `query parameter "site" given more than once`},
		{"/api/v1/nothing", http.StatusNotFound, "no such endpoint: GET /api/v1/nothing"},
	}
	for _, tt := range tests {
		var got api.Error
		getJSON(t, r.url(tt.path), tt.status, &got)
		if got.Error != tt.want {
			t.Errorf("GET %s: error %q, want %q", tt.path, got.Error, tt.want)
		}
	}
	resp, err := http.Get(r.url("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "racktrack_collector_ingest_messages_total") {
		t.Errorf("GET /metrics: %d, body lacks the ingest counter:\n%.500s", resp.StatusCode, body)
	}
}

// TestKafkaOutage stops the broker under a running collector and starts it
// again: the collector keeps running, and everything published before and
// after is stored once.
func TestKafkaOutage(t *testing.T) {
	e := newEnv(t, testenv.SharedClickHouse(t), 4)
	r := e.start(e.config())
	srvs := servers(20)
	obs := inventories("agent-1", srvs, 4)
	e.publish(obs[:40]...)
	e.waitCount(40)

	e.kafka.Stop()
	if err := e.kafka.Start(); err != nil {
		t.Fatal(err)
	}
	e.publish(obs[40:]...)
	e.waitCount(uint64(len(obs)))
	checkServers(t, r, obs, "")
	select {
	case <-r.done:
		t.Fatalf("collector stopped: %v", r.err)
	default:
	}
}
