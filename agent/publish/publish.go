// Package publish moves spooled observations to Kafka. The publisher owns
// nothing but its writer: records stay in the spool until Kafka has
// acknowledged them (acks=all), so a broker outage delays delivery and never
// drops a record. Failed batches are returned to the spool and retried, in
// order, with capped exponential backoff.
package publish

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/racktrack/racktrack/agent/config"
	"github.com/racktrack/racktrack/agent/spool"
)

// queue is the part of the spool the publisher uses.
type queue interface {
	Next(ctx context.Context, max int) ([]spool.Record, error)
	Ack(seqs ...uint64) error
	Nack(seqs ...uint64) error
}

// Options tune a Publisher.
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// BatchSize is the most records sent in one produce call (default 500).
	BatchSize int
	// BackoffMin and BackoffMax bound the retry delay after a failed batch.
	BackoffMin, BackoffMax time.Duration
}

// Publisher writes spooled records to one Kafka topic.
type Publisher struct {
	w      *kafka.Writer
	q      queue
	log    *slog.Logger
	opts   Options
	m      *metrics
	broker []string

	mu           sync.Mutex
	failingSince time.Time // zero while deliveries succeed
	lastErr      error
}

// Health says whether the last produce call succeeded and, if not, since
// when deliveries have been failing and why.
func (p *Publisher) Health() (ok bool, since time.Time, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failingSince.IsZero(), p.failingSince, p.lastErr
}

func (p *Publisher) record(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err == nil {
		p.failingSince, p.lastErr = time.Time{}, nil
		return
	}
	if p.failingSince.IsZero() {
		p.failingSince = time.Now()
	}
	p.lastErr = err
}

// New builds a publisher for cfg reading from q. It does not dial.
func New(cfg config.KafkaConfig, q queue, opts Options) (*Publisher, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 500
	}
	if opts.BackoffMin <= 0 {
		opts.BackoffMin = 200 * time.Millisecond
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = 30 * time.Second
	}
	tr, err := transport(cfg)
	if err != nil {
		return nil, err
	}
	w := &kafka.Writer{
		Addr:         kafka.TCP(cfg.Brokers...),
		Topic:        cfg.Topic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		MaxAttempts:  1, // retries are ours, so failed records go back to the spool
		BatchSize:    opts.BatchSize,
		BatchTimeout: time.Millisecond, // batching is done by reading the spool; do not wait for more
		WriteTimeout: cfg.WriteTimeout,
		ReadTimeout:  cfg.WriteTimeout,
		Transport:    tr,
	}
	switch cfg.Compression {
	case "gzip":
		w.Compression = kafka.Gzip
	case "snappy":
		w.Compression = kafka.Snappy
	case "lz4":
		w.Compression = kafka.Lz4
	case "zstd":
		w.Compression = kafka.Zstd
	}
	return &Publisher{w: w, q: q, log: opts.Logger, opts: opts, m: newMetrics(opts.Registerer), broker: cfg.Brokers}, nil
}

