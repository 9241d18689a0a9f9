package collector_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/racktrack/racktrack/collector/internal/fixture"
	"github.com/racktrack/racktrack/internal/testenv"
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
				benchmarkIngest(b, rows, compression)
			})
		}
	}
}

func benchmarkIngest(b *testing.B, maxRows int, compression string) {
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
		// Each server is polled every 5 minutes, the fleet spread over
		// the interval.
		o := fixture.Inventory("agent-bench", uint64(i+2), srvs[i%fleet])
		o.ObservedAt = timestamppb.New(fixture.Epoch.Add(time.Duration(i/fleet)*5*time.Minute + time.Duration(i%fleet)*100*time.Millisecond))
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
	produce(b, e.brokers, msgs)
	produced := time.Since(start)
	e.waitCount(uint64(b.N) + 1)
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "obs/s")
	b.Logf("%d observations of %d bytes: produced in %v, all stored after %v", b.N, size/b.N, produced, elapsed)
	r.stop(b)
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
