package collector_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/racktrack/racktrack/collector/internal/fixture"
	"github.com/racktrack/racktrack/internal/testenv"
	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
)

// BenchmarkIngest measures observations/s from kfake into ClickHouse
// through one collector: b.N ServerInventory observations (2,000 servers
// polled every 5 minutes; the first poll of each is new, later ones
// unchanged) are produced into a 4-partition topic while the
// collector, already running and in its group, consumes them; the clock
// stops when the last one is in ClickHouse. Producing is part of the
// measured time (it shares the CPU), so the figure is conservative.
//
//	go test -run '^$' -bench BenchmarkIngest -benchtime 100000x ./collector/
func BenchmarkIngest(b *testing.B) {
	for _, rows := range []int{5000, 50000} {
		for _, compression := range []string{"lz4", "none"} {
			b.Run(fmt.Sprintf("max_rows=%d/compression=%s", rows, compression), func(b *testing.B) {
				benchmarkIngest(b, rows, compression, inventoryStream)
			})
		}
	}
}

// BenchmarkIngestSteady is the same pipeline fed what agents send in
// steady state: every poll a target status and a health reading per
// server, inventory only when it changed (here: each server's first poll).
//
//	go test -run '^$' -bench BenchmarkIngestSteady -benchtime 400000x ./collector/
func BenchmarkIngestSteady(b *testing.B) {
	for _, rows := range []int{5000, 20000, 50000} {
		b.Run(fmt.Sprintf("max_rows=%d/compression=none", rows), func(b *testing.B) {
			benchmarkIngest(b, rows, "none", steadyStream)
		})
	}
}

// inventoryStream is observation i of a fleet that sends full inventory
// every poll: 2,000 servers polled every 5 minutes, the fleet spread over
// the interval.
func inventoryStream(i int, srvs []fixture.Server) *racktrackv1.Observation {
	fleet := len(srvs)
	o := fixture.Inventory("agent-bench", uint64(i+2), srvs[i%fleet])
	o.ObservedAt = timestamppb.New(fixture.Epoch.Add(time.Duration(i/fleet)*5*time.Minute + time.Duration(i%fleet)*100*time.Millisecond))
	return o
}

// steadyStream is observation i of a fleet in steady state: inventory once
// per server, then alternating target status and health with ten sensors.
func steadyStream(i int, srvs []fixture.Server) *racktrackv1.Observation {
	fleet := len(srvs)
	if i < fleet {
		return inventoryStream(i, srvs)
	}
	s := srvs[i%fleet]
	poll := (i - fleet) / (2 * fleet)
	at := fixture.Epoch.Add(time.Duration(poll+1)*time.Minute + time.Duration(i%fleet)*10*time.Millisecond)
	if (i/fleet)%2 == 1 {
		o := fixture.TargetStatus("agent-bench", uint64(i+2), s.Site, s.Rack, s.Target, true, "")
		o.ObservedAt = timestamppb.New(at)
		return o
	}
	h := &racktrackv1.ServerHealth{Health: "OK", PowerState: "On", PowerConsumedWatts: 312}
	for k := range 10 {
		h.Sensors = append(h.Sensors, &racktrackv1.Sensor{Name: fmt.Sprintf("Temp %d", k), Kind: "temperature", Reading: 30 + float64(k), Units: "Cel", Health: "OK"})
	}
	return &racktrackv1.Observation{
		AgentId: "agent-bench", Site: s.Site, Rack: s.Rack, Source: racktrackv1.Source_SOURCE_REDFISH, Target: s.Target,
		ObservedAt: timestamppb.New(at), Sequence: uint64(i + 2), Complete: true,
		Payload: &racktrackv1.Observation_ServerHealth{ServerHealth: h},
	}
}

func benchmarkIngest(b *testing.B, maxRows int, compression string, stream func(int, []fixture.Server) *racktrackv1.Observation) {
	b.ReportAllocs()
	// A broker without a data directory: what is measured is the
	// collector, not the test broker's persistence.
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, topic, dlq, events))
	if err != nil {
		b.Fatal(err)
	}
	defer cluster.Close()
	ch := testenv.SharedClickHouse(b)
	e := &env{t: b, ch: ch, db: testenv.ClickHouseDatabase(b, ch), brokers: cluster.ListenAddrs()}
	e.openStore()
	cfg := e.config()
	cfg.Batch.MaxRows = maxRows
	cfg.ClickHouse.Compression = compression
	cfg.Batch.MaxWait = 200 * time.Millisecond

	const fleet = 2000
	srvs := servers(fleet)
	msgs := make([]kafka.Message, b.N)
	size := 0
	for i := range msgs {
		o := stream(i, srvs)
		msgs[i] = kafka.Message{Key: []byte(o.Site + "/" + o.Target), Value: fixture.Marshal(o)}
		size += len(msgs[i].Value)
	}

	r := e.start(cfg)
	// Warm up: one stored message proves the collector has migrated and
	// joined its group.
	e.publish(fixture.Inventory("agent-bench", 1, srvs[0]))
	e.waitCount(1)

	b.ResetTimer()
	start := time.Now()
	selfCPU, chCPU := cpuSeconds(b, os.Getpid()), cpuSeconds(b, ch.PID())
	produce(b, e.brokers, msgs)
	produced := time.Since(start)
	e.waitCount(uint64(b.N) + 1)
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "obs/s")
	// Where the two cores went: this process (collector, kfake and the
	// producer) and the ClickHouse server, in cores busy on average.
	b.ReportMetric((cpuSeconds(b, os.Getpid())-selfCPU)/elapsed.Seconds(), "proc-cores")
	b.ReportMetric((cpuSeconds(b, ch.PID())-chCPU)/elapsed.Seconds(), "clickhouse-cores")
	b.Logf("%d observations of %d bytes: produced in %v, all stored after %v", b.N, size/b.N, produced, elapsed)
	r.stop(b)
}

// cpuSeconds returns the user and system CPU time process pid has used,
// from /proc/PID/stat.
func cpuSeconds(b *testing.B, pid int) float64 {
	b.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatalf("read CPU time: %v", err)
	}
	// Fields after the parenthesised command name; utime and stime are
	// fields 14 and 15 of the whole line, in clock ticks (100 per second
	// on Linux).
	rest := string(stat[bytes.LastIndexByte(stat, ')')+2:])
	f := strings.Fields(rest)
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("parse /proc/%d/stat: %q", pid, rest)
	}
	return (utime + stime) / 100
}

// produce writes msgs in chunks with one writer.
func produce(b *testing.B, brokers []string, msgs []kafka.Message) {
	b.Helper()
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	w := &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Topic:        topic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond,
		BatchSize:    5000,
		Transport:    transport,
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for len(msgs) > 0 {
		n := min(len(msgs), 20000)
		if err := w.WriteMessages(ctx, msgs[:n]...); err != nil {
			b.Fatalf("produce: %v", err)
		}
		msgs = msgs[n:]
	}
}
