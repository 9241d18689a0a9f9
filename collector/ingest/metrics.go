package ingest

import "github.com/prometheus/client_golang/prometheus"

// metrics are the ingest stage's Prometheus series.
type metrics struct {
	messages     *prometheus.CounterVec // by result: stored, duplicate, invalid
	batches      prometheus.Counter
	batchSize    prometheus.Histogram
	writeSeconds prometheus.Histogram
	errors       *prometheus.CounterVec // by op
	retrying     prometheus.Gauge
	dlq          prometheus.Counter
	lastCommit   prometheus.Gauge
	events       prometheus.Counter
	sweeps       prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "racktrack_collector_ingest_messages_total",
			Help: "Kafka messages handled, by result: stored, duplicate (already stored), invalid (dead-lettered).",
		}, []string{"result"}),
		batches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "racktrack_collector_ingest_batches_total",
			Help: "Batches written to ClickHouse and committed.",
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "racktrack_collector_ingest_batch_messages",
			Help:    "Messages per batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 10),
		}),
		writeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "racktrack_collector_ingest_batch_duration_seconds",
			Help:    "Time from a batch's last message to its commit, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "racktrack_collector_ingest_errors_total",
			Help: "Failed attempts, by operation; ClickHouse and DLQ failures are retried, commit failures are retried by the next batch.",
		}, []string{"op"}),
		retrying: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "racktrack_collector_ingest_paused",
			Help: "1 while ingest is paused retrying a failed write, else 0.",
		}),
		dlq: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "racktrack_collector_ingest_dead_letters_total",
			Help: "Messages written to the dead-letter topic.",
		}),
		lastCommit: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "racktrack_collector_ingest_last_commit_timestamp_seconds",
			Help: "Unix time of the last successful offset commit.",
		}),
	}
	m.events = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "racktrack_collector_ingest_events_total",
		Help: "Events published for inventory changes.",
	})
	m.sweeps = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "racktrack_collector_ingest_sweeps_total",
		Help: "Completed sweeps for devices not observed within the staleness limit.",
	})
	for _, c := range []prometheus.Collector{m.messages, m.batches, m.batchSize, m.writeSeconds, m.errors, m.retrying, m.dlq, m.lastCommit, m.events, m.sweeps} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, r := range []string{"stored", "duplicate", "invalid"} {
		m.messages.WithLabelValues(r)
	}
	return m, nil
}
