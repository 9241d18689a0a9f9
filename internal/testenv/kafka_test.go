package testenv_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/racktrack/racktrack/internal/testenv"
)

// TestKafka writes with a kafka-go Writer (acks all, Hash balancer), reads
// everything back through a consumer group with commits, then restarts the
// broker on the same port and checks that writing works again and that the
// records and committed offsets survived.
func TestKafka(t *testing.T) {
	const (
		topic = "observations"
		group = "collector"
		n     = 1000
	)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	k := testenv.Kafka(t, topic)
	if got := len(k.Brokers()); got != 1 {
		t.Fatalf("Brokers() = %v, want one", k.Brokers())
	}
	if got := k.Cluster().ListenAddrs(); got[0] != k.Addr() {
		t.Fatalf("ListenAddrs() = %v, want [%s]", got, k.Addr())
	}

	// An own transport, so the test can close its idle connections.
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	w := &kafka.Writer{
		Addr:         kafka.TCP(k.Brokers()...),
		Topic:        topic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 5 * time.Millisecond,
		Transport:    transport,
	}
	defer w.Close()

	first := messages(0, n)
	begin := time.Now()
	if err := w.WriteMessages(ctx, first...); err != nil {
		t.Fatalf("write: %v", err)
	}
	t.Logf("wrote %d messages in %v", n, time.Since(begin))

	begin = time.Now()
	readGroup(t, ctx, k, topic, group, first)
	t.Logf("read and committed %d messages in %v", n, time.Since(begin))

	begin = time.Now()
	k.Stop()
	k.Stop() // idempotent
	t.Logf("stop took %v", time.Since(begin))
	if k.Running() || k.Cluster() != nil {
		t.Fatal("broker still running after Stop")
	}
	if conn, err := net.Dial("tcp", k.Addr()); !errors.Is(err, syscall.ECONNREFUSED) {
		if conn != nil {
			conn.Close()
		}
		t.Fatalf("dial stopped broker: %v, want connection refused", err)
	}

	begin = time.Now()
	if err := k.Start(); err != nil {
		t.Fatal(err)
	}
	if err := k.Start(); err != nil { // no-op on a running broker
		t.Fatal(err)
	}
	t.Logf("start took %v", time.Since(begin))
	if got := k.Cluster().ListenAddrs(); got[0] != k.Addr() {
		t.Fatalf("after restart ListenAddrs() = %v, want [%s]", got, k.Addr())
	}

	// The writer's connections died with the broker; it reconnects.
	second := messages(n, 10)
	begin = time.Now()
	if err := w.WriteMessages(ctx, second...); err != nil {
		t.Fatalf("write after restart: %v", err)
	}
	t.Logf("wrote %d messages after restart in %v", len(second), time.Since(begin))

	// The group's committed offsets survived: it reads only the new messages.
	readGroup(t, ctx, k, topic, group, second)
	// The records survived: a new group reads everything.
	readGroup(t, ctx, k, topic, group+"-new", append(first, second...))
}

func messages(from, n int) []kafka.Message {
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{
			Key:   fmt.Appendf(nil, "device-%d", (from+i)%17),
			Value: fmt.Appendf(nil, "observation-%d", from+i),
		}
	}
	return msgs
}

// readGroup consumes exactly want from topic as a member of group,
// committing each message, and checks that per key the values arrive in
// order. Then it checks that the group's committed offset is the end of every
// partition: nothing else is left to read.
func readGroup(t *testing.T, ctx context.Context, k *testenv.KafkaCluster, topic, group string, want []kafka.Message) {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:     k.Brokers(),
		GroupID:     group,
		Topic:       topic,
		StartOffset: kafka.FirstOffset,
		MaxWait:     50 * time.Millisecond,
	})
	defer func() {
		if err := r.Close(); err != nil {
			t.Errorf("group %s: close reader: %v", group, err)
		}
	}()

	wantByKey := map[string][]string{}
	for _, m := range want {
		wantByKey[string(m.Key)] = append(wantByKey[string(m.Key)], string(m.Value))
	}
	gotByKey := map[string][]string{}
	for range want {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("group %s: fetch: %v", group, err)
		}
		gotByKey[string(m.Key)] = append(gotByKey[string(m.Key)], string(m.Value))
		if err := r.CommitMessages(ctx, m); err != nil {
			t.Fatalf("group %s: commit: %v", group, err)
		}
	}
	for key, values := range wantByKey {
		if fmt.Sprint(gotByKey[key]) != fmt.Sprint(values) {
			t.Fatalf("group %s: key %s: got %v, want %v", group, key, gotByKey[key], values)
		}
	}
	assertNoLag(t, ctx, k, topic, group)
}

// assertNoLag checks that group has committed the end offset of every
// partition of topic.
func assertNoLag(t *testing.T, ctx context.Context, k *testenv.KafkaCluster, topic, group string) {
	t.Helper()
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(k.Brokers()...), Transport: transport}

	partitions := make([]int, testenv.DefaultPartitions)
	requests := make([]kafka.OffsetRequest, testenv.DefaultPartitions)
	for p := range partitions {
		partitions[p] = p
		requests[p] = kafka.LastOffsetOf(p)
	}
	ends, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: requests}})
	if err != nil {
		t.Fatalf("list offsets: %v", err)
	}
	committed, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: partitions}})
	if err != nil || committed.Error != nil {
		t.Fatalf("group %s: offset fetch: %v %v", group, err, committed.Error)
	}
	end := map[int]int64{}
	for _, p := range ends.Topics[topic] {
		if p.Error != nil {
			t.Fatalf("list offsets %s/%d: %v", topic, p.Partition, p.Error)
		}
		end[p.Partition] = p.LastOffset
	}
	if len(end) != testenv.DefaultPartitions {
		t.Fatalf("list offsets: %d partitions, want %d", len(end), testenv.DefaultPartitions)
	}
	for _, p := range committed.Topics[topic] {
		if p.Error != nil {
			t.Fatalf("group %s: offset fetch %s/%d: %v", group, topic, p.Partition, p.Error)
		}
		if p.CommittedOffset != end[p.Partition] {
			t.Fatalf("group %s: %s/%d committed %d, end %d", group, topic, p.Partition, p.CommittedOffset, end[p.Partition])
		}
	}
}
