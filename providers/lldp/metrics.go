package lldp

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons a received frame is dropped: the `reason` label of
// racktrack_lldp_frames_dropped_total.
const (
	ReasonTruncated      = "truncated"       // ErrTruncated
	ReasonWrongEtherType = "wrong_ethertype" // ErrNotLLDP
	ReasonInvalidFrame   = "invalid_frame"   // ErrInvalidFrame
	ReasonInvalidTLV     = "invalid_tlv"     // ErrInvalidTLV
	ReasonOversizedTLV   = "oversized_tlv"   // ErrOversizedTLV
	ReasonOversizedFrame = "oversized_frame" // longer than the read buffer
	ReasonRateLimited    = "rate_limited"    // over Config.RateLimit
	ReasonTableFull      = "table_full"      // a new neighbour beyond Config.MaxNeighbors
	ReasonSocketOverflow = "socket_overflow" // dropped by the kernel: the socket buffer was full
)

// Reasons a neighbour leaves the table: the `reason` label of
// racktrack_lldp_neighbor_removals_total.
const (
	RemovedTTL       = "ttl"            // not refreshed within its TTL
	RemovedShutdown  = "shutdown"       // the neighbour sent a shutdown LLDPDU (TTL 0)
	RemovedLinkDown  = "link_down"      // the interface lost its carrier or went down
	RemovedInterface = "interface_gone" // the interface disappeared or was replaced
	RemovedStopped   = "stopped"        // the provider stopped
)

// dropReason maps a Decode error to its drop reason.
func dropReason(err error) string {
	switch {
	case errors.Is(err, ErrTruncated):
		return ReasonTruncated
	case errors.Is(err, ErrNotLLDP):
		return ReasonWrongEtherType
	case errors.Is(err, ErrOversizedTLV):
		return ReasonOversizedTLV
	case errors.Is(err, ErrInvalidTLV):
		return ReasonInvalidTLV
	}
	return ReasonInvalidFrame
}

type metrics struct {
	received    *prometheus.CounterVec
	dropped     *prometheus.CounterVec
	tlvsSkipped *prometheus.CounterVec
	neighbors   *prometheus.GaugeVec
	removals    *prometheus.CounterVec
	transmitted *prometheus.CounterVec
	txErrors    *prometheus.CounterVec
	listening   prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &metrics{
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "racktrack_lldp_frames_received_total",
			Help: "LLDP frames read from the interface's socket, before any check.",
		}, []string{"interface"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "racktrack_lldp_frames_dropped_total",
			Help: "LLDP frames not applied to the neighbour table, by reason.",
		}, []string{"interface", "reason"}),
		tlvsSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "racktrack_lldp_tlvs_skipped_total",
			Help: "Optional TLVs of accepted frames that were not used: unrecognized or discarded as malformed.",
		}, []string{"interface", "reason"}),
		neighbors: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "racktrack_lldp_neighbors",
			Help: "Neighbours currently in the table.",
		}, []string{"interface"}),
		removals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "racktrack_lldp_neighbor_removals_total",
			Help: "Neighbours removed from the table, by reason.",
		}, []string{"interface", "reason"}),
		transmitted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "racktrack_lldp_frames_transmitted_total",
			Help: "LLDPDUs sent about this host, shutdown LLDPDUs included.",
		}, []string{"interface"}),
		txErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "racktrack_lldp_transmit_errors_total",
			Help: "LLDPDUs that could not be sent.",
		}, []string{"interface"}),
		listening: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "racktrack_lldp_listening_interfaces",
			Help: "Interfaces with an open LLDP socket.",
		}),
	}
	for _, c := range []prometheus.Collector{m.received, m.dropped, m.tlvsSkipped, m.neighbors, m.removals, m.transmitted, m.txErrors, m.listening} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
