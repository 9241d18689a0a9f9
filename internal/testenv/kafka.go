package testenv

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// DefaultPartitions is the partition count of the topics [Kafka] creates.
const DefaultPartitions = 4

// rebindTimeout bounds how long [KafkaCluster.Start] retries while its port is
// briefly held by someone else.
const rebindTimeout = 5 * time.Second

// KafkaCluster is a one-broker kfake cluster on a fixed loopback port. It can
// be stopped and started again on the same port, which clients see as a
// broker outage.
//
// The cluster persists its state (kfake.DataDir) to a directory of the test,
// so a restarted broker has the topics, records and committed group offsets it
// had when stopped, like a real broker after a restart. Connections, group
// memberships and in-flight requests are lost: clients must reconnect, rejoin
// and retry.
//
// The methods are safe for concurrent use.
type KafkaCluster struct {
	dir        string
	topics     []string
	partitions int32
	port       int

	mu sync.Mutex
	c  *kfake.Cluster // nil while stopped
}

// Kafka starts a one-broker kfake cluster on a free loopback port with topics
// created with [DefaultPartitions] partitions each, and stops it when the test
// ends.
func Kafka(t testing.TB, topics ...string) *KafkaCluster {
	t.Helper()
	return KafkaPartitions(t, DefaultPartitions, topics...)
}

// KafkaPartitions is like [Kafka] with the given partition count per topic.
func KafkaPartitions(t testing.TB, partitions int32, topics ...string) *KafkaCluster {
	t.Helper()
	if partitions < 1 {
		t.Fatalf("testenv: Kafka: %d partitions, want at least 1", partitions)
	}
	k := &KafkaCluster{
		dir:        t.TempDir(), // before Cleanup: the cluster is closed before the dir goes
		topics:     topics,
		partitions: partitions,
	}
	c, err := k.newCluster(0)
	if err != nil {
		t.Fatalf("testenv: start Kafka: %v", err)
	}
	port, err := portOf(c.ListenAddrs()[0])
	if err != nil {
		c.Close()
		t.Fatalf("testenv: start Kafka: %v", err)
	}
	k.port = port
	k.c = c
	t.Cleanup(k.Stop)
	return k
}

func (k *KafkaCluster) newCluster(port int) (*kfake.Cluster, error) {
	// Topics are seeded only into an empty data dir; a restart loads them.
	return kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.SeedTopics(k.partitions, k.topics...),
		kfake.DataDir(k.dir),
	)
}

// portOf returns the port of a "host:port" address.
func portOf(hostport string) (int, error) {
	_, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return 0, fmt.Errorf("parse listen address %q: %w", hostport, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return 0, fmt.Errorf("parse listen address %q: %w", hostport, err)
	}
	return port, nil
}

// Brokers returns the bootstrap addresses, the same before and after a
// restart.
func (k *KafkaCluster) Brokers() []string {
	return []string{k.Addr()}
}

// Addr returns the broker's address, "127.0.0.1:port".
func (k *KafkaCluster) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(k.port))
}

// Cluster returns the running kfake cluster, for control functions
// (Control, MoveTopicPartition, ...), or nil while stopped. A restart
// replaces it.
func (k *KafkaCluster) Cluster() *kfake.Cluster {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.c
}

// Running reports whether the broker is up.
func (k *KafkaCluster) Running() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.c != nil
}

// Stop closes the broker: its listener and all client connections close, and
// its state is saved. Stop is idempotent; [KafkaCluster.Start] brings the
// broker back.
func (k *KafkaCluster) Stop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.c == nil {
		return
	}
	k.c.Close()
	k.c = nil
}

// Start starts the broker again on the same port with the state saved by
// [KafkaCluster.Stop]. It does nothing if the broker is running. If the port
// is briefly in use (say, as the source port of some client connection) it
// retries for a few seconds.
func (k *KafkaCluster) Start() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.c != nil {
		return nil
	}
	deadline := time.Now().Add(rebindTimeout)
	for delay := 10 * time.Millisecond; ; delay = min(2*delay, 200*time.Millisecond) {
		c, err := k.newCluster(k.port)
		if err == nil {
			k.c = c
			return nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			return fmt.Errorf("testenv: restart Kafka on %s: %w", k.Addr(), err)
		}
		time.Sleep(delay)
	}
}

// Restart stops the broker and starts it again on the same port.
func (k *KafkaCluster) Restart() error {
	k.Stop()
	return k.Start()
}
