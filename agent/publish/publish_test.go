package publish_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/racktrack/racktrack/agent/config"
	"github.com/racktrack/racktrack/agent/publish"
	"github.com/racktrack/racktrack/agent/spool"
	"github.com/racktrack/racktrack/internal/testenv"
)

const topic = "racktrack.observations"

func TestMain(m *testing.M) { testenv.Main(m) }

func newSpool(tb testing.TB) *spool.Spool {
	tb.Helper()
	sp, err := spool.Open(tb.TempDir(), spool.Options{SyncInterval: 10 * time.Millisecond})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { sp.Close() })
	return sp
}

func start(tb testing.TB, k *testenv.KafkaCluster, sp *spool.Spool) *prometheus.Registry {
	tb.Helper()
	reg := prometheus.NewRegistry()
	p, err := publish.New(config.KafkaConfig{Brokers: k.Brokers(), Topic: topic, Compression: "snappy", WriteTimeout: 2 * time.Second},
		sp, publish.Options{BackoffMin: 50 * time.Millisecond, BackoffMax: 500 * time.Millisecond, Registerer: reg})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("publisher: %v", err)
		}
		p.Close()
	})
	return reg
}

func kafkaErrors(reg *prometheus.Registry) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "racktrack_agent_kafka_errors_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

func appendN(tb testing.TB, sp *spool.Spool, from, n int) {
	tb.Helper()
	for i := from; i < from+n; i++ {
		err := sp.Append(spool.Record{Seq: uint64(i), Key: []byte(fmt.Sprintf("s/t%d", i%7)), Value: []byte(fmt.Sprintf("v%d", i)), Class: spool.ClassInventory})
		if err != nil {
			tb.Fatal(err)
		}
	}
}

func drained(sp *spool.Spool) bool { return sp.Stats().Records == 0 }

func waitFor(tb testing.TB, limit time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// consumed reads every value on the topic.
func consumed(t *testing.T, k *testenv.KafkaCluster, want int) []string {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: k.Brokers(), Topic: topic, GroupID: "check", MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	var vals []string
	for len(vals) < want {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		m, err := r.ReadMessage(ctx)
		cancel()
		if err != nil {
			t.Fatalf("after %d of %d messages: %v", len(vals), want, err)
		}
		vals = append(vals, string(m.Key)+"="+string(m.Value))
	}
	return vals
}

// TestOutageKeepsRecords: while the broker is down nothing leaves the
// spool; when it is back, everything is delivered, keyed as appended.
func TestOutageKeepsRecords(t *testing.T) {
	k := testenv.Kafka(t, topic)
	sp := newSpool(t)
	reg := start(t, k, sp)
	appendN(t, sp, 1, 100)
	waitFor(t, 10*time.Second, "the first batch to be acknowledged", func() bool { return drained(sp) })

	k.Stop()
	appendN(t, sp, 101, 100)
	waitFor(t, 30*time.Second, "failed produce attempts", func() bool { return kafkaErrors(reg) >= 3 })
	if got := sp.Stats().Records; got != 100 {
		t.Fatalf("spool holds %d records during the outage, want all 100 appended since", got)
	}
	if err := k.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the backlog after the outage", func() bool { return drained(sp) })

	got := consumed(t, k, 200)
	var want []string
	for i := 1; i <= 200; i++ {
		want = append(want, fmt.Sprintf("s/t%d=v%d", i%7, i))
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("topic holds %d messages that differ from the 200 appended", len(got))
	}
}

// BenchmarkPublishLatency is one record's trip from the spool to an
// acknowledgement by kfake (acks=all): append, publisher wakes, produce,
// ack. Reports p50 and p99.
func BenchmarkPublishLatency(b *testing.B) {
	k := testenv.Kafka(b, topic)
	sp := newSpool(b)
	start(b, k, sp)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		appendN(b, sp, i+1, 1)
		for !drained(sp) {
			time.Sleep(50 * time.Microsecond)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
}