func transport(cfg config.KafkaConfig) (*kafka.Transport, error) {
	tr := &kafka.Transport{
		Dial:        (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		DialTimeout: 10 * time.Second,
		IdleTimeout: 30 * time.Second,
		ClientID:    "racktrack-agent",
	}
	if t := cfg.TLS; t != nil {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // explicit opt-in
		if t.CAFile != "" {
			pem, err := os.ReadFile(t.CAFile)
			if err != nil {
				return nil, fmt.Errorf("kafka tls: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("kafka tls: %s: no PEM certificate found", t.CAFile)
			}
			tc.RootCAs = pool
		}
		if t.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("kafka tls: client certificate: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		tr.TLS = tc
	}
	if s := cfg.SASL; s != nil {
		pw, err := s.Password.Resolve()
		if err != nil {
			return nil, fmt.Errorf("kafka sasl: password: %w", err)
		}
		var mech sasl.Mechanism
		switch s.Mechanism {
		case "PLAIN":
			mech = plain.Mechanism{Username: s.Username, Password: pw.Reveal()}
		case "SCRAM-SHA-256", "SCRAM-SHA-512":
			algo := scram.SHA256
			if s.Mechanism == "SCRAM-SHA-512" {
				algo = scram.SHA512
			}
			mech, err = scram.Mechanism(algo, s.Username, pw.Reveal())
			if err != nil {
				return nil, fmt.Errorf("kafka sasl: %w", err)
			}
		default:
			return nil, fmt.Errorf("kafka sasl: unknown mechanism %q", s.Mechanism)
		}
		tr.SASL = mech
	}
	return tr, nil
}

// Run publishes until ctx is done. It returns nil on cancellation: what
// was not acknowledged stays in the spool for the next run.
func (p *Publisher) Run(ctx context.Context) error {
	failures := 0
	for {
		recs, err := p.q.Next(ctx, p.opts.BatchSize)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("publish: read spool: %w", err)
		}
		err = p.send(ctx, recs)
		if ctx.Err() != nil {
			return nil
		}
		p.record(err)
		if err != nil {
			failures++
			d := p.backoff(failures)
			p.log.Warn("kafka produce failed; records kept in spool",
				"brokers", p.broker, "records", len(recs), "retry_in", d, "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(d):
			}
			continue
		}
		failures = 0
	}
}

// Flush publishes what the spool holds until nothing is ready or ctx is
// done, for a bounded drain at shutdown. It does not wait for new records.
func (p *Publisher) Flush(ctx context.Context) error {
	for {
		// A short wait tells "empty" from "records on their way back
		// from a cancelled produce call".
		nctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		recs, err := p.q.Next(nctx, p.opts.BatchSize)
		cancel()
		if err != nil {
			return nil // nothing ready, or ctx is done
		}
		if err := p.send(ctx, recs); err != nil {
			return err
		}
	}
}

// send writes one batch and settles every record with the spool: acked if
// Kafka took it, handed back otherwise.
func (p *Publisher) send(ctx context.Context, recs []spool.Record) error {
	msgs := make([]kafka.Message, len(recs))
	for i, r := range recs {
		msgs[i] = kafka.Message{Key: r.Key, Value: r.Value}
	}
	start := time.Now()
	err := p.w.WriteMessages(ctx, msgs...)
	p.m.latency.Observe(time.Since(start).Seconds())
	var acked, failed []uint64
	var werrs kafka.WriteErrors
	switch {
	case err == nil:
		for _, r := range recs {
			acked = append(acked, r.Seq)
		}
	case errors.As(err, &werrs) && len(werrs) == len(recs):
		for i, r := range recs {
			if werrs[i] == nil {
				acked = append(acked, r.Seq)
			} else {
				failed = append(failed, r.Seq)
			}
		}
	default:
		for _, r := range recs {
			failed = append(failed, r.Seq)
		}
	}
	if len(acked) > 0 {
		if aerr := p.q.Ack(acked...); aerr != nil {
			return fmt.Errorf("publish: ack spool: %w", aerr)
		}
		p.m.published.Add(float64(len(acked)))
	}
	if len(failed) > 0 {
		p.m.errors.Inc()
		if nerr := p.q.Nack(failed...); nerr != nil {
			return errors.Join(err, fmt.Errorf("publish: return records to spool: %w", nerr))
		}
		return fmt.Errorf("kafka %v: produce %d of %d records: %w", p.broker, len(failed), len(recs), err)
	}
	return nil
}

func (p *Publisher) backoff(failures int) time.Duration {
	d := p.opts.BackoffMin << min(failures-1, 16)
	if d > p.opts.BackoffMax || d <= 0 {
		d = p.opts.BackoffMax
	}
	// Up to 20% jitter so agents behind one broker do not retry in step.
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}

// Close releases the writer's connections.
func (p *Publisher) Close() error { return p.w.Close() }

type metrics struct {
	latency   prometheus.Histogram
	published prometheus.Counter
	errors    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "racktrack_agent_publish_seconds",
			Help:    "Time for one produce call to Kafka (acks=all).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "racktrack_agent_published_records_total",
			Help: "Records acknowledged by Kafka and removed from the spool.",
		}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "racktrack_agent_kafka_errors_total",
			Help: "Produce calls that failed; their records were kept for retry.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.latency, m.published, m.errors)
	}
	return m
}
