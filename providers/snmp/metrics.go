package snmp

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the provider's Prometheus metrics. One Metrics serves any
// number of providers (targets are in logs, not in labels, to keep
// cardinality flat on agents with thousands of switches).
type Metrics struct {
	polls         *prometheus.CounterVec
	pollDuration  prometheus.Histogram
	roundTrips    prometheus.Counter
	bytes         *prometheus.CounterVec
	errors        *prometheus.CounterVec
	counterWraps  prometheus.Counter
	counterResets prometheus.Counter
	sets          *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them on reg (nil: not
// registered, still usable).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "racktrack_snmp_polls_total",
			Help: "SNMP polls by result: complete, partial or failed.",
		}, []string{"result"}),
		pollDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "racktrack_snmp_poll_duration_seconds",
			Help:    "Wall time of one SNMP poll of one switch.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}),
		roundTrips: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "racktrack_snmp_round_trips_total",
			Help: "SNMP request datagrams sent (retries included).",
		}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "racktrack_snmp_wire_bytes_total",
			Help: "SNMP bytes on the wire (UDP payload) by direction: sent or received.",
		}, []string{"direction"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "racktrack_snmp_errors_total",
			Help: "SNMP poll and operation errors by kind (timeout, auth, protocol, decode, ...).",
		}, []string{"kind"}),
		counterWraps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "racktrack_snmp_counter_wraps_total",
			Help: "32-bit interface counters seen wrapping between polls (extended to 64 bits).",
		}),
		counterResets: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "racktrack_snmp_counter_resets_total",
			Help: "Interface counter discontinuities (agent restart, ifCounterDiscontinuityTime change, or a 64-bit counter going back).",
		}),
		sets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "racktrack_snmp_set_operations_total",
			Help: "SNMP change operations by result: applied, refused or failed.",
		}, []string{"result"}),
	}
	if reg != nil {
		reg.MustRegister(m.polls, m.pollDuration, m.roundTrips, m.bytes, m.errors, m.counterWraps, m.counterResets, m.sets)
	}
	return m
}
