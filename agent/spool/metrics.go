package spool

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the spool's Prometheus series, registered on the registerer
// given in Options and unregistered by Close.
type metrics struct {
	reg        prometheus.Registerer
	registered []prometheus.Collector

	bytes         prometheus.Gauge
	records       prometheus.Gauge
	diskBytes     prometheus.Gauge
	segments      prometheus.Gauge
	evictions     *prometheus.CounterVec
	corrupt       prometheus.Counter
	appendSeconds prometheus.Histogram
}

func newMetrics() *metrics {
	m := &metrics{
		bytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "racktrack_agent_spool_bytes",
			Help: "Framed bytes of records in the spool that are neither acknowledged nor evicted.",
		}),
		records: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "racktrack_agent_spool_records",
			Help: "Records in the spool that are neither acknowledged nor evicted.",
		}),
		diskBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "racktrack_agent_spool_disk_bytes",
			Help: "Bytes of the spool's segment files, including records already acknowledged or evicted.",
		}),
		segments: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "racktrack_agent_spool_segments",
			Help: "Segment files in the spool directory.",
		}),
		evictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "racktrack_agent_spool_evictions_total",
			Help: "Records evicted unpublished because the spool was full, by class.",
		}, []string{"class"}),
		corrupt: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "racktrack_agent_spool_corrupt_records_total",
			Help: "Damaged spool regions (usually one record each) detected by CRC and skipped.",
		}),
		appendSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "racktrack_agent_spool_append_seconds",
			Help:    "Time to append one record, including eviction and, with sync_interval 0, fsync.",
			Buckets: prometheus.ExponentialBuckets(1e-6, 4, 12),
		}),
	}
	for _, c := range evictionOrder {
		m.evictions.WithLabelValues(c.String())
	}
	return m
}

// register adds every series to reg; on failure nothing stays registered.
func (m *metrics) register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	m.reg = reg
	for _, c := range []prometheus.Collector{m.bytes, m.records, m.diskBytes, m.segments, m.evictions, m.corrupt, m.appendSeconds} {
		if err := reg.Register(c); err != nil {
			m.unregister()
			return fmt.Errorf("register metrics: %w", err)
		}
		m.registered = append(m.registered, c)
	}
	return nil
}

func (m *metrics) unregister() {
	for _, c := range m.registered {
		m.reg.Unregister(c)
	}
	m.registered = nil
}
